"""The demo lab: real peers on loopback, and Clara's main jobs run against them.

``python -m clara_lab.demo`` (what ``scripts/demo.sh`` runs) starts

* four OpenIPMI ``ipmi_sim`` BMCs for ``cn[1-4]`` (IPMI 2.0 lanplus),
* a sushy-tools Redfish emulator over verified HTTPS for ``gpu[1-2]``,
* a SLURM cluster (munged, slurmctld, one slurmd per ``cn`` node),

writes one Clara config for this mixed fleet, runs the everyday commands
(power, boot device, event log, SLURM drain/resume, an encrypted file), checks
one answer with an independent client (``ipmitool``), then stops every peer.
It exits non-zero if a step did not do what it shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
CLARA = str(BIN / "clara") if (BIN / "clara").exists() else "clara"
GPU_SYSTEMS = {"gpu1": "node000", "gpu2": "node001"}


class DemoFailure(RuntimeError):
    """A step of the demo did not do what it shows."""


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


class Demo:
    """Runs ``clara`` commands against the lab, echoing them like a terminal session."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.failures: list[str] = []

    def say(self, text: str) -> None:
        """A heading between steps."""
        print(f"\n# {text}", flush=True)

    def clara(self, *args: str, expect: int = 0, check: Callable[[str], bool] | None = None,
              stdin: str | None = None) -> str:
        """Run ``clara ARGS``; show it; record a failure if the exit code or output is not as expected."""
        print(f"$ clara {' '.join(args)}", flush=True)
        done = subprocess.run([CLARA, *args], env=self.env, capture_output=True, text=True, timeout=300,
                              input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
        sys.stdout.write(done.stdout)
        sys.stdout.write(done.stderr)
        sys.stdout.flush()
        if done.returncode != expect or (check is not None and not check(done.stdout)):
            self.failures.append(f"clara {' '.join(args)} (exit {done.returncode})")
        return done.stdout

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """Run another program (the independent cross-check); show it."""
        print(f"$ {' '.join(argv)}", flush=True)
        done = subprocess.run(list(argv), env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=60)
        sys.stdout.write(done.stdout + done.stderr)
        if done.returncode != 0:
            self.failures.append(" ".join(argv))
        return done.stdout


@contextmanager
def _started(what: str, start: Callable[[], Any], stop: Callable[[Any], None]) -> Iterator[Any]:
    print(f"starting {what}...", flush=True)
    handle = start()
    try:
        yield handle
    finally:
        stop(handle)


def run_demo(root: Path) -> int:
    """Start the lab under ``root``, run the demo, stop the lab; the exit status."""
    from clara_lab import ipmisim, slurm, sushy

    with ExitStack() as stack:
        bmcs = stack.enter_context(_started(
            "4 IPMI BMCs (ipmi_sim)",
            lambda: ipmisim.start_bmcs(root / "bmcs", 4, name_format="sim{:d}", emulator_console=True),
            lambda lab: lab.stop(),
        ))
        tls = sushy.make_tls(root / "tls", ["127.0.0.1"])
        fleet = stack.enter_context(_started(
            "a Redfish BMC with 2 systems (sushy-tools, HTTPS)",
            lambda: sushy.start_sushy(root / "redfish", processes=1, systems=2, tls=tls),
            lambda handle: handle.stop(),
        ))
        cluster = stack.enter_context(_started(
            "a SLURM cluster (slurmctld + 4 slurmd)",
            lambda: slurm.start(root / "slurm", nodes=4, prefix="cn"),
            lambda handle: handle.stop(),
        ))

        passwd = _private(root / "master_passwd",
                          f"IMMUSER={bmcs.user}\nIMMPASSWORD={bmcs.password}\n"
                          "ASUPASSWD=demo-passphrase-long-enough-1234\n")
        emulator = fleet.emulators[0]
        sections: dict[str, dict[str, object]] = {
            "common": {"master_passwd_file": passwd, "confirm_above": 8, "timeout": 10},
            "backends": {"power": "ipmi", "boot_device": "ipmi", "sel": "ipmi"},
            "backends:gpu[1-2]": {"power": "redfish", "boot_device": "redfish", "sel": "redfish",
                                  "hardware": "redfish"},
            "ipmi": {"bmc_port": bmcs.port, "parallel": 16},
            "redfish": {"bmc_host": emulator.ip, "bmc_port": emulator.port, "ca_bundle": tls.ca},
        }
        for number, bmc in enumerate(bmcs.bmcs, start=1):
            sections[f"ipmi:cn{number}"] = {"bmc_host": bmc.host}
        for node, system in GPU_SYSTEMS.items():
            sections[f"redfish:{node}"] = {"system": system}
        sections.update(cluster.config_sections())
        as_text = {name: {key: str(value) for key, value in keys.items()} for name, keys in sections.items()}
        config = ipmisim.write_ini(root / "config.ini", as_text)

        env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_LOG_DIR=str(root / "logs"),
                   PAGER="cat", **cluster.env())
        demo = Demo(root, env)
        print(f"\nlab ready under {root}; config: {config}", flush=True)

        demo.say("Installed plugins and their backends")
        demo.clara("plugins")

        demo.say("The seed's IPMI commands, both argument orders")
        demo.clara("ipmi", "status", "cn[1-4]", check=lambda out: "cn[1-4]: off" in out)
        demo.clara("ipmi", "--p=4", "cn[1-4]", "on", check=lambda out: "cn[1-4]" in out)
        demo.say("Cross-check with an independent client: ipmitool (password in the environment, -E)")
        demo.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", bmcs.bmcs[0].host, "-p", str(bmcs.port),
                  "-U", bmcs.user, "-E", "power", "status"], env={"IPMI_PASSWORD": bmcs.password})

        demo.say("One clara power over a mixed fleet: cn* speak IPMI, gpu* Redfish")
        demo.clara("power", "status", "cn[1-4],gpu[1-2]")
        demo.clara("power", "on", "gpu[1-2]", check=lambda out: "gpu[1-2]" in out)
        demo.clara("power", "status", "cn[1-4],gpu[1-2]", check=lambda out: "cn[1-4],gpu[1-2]: on" in out)
        demo.clara("boot", "pxe", "cn[1-4],gpu[1-2]")
        demo.clara("sel", "list", "cn1")

        demo.say("Health, sensors and inventory of the same mixed fleet (SDR and FRU, or Redfish)")
        demo.clara("sel", "clear", "--yes", "cn[1-4]")
        bmcs.bmcs[1].set_sensor("CPU1 Temp", 98)  # cn2 runs hot
        demo.clara("health", "cn[1-4],gpu[1-2]", expect=1,
                   check=lambda out: "cn2: critical: CPU1 Temp 98 C (upper critical 95)" in out)
        demo.clara("sensors", "--type", "temperature", "cn1,gpu1")
        demo.clara("inventory", "--diff", "cn[1-4]", check=lambda out: "all alike" in out)

        demo.say("A destructive verb over many nodes asks first; --dry-run shows the plan")
        demo.clara("power", "off", "cn[1-4],gpu[1-2]", "--dry-run")
        demo.clara("power", "status", "cn[1-4],gpu[1-2]", "-o", "json")

        demo.say("A node that does not answer is reported; the others finish (exit 1)")
        bmcs.bmcs[3].process.terminate()  # type: ignore[union-attr]
        demo.clara("power", "status", "cn[1-4]", "--timeout", "2", expect=1,
                   check=lambda out: "cn[1-3]: on" in out and "cn4: error" in out)

        demo.say("SLURM: drain with a reason, list, resume")
        demo.clara("slurm", "drain", "cn[1-2]", "firmware", "update")
        demo.clara("slurm", "drain", check=lambda out: "firmware update" in out)
        demo.clara("slurm", "resume", "cn[1-2]")

        demo.say("Secrets: an encrypted file, compatible with openssl enc")
        secret = root / "bmc-passwords.txt"
        secret.write_text("rack12 bmc: s3cret\n", encoding="utf-8")
        demo.clara("enc", "encode", str(secret))
        secret.unlink()
        demo.clara("enc", "show", f"{secret}.enc", check=lambda out: "rack12" in out)

    if demo.failures:
        print("\nDEMO FAILED: " + "; ".join(demo.failures), file=sys.stderr)
        return 1
    print("\ndemo finished: every peer stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--keep`` (keep the lab directory) and run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep the lab directory (config, logs)")
    args = parser.parse_args(argv)
    missing = [p for p in ("ipmi_sim", "ipmitool", "slurmctld", "openssl") if shutil.which(p) is None]
    if missing:
        print(f"demo: missing programs: {', '.join(missing)} (run scripts/setup.sh)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="clara-demo-"))
    root.chmod(0o755)  # slurmd and munged read below it
    try:
        return run_demo(root)
    finally:
        if args.keep:
            print(f"lab directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
