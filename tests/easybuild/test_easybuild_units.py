"""Names, settings and Lmod's hide syntax, without eb."""

from __future__ import annotations

from pathlib import Path

import pytest
from clara_easybuild.names import Software
from clara_easybuild.settings import default_suffix, load
from clara_easybuild.visibility import add_lines, hide_lines

from clara_core.config import Config
from clara_core.errors import ClaraError, UsageError


@pytest.mark.parametrize(
    ("text", "module", "easyconfig"),
    [
        ("hello/1.0", "hello/1.0", "hello-1.0.eb"),
        ("hello-1.0.eb", "hello/1.0", "hello-1.0.eb"),
        ("OpenMPI-4.1.5-GCC-12.2.0", "OpenMPI/4.1.5-GCC-12.2.0", "OpenMPI-4.1.5-GCC-12.2.0.eb"),
        ("hello/.1.0", "hello/.1.0", "hello-1.0.eb"),
    ],
)
def test_names(text: str, module: str, easyconfig: str) -> None:
    software = Software.parse(text)
    assert software.module == module and software.easyconfig == easyconfig
    assert software.matches(module)


@pytest.mark.parametrize("text", ["../x/1", "a b/1", "x/..", "/1.0"])
def test_bad_names(text: str) -> None:
    with pytest.raises(UsageError):
        Software.parse(text)


def test_name_without_version() -> None:
    software = Software.parse("hello")
    assert software.matches("hello/2.0") and not software.matches("hello-world/1")
    with pytest.raises(UsageError):
        software.require_version()


def test_command_line_wins_over_config(tmp_path: Path) -> None:
    config = Config.from_dict({"easybuild": {"prefix": "/cfg", "suffix": "site", "backupdir": "/b"}})
    settings = load(config, prefix="/cli")
    assert settings.prefix == Path("/cli") and settings.buildpath == Path("/cli/build")
    assert settings.backupdir == Path("/b") and settings.source == Path("/cli")
    assert settings.tarball("hello-1.0", "gz") == Path("/b/packages/hello-1.0-site.tar.gz")
    assert load(config, no_suffix=True).tarball("hello-1.0", "xz") == Path("/b/packages/hello-1.0.tar.xz")
    with pytest.raises(ClaraError):
        load(config, prefix="relative")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\nsearch cluster1.example.org\n")
    assert default_suffix(resolv) == "cluster1"


def test_hide_syntax(tmp_path: Path) -> None:
    assert hide_lines(["hello"], (8, 7, 53)) == ['hide{name="hello"}']
    assert hide_lines(["hello/1.0"], (8, 6, 19)) == ['hide_version("hello/1.0")']
    modulerc = tmp_path / ".modulerc.lua"
    assert add_lines(modulerc, ['hide_version("a/1")']) == ['hide_version("a/1")']
    assert add_lines(modulerc, ['hide_version("a/1")', 'hide_version("a/2")']) == ['hide_version("a/2")']
    assert modulerc.read_text() == 'hide_version("a/1")\nhide_version("a/2")\n'
