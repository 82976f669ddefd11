"""Config: the seed's INI files, TOML, dist and node-set overrides, one-line errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clara_core.config import BOOLEAN_WORDS, Config, parse_bool, read_file
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
init_status=service {0} status %%s

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
    assert config.get("ipmi", "init_status") == "service {0} status %s"  # %% is %, as ConfigParser
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
            for getter in (
                config.get,
                config.get_int,
                config.get_bool,
                config.get_list,
                config.get_float,
                config.get_duration,
            ):
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


# -- typed getters: durations, numbers, booleans, lists ------------------------------------------

TYPED_INI = """\
[fanout]
timeout = 30
short = 1.5
secs = 30s
millis = 500ms
minutes = 2m
hour = 1h
spaced = 2 s
upper = 250MS
zero = 0
zero_s = 0s
negative = -1
nan = nan
inf = inf
big = 1e400
word = soon
unit = 3d
float_nan = NaN
float_inf = -inf
count = 7
flag = Yes
empty =
items = a, b,,c ,

[fanout:cn[1-4]]
timeout = 250ms
count = 9
flag = off
items = x
"""


@pytest.fixture
def typed(tmp_path: Path) -> tuple[Config, Path]:
    path = tmp_path / "config.ini"
    path.write_text(TYPED_INI)
    return Config([read_file(path)]), path


@pytest.mark.parametrize(
    ("key", "seconds"),
    [
        ("timeout", 30.0),
        ("short", 1.5),
        ("secs", 30.0),
        ("millis", 0.5),
        ("minutes", 120.0),
        ("hour", 3600.0),
        ("spaced", 2.0),
        ("upper", 0.25),
    ],
)
def test_get_duration_units(typed: tuple[Config, Path], key: str, seconds: float) -> None:
    config, _path = typed
    assert config.get_duration("fanout", key) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("zero", "must be more than 0 seconds, got '0'"),
        ("zero_s", "must be more than 0 seconds, got '0s'"),
        ("negative", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got '-1'"),
        ("nan", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got 'nan'"),
        ("inf", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got 'inf'"),
        ("big", "must be a finite duration, got '1e400'"),
        ("word", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got 'soon'"),
        ("unit", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got '3d'"),
        ("empty", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got ''"),
    ],
)
def test_get_duration_refusals_are_one_line(typed: tuple[Config, Path], key: str, problem: str) -> None:
    config, path = typed
    with pytest.raises(ConfigError) as err:
        config.get_duration("fanout", key)
    assert str(err.value) == f"{path}: [fanout] {key}: {problem}"


def test_get_duration_minimum_and_maximum(typed: tuple[Config, Path]) -> None:
    config, path = typed
    assert config.get_duration("fanout", "zero", minimum=0) == 0.0
    assert config.get_duration("fanout", "absent", default=5.0) == 5.0
    assert config.get_duration("fanout", "millis", maximum=1) == 0.5
    with pytest.raises(ConfigError) as err:
        config.get_duration("fanout", "minutes", maximum=60)
    assert str(err.value) == f"{path}: [fanout] minutes: must be at most 60 seconds, got '2m'"
    with pytest.raises(ConfigError) as err:
        config.get_duration("fanout", "millis", minimum=1)
    assert str(err.value) == f"{path}: [fanout] millis: must be at least 1 seconds, got '500ms'"
    with pytest.raises(ConfigError, match=r"\[fanout\] absent: missing"):
        config.get_duration("fanout", "absent")


def test_get_duration_toml_numbers(tmp_path: Path) -> None:
    path = tmp_path / "clara.toml"
    path.write_text('[fanout]\na = 30\nb = 0.25\nc = "500ms"\nd = true\ne = nan\nf = inf\n')
    config = Config([read_file(path)])
    assert [config.get_duration("fanout", k) for k in "abc"] == [30.0, 0.25, 0.5]
    for key in "def":
        with pytest.raises(ConfigError, match=rf"^{path}: \[fanout\] {key}: "):
            config.get_duration("fanout", key)


@pytest.mark.parametrize("key", ["nan", "inf", "big", "float_nan", "float_inf"])
def test_get_float_refuses_nan_and_infinities(typed: tuple[Config, Path], key: str) -> None:
    config, path = typed
    for minimum in (0.0, None):
        with pytest.raises(ConfigError) as err:
            config.get_float("fanout", key, minimum=minimum)
        assert str(err.value).startswith(f"{path}: [fanout] {key}: must be a finite number")
        assert "\n" not in str(err.value)


def test_get_float_minimum_and_maximum(typed: tuple[Config, Path]) -> None:
    config, path = typed
    assert config.get_float("fanout", "short") == 1.5
    assert config.get_float("fanout", "negative", minimum=None) == -1.0
    assert config.get_float("fanout", "negative", minimum=-5) == -1.0
    with pytest.raises(ConfigError) as err:
        config.get_float("fanout", "negative")  # at least 0 unless told
    assert str(err.value) == f"{path}: [fanout] negative: must be a finite number of at least 0.0, got '-1'"
    with pytest.raises(ConfigError) as err:
        config.get_float("fanout", "timeout", maximum=10)
    assert str(err.value) == f"{path}: [fanout] timeout: must be a finite number of at most 10, got '30'"
    with pytest.raises(ConfigError, match="expected a number, got '30s'"):
        config.get_float("fanout", "secs")


def test_get_int_minimum_and_maximum(typed: tuple[Config, Path]) -> None:
    config, path = typed
    assert config.get_int("fanout", "count", minimum=7, maximum=7) == 7
    with pytest.raises(ConfigError) as err:
        config.get_int("fanout", "count", maximum=5)
    assert str(err.value) == f"{path}: [fanout] count: must be at most 5, got 7"
    with pytest.raises(ConfigError) as err:
        config.get_int("fanout", "count", minimum=8)
    assert str(err.value) == f"{path}: [fanout] count: must be at least 8, got 7"
    with pytest.raises(ConfigError, match=r"expected a whole number, got '1\.5'"):
        config.get_int("fanout", "short")


def test_get_list(typed: tuple[Config, Path]) -> None:
    config, _path = typed
    assert config.get_list("fanout", "items") == ["a", "b", "c"]
    assert config.get_list("fanout", "absent", default=["z"]) == ["z"]


@pytest.mark.parametrize("word", sorted(BOOLEAN_WORDS))
def test_boolean_vocabulary(word: str) -> None:
    for text in (word, word.upper(), f"  {word.title()} "):
        config = Config.from_dict({"s": {"k": text}})
        assert config.get_bool("s", "k") is BOOLEAN_WORDS[word]
        assert config.node_settings("s").get_bool("n1", "k") is BOOLEAN_WORDS[word]
        assert parse_bool(text, "here") is BOOLEAN_WORDS[word]


def test_boolean_vocabulary_is_the_seeds() -> None:
    # the original's strtobool words
    assert {w for w, v in BOOLEAN_WORDS.items() if v} == {"1", "yes", "y", "true", "t", "on"}
    assert {w for w, v in BOOLEAN_WORDS.items() if not v} == {"0", "no", "n", "false", "f", "off"}


@pytest.mark.parametrize("text", ["", "2", "enabled", "truee", "none", "yy"])
def test_not_a_boolean_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.ini"
    path.write_text(f"[s]\nk = {text}\n")
    with pytest.raises(ConfigError) as err:
        Config([read_file(path)]).get_bool("s", "k")
    assert str(err.value) == f"{path}: [s] k: expected true or false, got {text!r}"


def test_parse_bool_toml_values() -> None:
    assert parse_bool(True, "w") is True and parse_bool(0, "w") is False
    for value in (2, 1.0, ["yes"]):
        with pytest.raises(ConfigError, match=r"^w: expected true or false"):
            parse_bool(value, "w")


def test_node_settings_typed_getters(typed: tuple[Config, Path]) -> None:
    config, path = typed
    settings = config.node_settings("fanout")
    assert settings.get_duration("cn1", "timeout") == 0.25
    assert settings.get_duration("cn9", "timeout") == 30.0
    assert settings.get_int("cn1", "count", maximum=9) == 9
    assert settings.get_int("cn9", "count") == 7
    assert settings.get_bool("cn1", "flag") is False and settings.get_bool("cn9", "flag") is True
    assert settings.get_list("cn1", "items") == ["x"] and settings.get_list("cn9", "items") == ["a", "b", "c"]
    assert settings.get_float("cn9", "short", maximum=2) == 1.5
    assert settings.get_bool("cn1", "absent", default=True) is True
    assert settings.get_list("cn1", "absent", default=[]) == []
    with pytest.raises(ConfigError) as err:
        settings.get_int("cn2", "count", maximum=8)
    assert str(err.value) == f"{path}: [fanout:cn[1-4]] count: must be at most 8, got 9"
    with pytest.raises(ConfigError) as err:
        settings.get_duration("cn2", "nan")
    assert str(err.value).startswith(f"{path}: [fanout] nan: expected a duration")
    with pytest.raises(ConfigError) as err:
        settings.get_float("cn2", "float_inf", minimum=None)
    assert str(err.value) == f"{path}: [fanout] float_inf: must be a finite number, got '-inf'"
    with pytest.raises(ConfigError, match=r"\[fanout\] absent: missing \(node cn1\)"):
        settings.get_bool("cn1", "absent")
    assert settings.where("cn3", "count") == f"{path}: [fanout:cn[1-4]] count"
    assert settings.lookup("cn3", "count") == ("9", f"{path}: [fanout:cn[1-4]] count")
    assert settings.lookup("cn3", "absent") is None


def test_node_settings_error_names_the_file_that_holds_the_key(tmp_path: Path) -> None:
    first = tmp_path / "a.ini"
    first.write_text("[ipmi:cn1]\nbmc_port = x\n")
    second = tmp_path / "b.ini"
    second.write_text("[ipmi:cn1]\nprefix = imm\n")
    settings = Config([read_file(first), read_file(second)]).node_settings("ipmi")
    with pytest.raises(ConfigError) as err:
        settings.get_int("cn1", "bmc_port")
    assert str(err.value) == f"{first}: [ipmi:cn1] bmc_port: expected a whole number, got 'x'"


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}


@given(
    number=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(sorted(_UNITS)),
)
def test_duration_round_trip(number: float, unit: str) -> None:
    config = Config.from_dict({"s": {"k": f"{number!r}{unit}"}})
    assert config.get_duration("s", "k") == pytest.approx(number * _UNITS[unit])


@given(st.text(max_size=20))
def test_any_duration_text_is_a_positive_finite_number_or_one_line(text: str) -> None:
    config = Config.from_dict({"s": {"k": text}})
    try:
        seconds = config.get_duration("s", "k")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("<memory>: [s] k: ")
    else:
        assert math.isfinite(seconds) and seconds > 0


@given(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(["nan", "-nan", "inf", "+inf", "Infinity"]))
def test_float_getters_never_return_nan_or_infinity(value: float | str) -> None:
    config = Config.from_dict({"s": {"k": value if isinstance(value, str) else repr(value)}})
    for getter in (config.get_float, config.get_duration):
        for minimum in (None, 0.0):
            try:
                number = getter("s", "k", minimum=minimum)
            except ConfigError as exc:
                assert "\n" not in str(exc)
            else:
                assert math.isfinite(number)


@given(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-100, max_value=100),
    st.integers(min_value=-100, max_value=100),
)
def test_get_int_bounds(number: int, low: int, high: int) -> None:
    config = Config.from_dict({"s": {"k": str(number)}})
    if low <= number <= high:
        assert config.get_int("s", "k", minimum=low, maximum=high) == number
    else:
        with pytest.raises(ConfigError, match="must be at"):
            config.get_int("s", "k", minimum=low, maximum=high)


# -- INI interpolation: the original read config.ini with ConfigParser's BasicInterpolation --

INTERPOLATED_INI = """\
[DEFAULT]
root=/srv/clara
[common]
allowed_distributions=calibre8,calibre9
[repo]
base=%(root)s/calibre8
repo_dir=%(base)s/local-mirror
mirror_local=%(repo_dir)s/mirror
gpg_key=100%%
[repo-calibre9]
base=%(root)s/calibre9
repo_dir=%(base)s/local-mirror
[ipmi]
prefix=%(root)s
[ipmi:gpu[1-4]]
prefix=%(root)s/gpu
"""


def test_ini_interpolation_as_configparser(tmp_path: Path) -> None:
    import configparser

    path = tmp_path / "config.ini"
    path.write_text(INTERPOLATED_INI)
    config = Config([read_file(path)])
    reference = configparser.ConfigParser()
    reference.read(path)
    for section in ("repo", "repo-calibre9", "ipmi"):
        assert config.items(section) == dict(reference.items(section))
    assert config.get("repo", "repo_dir") == "/srv/clara/calibre8/local-mirror"
    assert config.get("repo", "mirror_local") == "/srv/clara/calibre8/local-mirror/mirror"
    assert config.get("repo", "gpg_key") == "100%"
    # [repo-calibre9] wins, expanded in its own section
    assert config.get("repo", "repo_dir", dist="calibre9") == "/srv/clara/calibre9/local-mirror"
    assert config.get("repo", "mirror_local", dist="calibre9") == "/srv/clara/calibre8/local-mirror/mirror"
    # [DEFAULT] is seen in every section, but is not a section itself
    assert config.get("common", "root") == "/srv/clara"
    assert "DEFAULT" not in config.sections()
    ipmi = config.node_settings("ipmi")
    assert ipmi.get("gpu2", "prefix") == "/srv/clara/gpu"
    assert ipmi.get("cn1", "prefix") == "/srv/clara"
    assert ipmi.where("cn1", "root") == f"{path}: [ipmi] root"


def test_ini_interpolation_across_files_and_default_elsewhere(tmp_path: Path) -> None:
    base = tmp_path / "base.ini"
    base.write_text("[DEFAULT]\nsite=/srv/site\n[repo]\nrepo_dir=%(site)s/repo\n")
    local = tmp_path / "local.ini"
    local.write_text("[DEFAULT]\nsite=/data/site\n[images]\nwork_dir=%(site)s/images\n")
    config = Config([read_file(base), read_file(local)])
    # as ConfigParser reading both files: the later [DEFAULT] wins everywhere
    assert config.get("repo", "repo_dir") == "/data/site/repo"
    assert config.get("images", "work_dir") == "/data/site/images"


def test_toml_values_are_not_interpolated(tmp_path: Path) -> None:
    path = tmp_path / "clara.toml"
    path.write_text('[ipmi]\nprefix = "%(root)s 100%"\n')
    assert Config([read_file(path)]).get("ipmi", "prefix") == "%(root)s 100%"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("%(nowhere)s/x", "%(nowhere)s: no key 'nowhere' in [repo] or [DEFAULT]"),
        ("service {0} status %s", "a lone '%'"),
        ("100%", "a lone '%'"),
        ("%(unclosed", "a lone '%'"),
        ("%(loop)s", "nest more than 10 deep"),
    ],
)
def test_bad_interpolation_is_one_line_naming_file_section_key(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "config.ini"
    path.write_text(f"[repo]\nloop=%(loop)s\nversion={value}\nother=fine\n")
    config = Config([read_file(path)])
    assert config.get("repo", "other") == "fine"  # lazy, as ConfigParser: only the bad key fails
    with pytest.raises(ConfigError) as err:
        config.get("repo", "version")
    message = str(err.value)
    assert message.startswith(f"{path}: [repo] version: ")
    assert problem in message
    assert "\n" not in message


def test_bad_interpolation_through_the_cli_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_clara: Any
) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[DEFAULT]\nroot=/srv\n[repo]\nrepo_dir=%(root)s/repo\nversion=%(missing)s\n")
    monkeypatch.setenv("CLARA_CONFIG", str(path))
    shown = run_clara("show", "repo")
    assert shown.returncode != 0
    assert "Traceback" not in shown.stderr
    assert f"{path}: [repo] version: %(missing)s: no key 'missing'" in shown.stderr
    path.write_text("[DEFAULT]\nroot=/srv\n[repo]\nrepo_dir=%(root)s/repo\nratio=50%%\n")
    shown = run_clara("show", "repo")
    assert shown.returncode == 0, shown.stderr
    assert "repo_dir : /srv/repo" in shown.stdout
    assert "ratio : 50%" in shown.stdout
    assert "root : /srv" in shown.stdout


def test_overrides_keep_file_order_whatever_their_size() -> None:
    """Small override sections are indexed by node, large ones scanned: the last section in
    file order still wins, key by key."""
    from clara_core.config import Config

    config = Config.from_dict({
        "ipmi": {"user": "base", "port": "623"},
        "ipmi:n[1-2]": {"user": "small-first"},
        "ipmi:n[1-10000]": {"user": "wide", "port": "624"},
        "ipmi:n1": {"user": "single-last"},
    })
    settings = config.node_settings("ipmi")
    assert settings.values("n1") == {"user": "single-last", "port": "624"}
    assert settings.values("n2") == {"user": "wide", "port": "624"}
    assert settings.values("n20000") == {"user": "base", "port": "623"}
    assert settings.source("n1", "port") == "ipmi:n[1-10000]"
    assert settings.lookup("n2", "user") is not None and settings.lookup("n2", "user")[0] == "wide"
