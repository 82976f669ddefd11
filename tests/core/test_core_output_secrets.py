"""Folded output, JSON records, the passwd-file store and log masking."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from ClusterShell.NodeSet import NodeSet
from hypothesis import given, settings
from hypothesis import strategies as st

from clara_core.config import Config
from clara_core.errors import ClaraError
from clara_core.logs import SecretMasker, register_secret
from clara_core.output import fold, report
from clara_core.replace import write as replace_file
from clara_core.results import NodeResult
from clara_core.secrets import PasswdFileStore, parse_passwd_text


def test_identical_results_fold_by_nodeset() -> None:
    results = [NodeResult.success(f"node{i}", "on") for i in range(1, 41)]
    results.append(NodeResult.success("node42", "on"))
    results.append(NodeResult.failure("node41", "timeout after 30s"))
    out = io.StringIO()
    assert report(results, "text", out) == 1
    assert out.getvalue() == "node[1-40,42]: on\nnode41: error: timeout after 30s\n"


def test_multiline_values_get_a_header() -> None:
    results = [NodeResult.success(n, "1 | a\n2 | b") for n in ("n1", "n2")]
    out = io.StringIO()
    report(results, "text", out)
    assert out.getvalue().splitlines() == ["-" * 15, "n[1-2] (2)", "-" * 15, "1 | a", "2 | b"]


def test_json_one_record_per_node_in_natural_order() -> None:
    results = [NodeResult.success("n10", "on"), NodeResult.failure("n2", "dead"),
               NodeResult.success("n1", "off", mac="aa")]
    out = io.StringIO()
    assert report(results, "json", out) == 1
    records = json.loads(out.getvalue())
    assert [r["node"] for r in records] == ["n1", "n2", "n10"]
    assert records[0] == {"node": "n1", "ok": True, "result": "off", "data": {"mac": "aa"}}
    assert records[1] == {"node": "n2", "ok": False, "error": "dead"}


def test_fold_puts_successes_first() -> None:
    folded = fold([NodeResult.failure("a", "x"), NodeResult.success("b", "on")])
    assert [str(n) for n, _ in folded] == ["b", "a"]


def test_passwd_text_like_the_seed() -> None:
    values = parse_passwd_text("IMMUSER=admin\nIMMPASSWORD=\"s3cr=t\"\n# c\n\nASUPASSWD='x y'\n")
    assert values == {"IMMUSER": "admin", "IMMPASSWORD": "s3cr=t", "ASUPASSWD": "x y"}


def test_passwd_file_store(tmp_path: Path) -> None:
    path = tmp_path / "master_pwd"
    path.write_text("IMMUSER=admin\nIMMPASSWORD=hunter2hunter2\n")
    path.chmod(0o600)
    store = PasswdFileStore(Config.from_dict({"common": {"master_passwd_file": str(path)}}))
    assert store.get("IMMUSER") == "admin"
    with pytest.raises(ClaraError) as err:
        store.get("ASUPASSWD")
    assert str(err.value) == f"ASUPASSWD not found in the file {path}"
    assert "hunter2" not in str(err.value)


def test_passwd_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master_pwd"
    path.write_text("IMMUSER=admin\n")
    path.chmod(0o644)
    store = PasswdFileStore(Config.from_dict({"common": {"master_passwd_file": str(path)}}))
    with pytest.raises(ClaraError, match=r"readable by others \(mode 0644\); run: chmod 600"):
        store.get("IMMUSER")


def test_group_readable_passwd_file_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The original accepted root:admins 0640, a common setup; group-writable stays refused."""
    path = tmp_path / "master_pwd"
    path.write_text("IMMUSER=admin\n")
    path.chmod(0o640)
    store = PasswdFileStore(Config.from_dict({"common": {"master_passwd_file": str(path)}}))
    with caplog.at_level(logging.WARNING):
        assert store.get("IMMUSER") == "admin"
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: readable by its group (mode 0640); chmod 600 keeps it to its owner"
    ]
    path.chmod(0o660)
    with pytest.raises(ClaraError, match=r"writable by its group \(mode 0660\); run: chmod 600"):
        PasswdFileStore(Config.from_dict({"common": {"master_passwd_file": str(path)}})).get("IMMUSER")


def test_secrets_are_masked_in_logs() -> None:
    register_secret("pa55w0rd-very-secret")
    record = logging.makeLogRecord({"msg": "login with %s failed", "args": ("pa55w0rd-very-secret",)})
    SecretMasker().filter(record)
    assert record.getMessage() == "login with **** failed"


def test_a_new_file_is_written_atomically_and_0600(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    target = folder / "secret.enc"
    replace_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in folder.iterdir()] == ["secret.enc"]


def test_a_replaced_file_keeps_owner_group_and_mode(tmp_path: Path) -> None:
    import os

    target = tmp_path / "shared.enc"
    target.write_bytes(b"old")
    os.chown(target, 0, 1)  # group daemon
    target.chmod(0o640)
    replace_file(target, b"new")
    info = target.stat()
    assert target.read_bytes() == b"new"
    assert (info.st_gid, info.st_mode & 0o777) == (1, 0o640)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["on", "off", "error"]), min_size=1, max_size=40),
       st.sampled_from(["node{}", "r1n{}", "10.0.{}.1", "c{}-ib"]))
def test_fold_with_the_whole_set_is_the_same_fold(outcomes: list[str], pattern: str) -> None:
    """Taking the largest group as "the node set minus the others" changes nothing but the cost."""
    nodes = [pattern.format(i) for i in range(len(outcomes))]
    results = [NodeResult.failure(n, "timeout") if o == "error" else NodeResult.success(n, o)
               for n, o in zip(nodes, outcomes, strict=True)]
    plain = [(str(s), r.text, r.ok) for s, r in fold(results)]
    assert [(str(s), r.text, r.ok) for s, r in fold(results, NodeSet.fromlist(nodes))] == plain


def test_fold_does_not_trust_a_whole_set_that_does_not_match() -> None:
    """A result for a node outside the set (or a node without result) falls back to plain folding."""
    results = [NodeResult.success("n1", "on"), NodeResult.success("n9", "on"), NodeResult.success("n3", "off")]
    folded = [(str(s), r.text) for s, r in fold(results, NodeSet("n[1-3]"))]
    assert folded == [("n[1,9]", "on"), ("n3", "off")]
