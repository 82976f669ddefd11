"""Config: the seed's INI files, TOML, dist and node-set overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clara_core.config import Config, read_file
from clara_core.errors import ConfigError, UsageError

SEED_INI = """\
[common]
; the seed's comments
master_passwd_file=/srv/clara/data/master_pwd
allowed_distributions=calibre8,calibre9
default_distribution=calibre8
origin=HPC

[repo]
clustername=cluster
version=8.0.0
repo_dir=/srv/clara/calibre8/local-mirror

[repo-calibre9]
version=9.0.0

[ipmi]
parallel=12
prefix=imm
init_status=service {0} status %s

[ipmi:gpu[1-4]]
cipher_suite=3
"""


def test_seed_ini_read_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(SEED_INI)
    config = Config([read_file(path)])
    assert config.get("repo", "version") == "8.0.0"
    assert config.get("repo", "version", dist="calibre9") == "9.0.0"
    assert config.get("repo", "repo_dir", dist="calibre9") == "/srv/clara/calibre8/local-mirror"
    assert config.get_int("ipmi", "parallel") == 12
    assert config.get("ipmi", "init_status") == "service {0} status %s"  # no interpolation
    assert config.allowed_distributions() == ["calibre8", "calibre9"]


def test_unknown_dist_is_the_seeds_message(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(SEED_INI)
    with pytest.raises(UsageError, match="calibre7 is not a known distribution"):
        Config([read_file(path)]).get("repo", "version", dist="calibre7")


def test_missing_key_names_file_section_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(SEED_INI)
    with pytest.raises(ConfigError) as err:
        Config([read_file(path)]).get("repo", "gpg_key")
    assert str(err.value) == f"{path}: [repo] gpg_key: missing"


def test_malformed_value_names_file_section_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[ipmi]\nparallel = lots\n")
    with pytest.raises(ConfigError) as err:
        Config([read_file(path)]).get_int("ipmi", "parallel")
    assert str(err.value) == f"{path}: [ipmi] parallel: expected a whole number, got 'lots'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key = value\n", "line 1: a key before any [section]"),
        ("[a]\nx=1\n[a]\n", "section [a] appears twice"),
        ("[a]\nx=1\nx=2\n", "[a] x: key appears twice"),
        ("[a]\nthis is not a key\n", "line 2: not a 'key = value' line"),
    ],
)
def test_malformed_ini_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_file(path)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_toml_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "clara.toml"
    path.write_text(
        '[common]\nallowed_distributions = ["calibre8", "calibre9"]\n'
        '[repo]\nversion = "8.0.0"\n["repo-calibre9"]\nversion = "9.0.0"\n'
        '[ipmi]\nparallel = 12\ninsecure = true\n["ipmi:gpu[1-4]"]\ncipher_suite = 3\n'
        '[backends]\npower = "ipmi"\n["backends:gpu[1-4]"]\npower = "redfish"\n'
    )
    config = Config([read_file(path)])
    assert config.get("repo", "version", dist="calibre9") == "9.0.0"
    assert config.get_int("ipmi", "parallel") == 12
    assert config.get_bool("ipmi", "insecure") is True
    assert config.node_settings("ipmi").get_int("gpu2", "cipher_suite") == 3
    assert config.node_settings("backends").get("gpu2", "power") == "redfish"
    assert config.node_settings("backends").get("cn1", "power") == "ipmi"


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "clara.toml"
    path.write_text("[common\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        read_file(path)


def test_later_file_wins_key_by_key(tmp_path: Path) -> None:
    first = tmp_path / "a.ini"
    first.write_text("[ipmi]\nparallel=4\nprefix=imm\n")
    second = tmp_path / "b.toml"
    second.write_text("[ipmi]\nparallel = 32\n")
    config = Config([read_file(first), read_file(second)])
    assert config.get_int("ipmi", "parallel") == 32
    assert config.get("ipmi", "prefix") == "imm"


def test_clara_config_env_and_extra_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.ini"
    base.write_text("[ipmi]\nparallel=4\n")
    extra = tmp_path / "extra.ini"
    extra.write_text("[ipmi]\nparallel=8\n")
    monkeypatch.setenv("CLARA_CONFIG", str(base))
    assert Config.load().get_int("ipmi", "parallel") == 4
    assert Config.load(extra).get_int("ipmi", "parallel") == 8
    with pytest.raises(ConfigError, match="no such config file"):
        Config.load(tmp_path / "absent.ini")


def test_node_settings_last_matching_override_wins(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[ipmi]\nprivilege=4\n[ipmi:cn[1-10]]\nprivilege=3\n[ipmi:cn5]\nprivilege=2\n")
    settings = Config([read_file(path)]).node_settings("ipmi")
    assert [settings.get(n, "privilege") for n in ("cn1", "cn5", "cn11")] == ["3", "2", "4"]


def test_bad_nodeset_in_section_name(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[ipmi:cn[5-1]]\nprivilege=2\n")
    with pytest.raises(ConfigError, match=r"\[ipmi:cn\[5-1\]\]: invalid node set"):
        Config([read_file(path)]).node_settings("ipmi")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_garbage_ini_is_a_clean_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "garbage.ini"
    path.write_text(text, encoding="utf-8")
    try:
        config = Config([read_file(path)])
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    for section in config.sections():
        for key in config.items(section):
            for getter in (config.get, config.get_int, config.get_bool, config.get_list, config.get_float):
                try:
                    getter(section, key)  # type: ignore[operator]
                except ConfigError as exc:
                    assert "\n" not in str(exc)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_garbage_toml_is_a_clean_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(data)
    try:
        read_file(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
