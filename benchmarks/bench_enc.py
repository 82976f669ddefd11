"""Benchmark: ``clara enc encode/decode`` of a 100 MB file against the ``openssl enc`` CLI.

Run: ``python benchmarks/bench_enc.py [--size-mb 100] [--repeat 3]``. Needs
clara-enc installed and ``openssl`` on PATH. Prints, per operation, the best
wall-clock and CPU time (child processes) of each side and the ratio
clara / openssl; also the in-process API (no process start-up). Exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PASSWORD = "benchmark-password-long-enough-1234"
OPENSSL = ["enc", "-aes-256-cbc", "-md", "sha256", "-pbkdf2", "-iter", "100000"]


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by waited-for child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds used so far by this process."""
    return time.process_time()


def measure(action: Callable[[], None], cpu: Callable[[], float], repeat: int) -> tuple[float, float]:
    """The best wall and CPU seconds of ``repeat`` runs of ``action``."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = cpu(), time.perf_counter()
        action()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
    return min(walls), min(cpus)


def run(argv: list[str], env: dict[str, str]) -> None:
    """Run a command; stop the benchmark with its stderr if it fails."""
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench_enc: {' '.join(argv[:3])}... failed: {done.stderr.decode(errors='replace').strip()}")


def digest(path: Path) -> str:
    """SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    clara = shutil.which("clara", path=str(Path(sys.executable).parent)) or shutil.which("clara")
    if openssl is None or clara is None:
        print("bench_enc: needs 'openssl' and 'clara' (pip install -e backends/clara-enc); skipped")
        return 0
    try:
        from clara_enc import opensslfmt
    except ImportError:
        print("bench_enc: clara-enc is not installed in this Python (pip install -e backends/clara-enc); skipped")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-enc-") as tmp:
        root = Path(tmp)
        master = root / "master"
        master.write_text(f"ASUPASSWD={PASSWORD}\n")
        master.chmod(0o600)
        pass_file = root / "pass"
        pass_file.write_text(PASSWORD + "\n")
        pass_file.chmod(0o600)
        config = root / "clara.ini"
        config.write_text(f"[common]\nmaster_passwd_file = {master}\ndigest_type = sha256\n")
        env = {**os.environ, "CLARA_CONFIG": str(config), "CLARA_PLUGINS": "enc", "CLARA_LOG_DIR": str(root / "log")}

        data = os.urandom(args.size_mb << 20)
        plain = root / "data"
        plain.write_bytes(data)
        reference = digest(plain)

        def clara_encode() -> None:
            (root / "data.enc").unlink(missing_ok=True)
            run([clara, "enc", "encode", str(plain)], env)

        def openssl_encode() -> None:
            run([openssl, *OPENSSL, "-salt", "-pass", f"file:{pass_file}", "-in", str(plain),
                 "-out", str(root / "ossl.enc")], env)

        def clara_decode() -> None:
            (root / "copy").unlink(missing_ok=True)
            run([clara, "enc", "decode", str(root / "copy.enc")], env)

        def openssl_decode() -> None:
            run([openssl, *OPENSSL, "-d", "-pass", f"file:{pass_file}", "-in", str(root / "ossl.enc"),
                 "-out", str(root / "ossl.dec")], env)

        password = PASSWORD.encode()
        blob: list[bytes] = []

        def api_encrypt() -> None:
            blob[:] = [opensslfmt.encrypt(data, password)]

        def api_decrypt() -> None:
            opensslfmt.decrypt(blob[0], password)

        rows = [("encode (CLI)", measure(clara_encode, children_cpu, args.repeat),
                 measure(openssl_encode, children_cpu, args.repeat))]
        shutil.copy(root / "data.enc", root / "copy.enc")
        rows.append(("decode (CLI)", measure(clara_decode, children_cpu, args.repeat),
                     measure(openssl_decode, children_cpu, args.repeat)))
        # Cross-check: each side opens the other's output.
        assert digest(root / "copy") == reference and digest(root / "ossl.dec") == reference
        assert opensslfmt.decrypt((root / "ossl.enc").read_bytes(), password) == data
        api_enc = measure(api_encrypt, own_cpu, args.repeat)
        api_dec = measure(api_decrypt, own_cpu, args.repeat)
        rows.append(("encrypt (in-process API)", api_enc, rows[0][2]))
        rows.append(("decrypt (in-process API)", api_dec, rows[1][2]))

    print(f"clara enc vs openssl enc -aes-256-cbc -pbkdf2, {args.size_mb} MB, best of {args.repeat}")
    print(f"{'operation':<26}{'clara wall':>11}{'clara cpu':>11}{'openssl wall':>14}{'openssl cpu':>13}"
          f"{'ratio wall':>12}{'ratio cpu':>11}")
    for name, (cw, cc), (ow, oc) in rows:
        print(f"{name:<26}{cw:>10.3f}s{cc:>10.3f}s{ow:>13.3f}s{oc:>12.3f}s"
              f"{cw / ow:>11.2f}x{(cc / oc if oc else float('nan')):>10.2f}x")
    print("ratio = clara / openssl (below 1: clara is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
