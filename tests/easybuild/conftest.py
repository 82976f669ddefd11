"""Fixtures for clara-easybuild: the real ``eb`` (PyPI ``easybuild`` in the venv) and Lmod
(Debian ``lmod``), a configure/make toy built offline from local sources (file:// URL
through the original's pre-fetch hook), installed under the test's temp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from easybuild_testlib import LMOD, EbLab, make_source, write_easyconfig

EB = Path(sys.executable).parent / "eb"

if not EB.is_file():
    pytest.skip("eb is not installed in the venv (pip install easybuild)", allow_module_level=True)
if not os.access(LMOD, os.X_OK):
    pytest.skip("Lmod is not installed (Debian package lmod)", allow_module_level=True)
for _program in ("gcc", "make"):
    if shutil.which(_program) is None:
        pytest.skip(f"{_program} is not installed", allow_module_level=True)


@pytest.fixture
def eb_lab(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clara_config: Callable[..., Path],
    run_clara: Callable[..., subprocess.CompletedProcess[str]],
) -> EbLab:
    """Easyconfigs hello 1.0 and 2.0 and broken 1.0, their sources, and [easybuild] pointing there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LMOD_CMD", LMOD)
    if os.geteuid() == 0:
        # eb refuses root unless told; the tests run as root in containers
        monkeypatch.setenv("EASYBUILD_ALLOW_USE_AS_ROOT_AND_ACCEPT_CONSEQUENCES", "1")
    for variable in ("MODULEPATH", "LOADEDMODULES", "EASYBUILD_PREFIX", "EASYBUILD_INSTALLPATH"):
        monkeypatch.delenv(variable, raising=False)
    basedir, sources, prefix = tmp_path / "easyconfigs", tmp_path / "sources", tmp_path / "prefix"
    for version in ("1.0", "2.0"):
        write_easyconfig(basedir, "hello", version)
        make_source(sources, "hello", version)
    write_easyconfig(basedir, "greet", "1.0", depends=(("hello", "1.0"),))
    make_source(sources, "greet", "1.0")
    write_easyconfig(basedir, "broken", "1.0")
    make_source(sources, "broken", "1.0", broken=True)
    clara_config(
        {
            "easybuild": {
                "binary": EB,
                "basedir": basedir,
                "prefix": prefix,
                "url": f"file://{sources}",
                "suffix": "testsite",
            }
        }
    )
    return EbLab(tmp_path, basedir, sources, prefix, EB, run_clara)
