"""Fixtures of the Redfish tests: the sushy-tools emulator over HTTPS, recorded vendor BMCs, a clara runner.

* ``rf_tls``: a CA and a server certificate for 127.0.0.1 made for this run;
* ``sushy``: one sushy-emulator process (fake driver, 8 systems node000..node007)
  over HTTPS with that certificate, for the whole session;
* ``recorded``: starts a recorded vendor BMC (``tests/redfish/data/<vendor>-<firmware>``)
  over HTTPS, fresh for each test;
* ``rf``: writes the config and the secrets file, runs ``clara`` with only the
  redfish plugin, and reads state back with plain HTTP requests.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clara_lab.redfish_recorded import RecordedBmc, start_recorded
from clara_lab.sushy import SushyFleet, Tls, make_tls, start_sushy
from redfish_helpers import DATA, PASSWORD, USER, Rf


@pytest.fixture(scope="session")
def rf_tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1 and localhost."""
    return make_tls(tmp_path_factory.mktemp("rf-tls"), ["127.0.0.1", "localhost"])


@pytest.fixture(scope="session")
def sushy(tmp_path_factory: pytest.TempPathFactory, rf_tls: Tls) -> Iterator[SushyFleet]:
    """The sushy-tools emulator: 8 systems node000..node007 on 127.0.0.1 over HTTPS."""
    fleet = start_sushy(tmp_path_factory.mktemp("sushy"), processes=1, systems=8, tls=rf_tls)
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def recorded(rf_tls: Tls) -> Iterator[Callable[[str], RecordedBmc]]:
    """``recorded("dell-idrac9-6.10.30.00")``: a fresh recorded BMC over HTTPS, stopped after the test."""
    started: list[RecordedBmc] = []

    def start(name: str) -> RecordedBmc:
        bmc = start_recorded(DATA / name, tls=(rf_tls.cert, rf_tls.key), user=USER, password=PASSWORD)
        started.append(bmc)
        return bmc

    yield start
    for bmc in started:
        bmc.stop()


@pytest.fixture
def rf(
    tmp_path: Path,
    rf_tls: Tls,
    run_clara: Callable[..., subprocess.CompletedProcess[str]],
    clara_config: Callable[..., Path],
    passwd_file: Callable[..., Path],
) -> Rf:
    """A runner of clara against the Redfish peers (see :class:`Rf`)."""
    return Rf(tmp_path, rf_tls, run_clara, clara_config, passwd_file)
