"""``virt.ini``: the original tool's file, read unchanged.

Sections (the original's names and keys):

* ``[nodegroup:<name>]``: ``nodes`` (a node set of hypervisor hosts),
  ``default`` (the group ``clara virt`` works on; the only group is the
  default). New, optional: ``uri`` (libvirt URI pattern, ``{host}`` replaced;
  default ``qemu+ssh://{host}/system``, the original's).
* ``[host:<name>]`` (new, optional): ``uri`` for that one host.
* ``[pool:<name>]``: ``default``, ``vol_pattern`` (``{vm_name}_{vol_role}.qcow2``).
* ``[network:<name>]``: ``type`` (e.g. ``hostdev``), given to templates; a network without
  one takes the type of the ``default = true`` network, else ``bridge``.
* ``[template:<name>]``: ``xml``, ``vol_roles``, ``vol_role_<role>_capacity``,
  ``networks``, ``vm_names``, ``memory_kib``, ``core_count``,
  ``serial_tcp_host``, ``serial_tcp_port``, ``default``.
* ``[vm:<name>]``: per-VM ``memory_kib``, ``core_count``, ``networks``,
  ``net_<network>_mac``, ``serial_tcp_*``.

Templates live in ``<dir of virt.ini>/templates/vm/<xml>`` and
``templates/volume/default.xml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import ConfigError, NodeSetError, UsageError, parse_bool, parse_nodeset
from clara_core.config import Config, read_file

if TYPE_CHECKING:
    from clara_core.context import Context

DEFAULT_VIRT_CONFIG = "/etc/clara/virt.ini"
DEFAULT_URI = "qemu+ssh://{host}/system"
DEFAULT_VOL_PATTERN = "{vm_name}_{vol_role}"
META_KEY = "clara_virt.virt_config"


@dataclass(frozen=True)
class Template:
    """A ``[template:<name>]`` section, with the original's defaults."""

    name: str
    xml: str = "default.xml"
    vol_roles: dict[str, int] = field(default_factory=lambda: {"system": 60_000_000_000})
    networks: tuple[str, ...] = ("administration",)
    vm_names: NodeSet | None = None
    memory_kib: int = 2_097_152
    core_count: int = 4
    serial_tcp_host: str = "127.0.0.1"
    serial_tcp_port: str = "0"
    default: bool = False


@dataclass(frozen=True)
class Pool:
    """A ``[pool:<name>]`` section: where VM volumes live, and how they are named."""

    name: str
    vol_pattern: str = DEFAULT_VOL_PATTERN

    def volume_name(self, vm_name: str, vol_role: str) -> str:
        """The volume of ``vm_name`` for ``vol_role``."""
        return self.vol_pattern.format(vm_name=vm_name, vol_role=vol_role)

    def parse_volume(self, volume: str) -> tuple[str, str] | None:
        """``(vm_name, vol_role)`` of a volume that follows the pattern, else None."""
        parts = re.split(r"(\{vm_name\}|\{vol_role\})", self.vol_pattern)
        regex = "".join(
            {"{vm_name}": r"(?P<vm_name>[A-Za-z0-9_.-]+?)", "{vol_role}": r"(?P<vol_role>[A-Za-z0-9]+)"}.get(
                part, re.escape(part)
            )
            for part in parts
        )
        match = re.fullmatch(regex, volume)
        if match is None or "vm_name" not in match.groupdict() or "vol_role" not in match.groupdict():
            return None
        return match.group("vm_name"), match.group("vol_role")


class VirtConfig:
    """The parsed ``virt.ini``; every error is a one-line :class:`ConfigError`.

    The file is read by the core's reader (:func:`clara_core.config.read_file`: the same
    INI rules as Clara's config) and its values through :class:`clara_core.Config`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.template_dir = path.parent / "templates"
        try:
            self.config = Config([read_file(path)])
        except ConfigError:
            if not path.exists():
                raise ConfigError(f"{path}: no such virt config file (see --virt-config)") from None
            raise

    # -- raw access -------------------------------------------------------

    def _names(self, kind: str) -> list[str]:
        prefix = f"{kind}:"
        return [s[len(prefix):] for s in self.config.sections() if s.startswith(prefix)]

    def _get(self, section: str, key: str, default: str | None = None) -> str | None:
        value: str | None = self.config.get(section, key, default=None)
        return default if value is None else value.strip()

    def _int(self, section: str, key: str, default: int) -> int:
        return self.config.get_int(section, key, default=default)

    def _bool(self, section: str, key: str) -> bool:
        raw = self._get(section, key) or "false"  # absent or empty: false, as in the original
        return parse_bool(raw, f"{self.path}: [{section}] {key}")

    def _nodeset(self, section: str, key: str, raw: str) -> NodeSet:
        try:
            return parse_nodeset(raw, allow_empty=True)
        except NodeSetError as exc:
            raise ConfigError(f"{self.path}: [{section}] {key}: invalid node set {raw!r}: {exc}") from None

    # -- node group and hosts ----------------------------------------------

    def nodegroup(self) -> str:
        """The node group ``clara virt`` works on: the first with ``default``, or the only one."""
        groups = self._names("nodegroup")
        if not groups:
            raise ConfigError(f"{self.path}: no [nodegroup:<name>] section: which hosts run the VMs?")
        for group in groups:
            if self._bool(f"nodegroup:{group}", "default"):
                return group
        if len(groups) == 1:
            return groups[0]
        raise ConfigError(f"{self.path}: several [nodegroup:*] sections and none has 'default = true'")

    def hosts(self) -> list[str]:
        """The hypervisor hosts of the node group, in config order, without duplicates."""
        section = f"nodegroup:{self.nodegroup()}"
        raw = self._get(section, "nodes", "") or ""
        hosts: list[str] = []
        for element in raw.split(","):
            if not element.strip():
                continue
            for host in self._nodeset(section, "nodes", element.strip()):
                if host not in hosts:
                    hosts.append(host)
        if not hosts:
            raise ConfigError(f"{self.path}: [{section}] nodes: missing or empty")
        return hosts

    def uri(self, host: str) -> str:
        """The libvirt URI of ``host`` (``[host:<name>] uri``, else the group's pattern)."""
        explicit = self._get(f"host:{host}", "uri")
        if explicit:
            return explicit
        pattern = self._get(f"nodegroup:{self.nodegroup()}", "uri", DEFAULT_URI) or DEFAULT_URI
        return pattern.replace("{host}", host)

    def check_host(self, host: str) -> str:
        """Return ``host`` if it is in the node group, else a usage error listing the hosts."""
        hosts = self.hosts()
        if host not in hosts:
            raise UsageError(f"host {host} is not in nodegroup {self.nodegroup()} (hosts: {','.join(hosts)})")
        return host

    # -- pools and networks -----------------------------------------------

    def pool(self) -> Pool:
        """The default pool (``default = true``, or the only one)."""
        pools = self._names("pool")
        if not pools:
            raise ConfigError(f"{self.path}: no [pool:<name>] section: where do VM volumes live?")
        chosen = next((p for p in pools if self._bool(f"pool:{p}", "default")), None)
        if chosen is None:
            if len(pools) > 1:
                raise ConfigError(f"{self.path}: several [pool:*] sections and none has 'default = true'")
            chosen = pools[0]
        section = f"pool:{chosen}"
        pattern = self._get(section, "vol_pattern", DEFAULT_VOL_PATTERN) or DEFAULT_VOL_PATTERN
        try:
            pattern.format(vm_name="x", vol_role="y")
        except (KeyError, IndexError, ValueError):
            raise ConfigError(
                f"{self.path}: [{section}] vol_pattern: only {{vm_name}} and {{vol_role}} may appear, got {pattern!r}"
            ) from None
        return Pool(chosen, pattern)

    def network_type(self, network: str) -> str:
        """``[network:<name>] type``; without one, the type of the network marked
        ``default = true``, else ``bridge`` (the original's rule)."""
        own = self._get(f"network:{network}", "type")
        if own:
            return own
        for name in self._names("network"):
            if self._bool(f"network:{name}", "default"):
                return self._get(f"network:{name}", "type") or "bridge"
        return "bridge"

    # -- templates ----------------------------------------------------------

    def template_names(self) -> list[str]:
        """Every ``[template:<name>]``, in file order."""
        return self._names("template")

    def default_template_name(self) -> str | None:
        """The first template with ``default = true`` (the original's ``get_template_default``)."""
        return next((t for t in self.template_names() if self._bool(f"template:{t}", "default")), None)

    def template(self, name: str) -> Template:
        """The template ``name``; a usage error naming the known ones when it does not exist.

        A key the template omits comes from the default template (``default = true``), then
        from the built-in default, as in the original: ``xml``, ``vol_roles`` (``vol_role``)
        and their capacities, ``memory_kib``, ``core_count``, ``serial_tcp_host``,
        ``serial_tcp_port``; ``networks`` falls back to the default template's
        ``network_list`` (the original's key there)."""
        if name not in self.template_names():
            known = ", ".join(self.template_names()) or "none"
            raise UsageError(f"unknown template {name!r} in {self.path} (templates: {known})")
        section = f"template:{name}"
        default_name = self.default_template_name()
        base = f"template:{default_name}" if default_name is not None else None

        def inherited(*keys: str) -> tuple[str, str] | None:
            """``(section, key)`` of the first of ``keys`` set in the template, else in the default."""
            for where in (section, base):
                if where is None:
                    continue
                for key in keys:
                    if self._get(where, key) is not None:
                        return where, key
            return None

        def text(key: str, fallback: str, default_key: str | None = None) -> str:
            if self._get(section, key) is not None:
                return self._get(section, key) or fallback
            if base is not None:
                return self._get(base, default_key or key, fallback) or fallback
            return fallback

        def number(key: str, fallback: int) -> int:
            found = inherited(key)
            return fallback if found is None else self._int(*found, fallback)

        roles_at = inherited("vol_roles", "vol_role")
        roles_raw = (self._get(*roles_at) if roles_at else None) or "system"
        roles: dict[str, int] = {}
        for role in (r.strip() for r in roles_raw.split(",")):
            if not role:
                continue
            capacity_at = inherited(f"vol_role_{role}_capacity", f"vol_roles_{role}_capacity")
            roles[role] = 60_000_000_000 if capacity_at is None else self._int(*capacity_at, 60_000_000_000)
        vm_names_raw = self._get(section, "vm_names", "") or ""
        raw_networks = text("networks", "administration", "network_list")
        networks = tuple(n.strip() for n in raw_networks.split(",") if n.strip())
        return Template(
            name=name,
            xml=text("xml", "default.xml"),
            vol_roles=roles,
            networks=networks,
            vm_names=self._nodeset(section, "vm_names", vm_names_raw) if vm_names_raw else None,
            memory_kib=number("memory_kib", 2_097_152),
            core_count=number("core_count", 4),
            serial_tcp_host=text("serial_tcp_host", "127.0.0.1"),
            serial_tcp_port=text("serial_tcp_port", "0"),
            default=self._bool(section, "default"),
        )

    def choose_template(self, vm_name: str, requested: str | None) -> Template:
        """The seed's order: ``--template``, a template whose ``vm_names`` has the VM, the default."""
        if requested:
            return self.template(requested)
        templates = [self.template(name) for name in self.template_names()]
        for template in templates:
            if template.vm_names is not None and vm_name in template.vm_names:
                return template
        for template in templates:
            if template.default:
                return template
        raise UsageError(f"no template for {vm_name}: use --template, or set vm_names or default in {self.path}")

    # -- per-VM values ------------------------------------------------------

    def vm_params(self, vm_name: str, template: Template) -> dict[str, object]:
        """The template's parameters with ``[vm:<name>]`` overrides (the original's keys)."""
        section = f"vm:{vm_name}"
        networks = list(template.networks)
        raw_networks = self._get(section, "networks")
        if raw_networks is not None:
            networks = [n.strip() for n in raw_networks.split(",") if n.strip()]
        return {
            "memory_kib": self._int(section, "memory_kib", template.memory_kib),
            "core_count": self._int(section, "core_count", template.core_count),
            "serial_tcp_host": self._get(section, "serial_tcp_host", template.serial_tcp_host),
            "serial_tcp_port": self._get(section, "serial_tcp_port", template.serial_tcp_port),
            "network_list": networks,
        }

    def vm_mac(self, vm_name: str, network: str) -> str:
        """``[vm:<name>] net_<network>_mac`` (empty when not set)."""
        return self._get(f"vm:{vm_name}", f"net_{network}_mac", "") or ""


def virt_config_path(ctx: Context | None = None) -> Path:
    """The ``--virt-config`` of the running command, else ``[virt] virt_config`` of Clara's config,
    else ``/etc/clara/virt.ini``."""
    import click

    click_ctx = click.get_current_context(silent=True)
    if click_ctx is not None:
        value = click_ctx.find_root().meta.get(META_KEY)
        if value:
            return Path(value)
    if ctx is not None:
        return Path(ctx.config.get("virt", "virt_config", default=DEFAULT_VIRT_CONFIG))
    return Path(DEFAULT_VIRT_CONFIG)


def load_virt_config(ctx: Context | None = None) -> VirtConfig:
    """Read the virt config that the running command names."""
    return VirtConfig(virt_config_path(ctx))
