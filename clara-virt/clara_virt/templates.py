"""Rendering VM and volume XML from the site's jinja2 templates.

The variables are the original tool's, so its templates work unchanged:

* VM (``templates/vm/<xml>``): ``name``, ``memory_kib``, ``core_count``,
  ``serial_tcp_host``, ``serial_tcp_port``, ``network_list``, ``networks``
  (``{network: {"mac_address": ..., "type": ...}}``, in order) and
  ``volumes`` (``{role: {"pool_name", "name", "path"}}``);
* volume (``templates/volume/default.xml``): ``vol_name``,
  ``vol_capacity_bytes`` (and ``vm_name``, ``vol_role``).

A template that is missing or does not compile is a one-line error naming
the file (and the line), raised before anything is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_core import ClaraError

if TYPE_CHECKING:
    import jinja2


class TemplateError(ClaraError):
    """A template is missing, does not compile or fails to render."""


def load_template(template_dir: Path, kind: str, filename: str) -> jinja2.Template:
    """Compile ``template_dir/kind/filename``."""
    import jinja2

    path = template_dir / kind / filename
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such {kind} template") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from None
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{path}: line {exc.lineno}: {exc.message}") from None


def render(template: jinja2.Template, params: dict[str, Any], label: str) -> str:
    """Render ``template``; errors become a :class:`TemplateError` naming ``label``."""
    import jinja2

    try:
        return template.render(params)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{label}: cannot render: {exc}") from None
    except Exception as exc:  # a template calling a method on the wrong type, say
        raise TemplateError(f"{label}: cannot render: {type(exc).__name__}: {exc}") from None
