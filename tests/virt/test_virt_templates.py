"""virt.ini templates as the original read them: a ``[template:x]`` that omits a key gets the
default template's value (``default = true``), then the built-in one; values are read with
ConfigParser's interpolation (``%(name)s``, ``%%``)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clara_virt.settings import VirtConfig

from clara_core.errors import ConfigError

Run = Callable[..., subprocess.CompletedProcess[str]]
GiB = 2**30

#: The original's form: a partial template, and %(name)s / %% in values.
PARTIAL = {
    "template:part": {"vm_names": "part[1-3]", "networks": "adm", "core_count": "3"},
    "template:default": {
        "default": "true", "xml": "test.xml", "vol_roles": "system", "gib": str(10 * GiB),
        "vol_role_system_capacity": "%(gib)s", "networks": "adm", "memory_kib": "1048576", "core_count": "2",
    },
}


def test_virt_define_from_partial_template_inherits_the_default(
    virt: Run, write_virt_ini: Callable[..., Path], virt_hosts: Any, lab_state: Any
) -> None:
    ini = write_virt_ini({name: virt_hosts[name].uri for name in ("hv1", "hv2")}, PARTIAL)
    result = virt(ini, "define", "part1", "--host=hv1")
    assert result.returncode == 0, result.stderr
    hv1 = virt_hosts["hv1"]
    xml = str(hv1.keeper.lookupByName("part1").XMLDesc(0))  # read back through libvirt
    assert "<memory unit='KiB'>1048576</memory>" in xml  # the default template's, not 2097152
    assert "<vcpu placement='static'>3</vcpu>" in xml  # the template's own
    assert lab_state.volumes(hv1)["part1_system"] == (10 * GiB, 0)  # default's roles and capacity (%(gib)s)


def _config(tmp_path: Path, text: str) -> VirtConfig:
    path = tmp_path / "virt.ini"
    path.write_text(text, encoding="utf-8")
    return VirtConfig(path)


def test_partial_template_rules_are_the_originals(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
[template:small]
vm_names=small[1-2]
memory_kib=524288

[template:main]
default=true
xml=main.xml
vol_role=system,data
vol_role_data_capacity=5000
network_list=adm,wan
networks=ignored
core_count=6
serial_tcp_host=10.0.0.1
serial_tcp_port=%(port)s
port=4000
""")
    small = config.template("small")
    assert small.memory_kib == 524288
    assert (small.core_count, small.xml, small.serial_tcp_host) == (6, "main.xml", "10.0.0.1")
    assert small.serial_tcp_port == "4000"
    assert small.vol_roles == {"system": 60_000_000_000, "data": 5000}
    assert small.networks == ("adm", "wan")  # the default's network_list, as the original read it
    assert not small.default and config.template("main").default
    assert config.template("main").networks == ("ignored",)


def test_without_default_template_builtin_defaults(tmp_path: Path) -> None:
    config = _config(tmp_path, "[template:a]\ncore_count=2\n\n[template:b]\nmemory_kib=1024\n")
    a = config.template("a")
    assert (a.memory_kib, a.core_count, a.xml, a.networks) == (2_097_152, 2, "default.xml", ("administration",))
    assert a.vol_roles == {"system": 60_000_000_000}


def test_bad_interpolation_in_virt_ini_is_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "[template:a]\ndefault=true\nmemory_kib=%(nope)s\n")
    with pytest.raises(ConfigError) as err:
        config.template("a")
    assert str(err.value).startswith(f"{tmp_path / 'virt.ini'}: [template:a] memory_kib: %(nope)s: no key")


def test_a_network_without_a_type_takes_the_default_networks_else_bridge(tmp_path: Path) -> None:
    """virt.ini in the original's form: ``[network:x] type`` wins; a network without one takes the
    type of the ``default = true`` network; with no default network, ``bridge``."""
    config = _config(tmp_path, "[network:adm]\ntype=hostdev\ndefault=true\n\n[network:wan]\ntype=bridge\n")
    assert [config.network_type(n) for n in ("adm", "wan", "ib")] == ["hostdev", "bridge", "hostdev"]
    plain = _config(tmp_path, "[network:adm]\ntype=hostdev\n")
    assert [plain.network_type(n) for n in ("adm", "ib")] == ["hostdev", "bridge"]
