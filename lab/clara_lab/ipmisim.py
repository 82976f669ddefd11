"""Simulated BMCs: OpenIPMI's ``ipmi_sim`` serving IPMI 2.0 lanplus on loopback.

:func:`start_bmcs` starts N ``ipmi_sim`` processes under a directory, one per
simulated node, and returns a :class:`BmcLab` that knows each node's address,
port and state folder and stops every process it started.

Each BMC keeps its chassis state in small files that a test can read back or
preset (``<dir>/chassis/power``, ``boot``, ``identify``; every change is also
appended to ``chassis/actions.log``) through ipmi_sim's ``chassis_control``
hook. Two files inject faults: ``chassis/fail`` makes every chassis command
fail (completion code 0xff) and ``chassis/slow`` (a number of seconds) makes
the BMC answer chassis commands that much later.

Each BMC also serves an SDR repository with :data:`SENSORS` (temperatures,
fans, voltages, power, current with their thresholds; an empty fan slot; two
discrete sensors), FRU 0 (manufacturer, product, serial, MACs) and one
critical SEL entry. ``stragglers`` run another BMC firmware and product
version; ``bare`` BMCs have no SDR and no FRU. A test changes readings and
logs events while a simulator runs through its emulator console (``start_bmcs(...,
emulator_console=True)``: :meth:`SimBmc.set_sensor`, :meth:`SimBmc.set_sensor_bit`,
:meth:`SimBmc.add_sel`, :meth:`SimBmc.emulator`).

Addresses: by default node *i* listens on its own loopback address
(``127.<a>.<b>.<c>``) at one port (623 when free), so node names can be plain
IPs; :meth:`BmcLab.config_sections` also maps names (``node000`` ...) to
addresses with ``[ipmi:<node>]`` sections.

:func:`demo` starts a few BMCs and writes a matching Clara config snippet and
secrets file, for the demo lab.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Credentials of the administrator account of every simulated BMC.
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "password"

_CHASSIS_CONTROL = r"""#!/bin/sh
# ipmi_sim chassis_control hook: chassis_control.sh STATEDIR get|set [parm [val]]...
# State lives in small files of STATEDIR; every "set" is logged in actions.log.
# STATEDIR/fail: every call fails (CC 0xff). STATEDIR/slow: sleep that many seconds first.
set -e
d=$1; op=$2; shift 2
[ -d "$d" ] || mkdir -p "$d"
if [ -e "$d/slow" ]; then read s < "$d/slow"; sleep "${s:-1}"; fi
if [ -e "$d/fail" ]; then echo "injected failure"; exit 1; fi
case $op in
get)
    for p in "$@"; do
        v=
        [ -f "$d/$p" ] && read v < "$d/$p"
        case $p in
            power) echo "power:${v:-0}" ;;
            boot)  echo "boot:${v:-none}" ;;
            *) echo "Invalid parameter: $p"; exit 1 ;;
        esac
    done ;;
set)
    while [ $# -gt 0 ]; do
        p=$1; v=$2; shift 2
        echo "$p $v" >> "$d/actions.log"
        case $p in
            power) echo "$v" > "$d/power" ;;
            reset) ;;
            shutdown) echo 0 > "$d/power" ;;
            boot)  echo "$v" > "$d/boot" ;;
            identify) echo "$v" > "$d/identify" ;;
            *) echo "Invalid parameter: $p"; exit 1 ;;
        esac
    done ;;
check) exit 1 ;;
*) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
"""

_LAN_CONF = """name "{name}"
set_working_mc 0x20
  startlan 1
    addr {addr} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{script} {chassis}"
  user 1 true  ""      "test"     user  10 none md2 md5 straight
  user 2 true  "{user}" "{password}" admin 10 none md2 md5 straight
"""

#: The emulator commands of one node: the BMC (firmware ``{fw_major}.{fw_minor:02x}``), its FRU, SDR
#: repository, sensors and event log ({sdr} is filled by :func:`node_emulation`).
_NODE_EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 {fw_major} {fw_minor:#04x} 0x9f 0x1291 0xf02
sel_enable 0x20 1000 0x0a
{fru}{sdr}sel_add 0x20 2 0 0 0 0 0x20 0 4 0x0c 0x0c 0x6f 0x01 0xff 0xff
mc_enable 0x20
"""

#: The MC locator record of the BMC itself: without any SDR, pyghmi's event log and sensor calls fail.
_MC_LOCATOR = (0x00, 0x00, 0x51, 0x12, 0x0E, 0x20, 0x00, 0x00, 0x9F, 0x00, 0x00, 0x00, 0x06, 0x01, 0x00, 0xC3,
               0x42, 0x4D, 0x43)

#: Threshold names in the order of their bits (IPMI: lower non-critical, lower critical, lower
#: non-recoverable, upper non-critical, upper critical, upper non-recoverable).
THRESHOLD_NAMES = ("lnc", "lc", "lnr", "unc", "uc", "unr")


@dataclass(frozen=True)
class SimSensor:
    """One sensor of the simulated BMCs: its SDR and its starting raw reading.

    The value shown is ``m * raw * 10**exponent`` ``unit`` (``unit`` an IPMI base unit code:
    1 degrees C, 4 volts, 5 amps, 6 watts, 18 RPM); ``thresholds`` are raw bytes by
    :data:`THRESHOLD_NAMES` name. ``discrete``: a sensor-specific discrete sensor (its
    state bits from ``start_bit``, no reading); ``scanning`` False: the sensor gives no reading
    (an empty slot).
    """

    number: int
    name: str
    sensor_type: int
    unit: int
    raw: int
    m: int = 1
    exponent: int = 0
    thresholds: Mapping[str, int] = field(default_factory=dict)
    discrete: bool = False
    scanning: bool = True
    #: The state bit a discrete sensor starts with (None: no bit set).
    start_bit: int | None = 0

    def value(self, raw: int | None = None) -> float:
        """The reading of ``raw`` (the starting one by default) in the sensor's unit."""
        return round(self.m * (self.raw if raw is None else raw) * 10.0 ** self.exponent, 6)

    def raw_of(self, value: float) -> int:
        """The raw byte that reads as ``value``."""
        raw = round(value / (self.m * 10.0 ** self.exponent))
        if not 0 <= raw <= 255:
            raise ValueError(f"{self.name}: {value} is out of the sensor's range")
        return raw

    def sdr(self) -> bytes:
        """The full sensor record (SDR type 01h) of this sensor."""
        mask = sum(1 << THRESHOLD_NAMES.index(n) for n in self.thresholds)
        name = self.name.encode("latin-1")
        body = bytes([
            0x20, 0x00, self.number, 0x07, 0x01, 0x7F, 0x40 if self.discrete or not mask else 0x48,
            self.sensor_type, 0x6F if self.discrete else 0x01,
            0x00, 0x00, 0x00, 0x00,
            *((0x03, 0x00) if self.discrete else (mask, mask)),
            0xC0 if self.discrete else 0x00, self.unit, 0x00, 0x00,
            self.m & 0xFF, (self.m >> 2) & 0xC0, 0x00, 0x00, 0x00, (self.exponent & 0x0F) << 4, 0x00,
            0x00, 0x00, 0x00, 0xFF, 0x00,
            *(self.thresholds.get(n, 0) for n in reversed(THRESHOLD_NAMES)),
            0x00, 0x00, 0x00, 0x00, 0x00, 0xC0 | len(name),
        ]) + name
        return bytes([0x00, 0x00, 0x51, 0x01, len(body)]) + body

    def reset_commands(self) -> list[str]:
        """The emulator commands that put the starting reading (or state) back."""
        if not self.discrete:
            return [f"sensor_set_value 0x20 0 {self.number} {self.raw:#04x} 0"]
        # ipmi_sim's sensor_set_bit_clr_rest sets the bit whatever the value: clear it after
        commands = [f"sensor_set_bit_clr_rest 0x20 0 {self.number} {self.start_bit or 0} 1 0"]
        if self.start_bit is None:
            commands.append(f"sensor_set_bit 0x20 0 {self.number} 0 0 0")
        return commands

    def emulation(self) -> str:
        """The emulator commands that add the sensor and set its reading and thresholds."""
        lines = [_sdr_line(self.sdr()), f"sensor_add 0x20 0 {self.number} {self.sensor_type:#04x} "
                 f"{0x6F if self.discrete else 0x01:#04x}"]
        lines += self.reset_commands()
        if self.thresholds:
            enabled = "".join("1" if n in self.thresholds else "0" for n in reversed(THRESHOLD_NAMES))
            values = " ".join(f"{self.thresholds.get(n, 0):#04x}" for n in reversed(THRESHOLD_NAMES))
            lines.append(f"sensor_set_threshold 0x20 0 {self.number} settable {enabled} {values}")
        if not self.scanning:
            off = "0" * 15
            lines.append(f"sensor_set_event_support 0x20 0 {self.number} disable no-scanning none "
                         f"{off} {off} {off} {off}")
        return "\n".join(lines) + "\n"


#: The sensors of every simulated BMC (unless started ``bare``).
SENSORS: tuple[SimSensor, ...] = (
    SimSensor(1, "CPU1 Temp", 0x01, 1, 45, thresholds={"unc": 85, "uc": 95, "unr": 100}),
    SimSensor(2, "CPU2 Temp", 0x01, 1, 47, thresholds={"unc": 85, "uc": 95, "unr": 100}),
    SimSensor(3, "Inlet Temp", 0x01, 1, 24, thresholds={"unc": 40, "uc": 45}),
    SimSensor(4, "FAN1", 0x04, 18, 84, m=100, thresholds={"lnc": 15, "lc": 10}),
    SimSensor(5, "FAN2", 0x04, 18, 82, m=100, thresholds={"lnc": 15, "lc": 10}),
    SimSensor(6, "FAN3", 0x04, 18, 0, m=100, scanning=False),  # an empty fan slot: no reading, no threshold
    SimSensor(7, "12V", 0x02, 4, 200, m=6, exponent=-2, thresholds={"lc": 180, "uc": 220}),
    SimSensor(8, "3.3V", 0x02, 4, 165, m=2, exponent=-2, thresholds={"lc": 150, "uc": 180}),
    SimSensor(9, "PSU1 Power", 0x0B, 6, 80, m=4, thresholds={"unc": 200, "uc": 225}),
    SimSensor(10, "PSU1 Current", 0x03, 5, 27, exponent=-1, thresholds={"uc": 120}),
    SimSensor(11, "PSU1 Status", 0x08, 0, 0, discrete=True),  # bit 0: presence detected
    SimSensor(12, "DIMM Status", 0x0C, 0, 0, discrete=True, start_bit=None),  # the preset SEL entry's sensor
)

#: BMC firmware (major, minor BCD) of the simulated BMCs, and of the "stragglers".
FIRMWARE = (9, 0x08)
STRAGGLER_FIRMWARE = (9, 0x10)


def _sdr_line(record: Iterable[int]) -> str:
    return "main_sdr_add 0x20 " + " ".join(f"{b:#04x}" for b in record)


def node_emulation(fru: Path | None, *, sensors: bool = True, straggler: bool = False) -> str:
    """The emulator command file of one BMC: FRU 0 from the file ``fru`` (none if None), the MC
    locator and :data:`SENSORS` in the SDR (no SDR at all without ``sensors``), one SEL entry."""
    major, minor = STRAGGLER_FIRMWARE if straggler else FIRMWARE
    fru_line = f'mc_add_fru_data 0x20 0 256 file 0 "{fru}"\n' if fru is not None else ""
    sdr = _sdr_line(_MC_LOCATOR) + "\n" + "".join(s.emulation() for s in SENSORS) if sensors else ""
    return _NODE_EMU.format(fw_major=major, fw_minor=minor, fru=fru_line, sdr=sdr)


# A fake serial console for SOL: ipmi_sim connects to it; it greets with "NAME login: ",
# answers every line with "echo: <line>" and logs what it receives (<node>/console.log).
_CONSOLE = r"""
import socket, sys, threading
def serve(conn, name):
    with conn:
        conn.sendall(("\r\n%s login: " % name).encode())
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            print("rx %r" % data, flush=True)  # the console log shows what reached the node
            buf += data
            while b"\r" in buf or b"\n" in buf:
                cut = min(i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0)
                line, buf = buf[:cut], buf[cut + 1:]
                if line:
                    conn.sendall(b"\r\necho: " + line + ("\r\n%s login: " % name).encode())
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(8)
while True:
    conn, _peer = server.accept()
    threading.Thread(target=serve, args=(conn, sys.argv[2]), daemon=True).start()
"""


# -- FRU image -------------------------------------------------------------


def _field(text: str) -> bytes:
    raw = text.encode("latin-1")
    if len(raw) >= 64:
        raise ValueError(f"FRU field too long: {text!r}")
    return bytes([0xC0 | len(raw)]) + raw


def _area(body: bytes) -> bytes:
    """A FRU area: version, length (8-byte units), body, end marker, padding, checksum."""
    content = bytes([0x01, 0x00]) + body + b"\xc1"
    length = (len(content) + 1 + 7) // 8 * 8
    content += b"\x00" * (length - len(content) - 1)
    content = bytes([content[0], length // 8]) + content[2:]
    return content + bytes([(-sum(content)) & 0xFF])


def fru_image(serial: str, macs: Iterable[str], version: str = "1.0") -> bytes:
    """A 256-byte FRU image whose product area carries the node's MACs.

    The first "Product Extra" field holds the MACs colon-less and concatenated
    (the IBM/Lenovo IMM layout the seed's ``getmac`` parses: line 15 of
    ``ipmitool fru print 0``); each MAC follows again as ``MAC<n>=aa:bb:...``.
    ``version`` is the product version.
    """
    macs = list(macs)
    joined = "".join(m.replace(":", "").upper() for m in macs)
    chassis = _area(bytes([0x17]) + _field("CH-PN-01") + _field("CH" + serial))
    minutes = int((datetime.datetime(2024, 1, 1) - datetime.datetime(1996, 1, 1)).total_seconds() // 60)
    board = _area(
        b"\x00" + struct.pack("<I", minutes)[:3] + _field("ACME") + _field("ACME Board")
        + _field("BS" + serial) + _field("BRD-PN-01") + _field("")
    )
    extras = b"".join(_field(f"MAC{i}={m.lower()}") for i, m in enumerate(macs))
    product = _area(
        b"\x00" + _field("ACME") + _field("ACME Node") + _field("NODE-PN-01") + _field(version)
        + _field(serial) + _field("AT" + serial) + _field("") + _field(joined) + extras
    )
    header = [0x01, 0x00, 1, 1 + len(chassis) // 8, 1 + (len(chassis) + len(board)) // 8, 0x00, 0x00]
    header.append((-sum(header)) & 0xFF)
    image = bytes(header) + chassis + board + product
    return image + b"\x00" * (256 - len(image))


def node_macs(index: int) -> list[str]:
    """The two MACs of simulated node ``index`` (``52:54:00:aa:HH:LL``, ``52:54:00:bb:HH:LL``)."""
    return [f"52:54:00:{x}:{index >> 8:02x}:{index & 0xFF:02x}" for x in ("aa", "bb")]


# -- the lab ---------------------------------------------------------------


@dataclass
class SimBmc:
    """One simulated BMC: its node name, where it listens and its state folder."""

    name: str
    host: str
    port: int
    directory: Path
    index: int
    process: subprocess.Popen[bytes] | None = None
    console: subprocess.Popen[bytes] | None = None
    console_port: int = 0
    emulator_port: int = 0
    straggler: bool = False
    bare: bool = False

    @property
    def chassis(self) -> Path:
        """The folder of the chassis state files."""
        return self.directory / "chassis"

    def _read(self, name: str, default: str = "") -> str:
        try:
            return (self.chassis / name).read_text().strip()
        except FileNotFoundError:
            return default

    def power(self) -> str:
        """``on`` or ``off``, as the simulated chassis holds it."""
        return "on" if self._read("power", "0") == "1" else "off"

    def set_power(self, on: bool) -> None:
        """Preset the chassis power state."""
        (self.chassis / "power").write_text("1\n" if on else "0\n")

    def boot(self) -> str:
        """The boot device last set (``none``, ``pxe``, ``default``, ``bios``...)."""
        return self._read("boot", "none")

    def identify(self) -> str:
        """The last identify request (``interval force``), empty if none."""
        return self._read("identify")

    def actions(self) -> list[str]:
        """Every chassis change, in order (``power 1``, ``reset 1``, ``boot pxe``...)."""
        return self._read("actions.log").splitlines()

    def macs(self) -> list[str]:
        """The MACs its FRU carries."""
        return node_macs(self.index)

    def set_failing(self, failing: bool) -> None:
        """Make chassis commands fail (or work again)."""
        flag = self.chassis / "fail"
        if failing:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def set_slow(self, seconds: float | None) -> None:
        """Delay the answers to chassis commands by ``seconds`` (None: no delay)."""
        flag = self.chassis / "slow"
        if seconds:
            flag.write_text(f"{seconds:g}\n")
        else:
            flag.unlink(missing_ok=True)

    def emulator(self, *commands: str, timeout: float = 10.0) -> str:
        """Run emulator commands (``ipmi_sim_cmd(5)``: ``sensor_set_value``, ``sel_add``...) in the
        running simulator, through its console port; their output. A RuntimeError when the
        simulator refuses one (``**...``)."""
        if not self.emulator_port:
            raise RuntimeError(f"{self.name}: started without an emulator console")
        output: list[str] = []
        with socket.create_connection(("127.0.0.1", self.emulator_port), timeout=timeout) as sock:
            _until_prompt(sock)
            for command in commands:
                sock.sendall(command.encode() + b"\n")
                text = _until_prompt(sock).replace("\r", "")
                answer = text.split("\n", 1)[1] if "\n" in text else ""  # the echoed command first
                if "**" in answer:
                    raise RuntimeError(f"{self.name}: {command!r}: {answer.strip()}")
                output.append(answer)
        return "".join(output)

    def sensor(self, name: str) -> SimSensor:
        """The sensor called ``name`` (a KeyError if none)."""
        if self.bare:
            raise KeyError(name)
        for sensor in SENSORS:
            if sensor.name == name:
                return sensor
        raise KeyError(name)

    def set_sensor(self, name: str, value: float | None = None, event: bool = False) -> None:
        """Set the reading of sensor ``name`` to ``value`` in its unit (its starting reading when
        None); with ``event``, the simulator logs crossed thresholds in the SEL."""
        sensor = self.sensor(name)
        raw = sensor.raw if value is None else sensor.raw_of(value)
        self.emulator(f"sensor_set_value 0x20 0 {sensor.number} {raw:#04x} {1 if event else 0}")

    def set_sensor_bit(self, name: str, bit: int, on: bool) -> None:
        """Set state bit ``bit`` of discrete sensor ``name`` (``PSU1 Status`` bit 1: failure)."""
        sensor = self.sensor(name)
        self.emulator(f"sensor_set_bit 0x20 0 {sensor.number} {bit} {1 if on else 0} 0")

    def add_sel(self, *event: int) -> None:
        """Log an event in the SEL: ``event`` its last 7 bytes (event message revision, sensor
        type, sensor number, event type, data 1-3), as ``ipmitool sel add`` reads them."""
        if len(event) != 7:
            raise ValueError("an event is 7 bytes: revision, sensor type, number, event type, data 1-3")
        self.emulator("sel_add 0x20 2 0 0 0 0 0x20 0 " + " ".join(f"{b:#04x}" for b in event))

    def reset_sensors(self) -> None:
        """Every sensor back to its starting reading, every discrete sensor to "present"."""
        if self.bare:
            return
        self.emulator(*(command for sensor in SENSORS for command in sensor.reset_commands()))

    def reset_state(self) -> None:
        """Power off, no boot override, no identify, empty log, no injected fault."""
        for name in ("boot", "identify", "actions.log", "fail", "slow"):
            (self.chassis / name).unlink(missing_ok=True)
        self.set_power(False)


@dataclass
class BmcLab:
    """The simulated BMCs started by :func:`start_bmcs`."""

    root: Path
    bmcs: list[SimBmc]
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    _stopped: bool = field(default=False, repr=False)

    @property
    def names(self) -> list[str]:
        """Node names (``node000``...)."""
        return [b.name for b in self.bmcs]

    @property
    def hosts(self) -> list[str]:
        """BMC addresses, in node order."""
        return [b.host for b in self.bmcs]

    @property
    def port(self) -> int:
        """The port of the first BMC (every BMC's port when they share one)."""
        return self.bmcs[0].port

    def by_name(self, name: str) -> SimBmc:
        """The BMC of node ``name``."""
        for bmc in self.bmcs:
            if bmc.name == name:
                return bmc
        raise KeyError(name)

    def by_host(self, host: str) -> SimBmc:
        """The BMC listening on ``host``."""
        for bmc in self.bmcs:
            if bmc.host == host:
                return bmc
        raise KeyError(host)

    def config_sections(self, names: bool = True) -> dict[str, dict[str, str]]:
        """``[ipmi]`` (the shared port) and, with ``names``, one ``[ipmi:<node>]``
        section per node mapping its name to its address."""
        sections: dict[str, dict[str, str]] = {}
        ports = {b.port for b in self.bmcs}
        base: dict[str, str] = {}
        if len(ports) == 1:
            base["bmc_port"] = str(self.port)
        sections["ipmi"] = base
        if names:
            for bmc in self.bmcs:
                entry = {"bmc_host": bmc.host}
                if len(ports) != 1:
                    entry["bmc_port"] = str(bmc.port)
                sections[f"ipmi:{bmc.name}"] = entry
        return sections

    def stop(self) -> None:
        """Stop every process this lab started (ipmi_sim, fake consoles), by PID."""
        if self._stopped:
            return
        self._stopped = True
        procs = [p for b in self.bmcs for p in (b.process, b.console) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> BmcLab:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _bound_udp() -> set[tuple[str, int]]:
    """Every (IPv4 address, port) with a bound UDP socket (from /proc/net/udp)."""
    bound: set[tuple[str, int]] = set()
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return bound
    for line in lines:
        local = line.split()[1]
        addr_hex, port_hex = local.split(":")
        addr = socket.inet_ntoa(struct.pack("<I", int(addr_hex, 16)))
        bound.add((addr, int(port_hex, 16)))
    return bound


def _loopback_addresses(block: int, count: int) -> list[str]:
    """``count`` addresses of loopback block ``block``: 127.<block>.<1+i//254>.<1+i%254>."""
    return [f"127.{block}.{1 + i // 254}.{1 + i % 254}" for i in range(count)]


def _pick_addresses(count: int, port: int) -> list[str]:
    bound = _bound_udp()
    wildcard = ("0.0.0.0", port) in bound
    if not wildcard:
        for block in range(0, 250, 7):
            addrs = _loopback_addresses(block, count)
            if not any((a, port) in bound for a in addrs):
                return addrs
    raise RuntimeError(f"no free block of {count} loopback addresses at UDP port {port}")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_console(directory: Path, name: str, timeout: float = 10.0) -> tuple[subprocess.Popen[bytes], int]:
    """Start the fake serial console of one node; return it once it listens."""
    port = _free_tcp_port()
    with (directory / "console.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", _CONSOLE, str(port), name], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"fake console of {name} did not start") from None
            time.sleep(0.05)


def _can_bind(addr: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((addr, port))
        except OSError:
            return False
    return True


def start_bmcs(
    root: str | os.PathLike[str],
    count: int,
    *,
    port: int = 623,
    user: str = DEFAULT_USER,
    password: str = DEFAULT_PASSWORD,
    name_format: str = "node{:03d}",
    ready_timeout: float = 20.0,
    sol: bool = False,
    stragglers: Collection[int] = (),
    bare: Collection[int] = (),
    emulator_console: bool = False,
) -> BmcLab:
    """Start ``count`` ipmi_sim BMCs under ``root`` (created; one folder per node).

    Each listens on its own loopback address at ``port`` (a free port is used
    when ``port`` cannot be bound here, e.g. not root). With ``sol``, each
    also gets a fake serial console (a small TCP server) behind its SOL.

    Every BMC serves :data:`SENSORS` in its SDR, a FRU and one SEL entry; the
    nodes whose index is in ``stragglers`` run another firmware
    (:data:`STRAGGLER_FIRMWARE`) and product version (``1.1``); those in
    ``bare`` have no SDR and no FRU at all. With ``emulator_console``, each
    simulator also opens its emulator console on a free loopback TCP port
    (:meth:`SimBmc.emulator`: change readings, log events while it runs; off by
    default: a simulator whose port was taken meanwhile exits at start).
    Returns once every BMC listens; raises RuntimeError (after stopping what
    started) otherwise.
    """
    if shutil.which("ipmi_sim") is None:
        raise FileNotFoundError("ipmi_sim not found (Debian package openipmi)")
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    if not _can_bind("127.0.0.1", port) and ("127.0.0.1", port) not in _bound_udp():
        port = _free_udp_port()
    addresses = _pick_addresses(count, port)
    script = root_path / "chassis_control.sh"
    script.write_text(_CHASSIS_CONTROL)
    script.chmod(0o755)
    lab = BmcLab(root_path, [], user, password)
    try:
        for index, addr in enumerate(addresses):
            name = name_format.format(index)
            directory = root_path / name
            (directory / "state").mkdir(parents=True, exist_ok=True)
            (directory / "chassis").mkdir(exist_ok=True)
            fru = directory / "fru.bin"
            straggler = index in stragglers
            fru.write_bytes(fru_image(f"SN{name}", node_macs(index), "1.1" if straggler else "1.0"))
            bmc = SimBmc(name, addr, port, directory, index, straggler=straggler, bare=index in bare)
            lab.bmcs.append(bmc)
            lan_text = _LAN_CONF.format(name=name, addr=addr, port=port, script=script,
                                        chassis=directory / "chassis", user=user, password=password)
            if emulator_console:
                bmc.emulator_port = _free_tcp_port()
                lan_text += f"  console 127.0.0.1 {bmc.emulator_port}\n"
            if sol:
                bmc.console, bmc.console_port = _start_console(directory, name)
                lan_text += f'  sol "tcp:127.0.0.1:{bmc.console_port}" 115200\n'
            lan = directory / "lan.conf"
            lan.write_text(lan_text)
            emu = directory / "node.emu"
            emu.write_text(node_emulation(None if bmc.bare else fru, sensors=not bmc.bare, straggler=straggler))
            bmc.reset_state()
            with (directory / "log").open("wb") as log:
                bmc.process = subprocess.Popen(
                    ["ipmi_sim", "-n", "-c", str(lan), "-f", str(emu), "-s", str(directory / "state")],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
        _wait_ready(lab, ready_timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


def _until_prompt(sock: socket.socket) -> str:
    """What the emulator console sends up to its ``> `` prompt (telnet negotiation bytes dropped)."""
    data = b""
    while not data.endswith(b"> "):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the emulator console closed the connection")
        data += chunk
    return bytes(b for b in data[:-2] if b < 0xF0).decode("latin-1")


def _wait_ready(lab: BmcLab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = {(b.host, b.port) for b in lab.bmcs}
    while waiting:
        waiting -= _bound_udp()
        dead = [b.name for b in lab.bmcs if b.process is not None and b.process.poll() is not None]
        if dead:
            raise RuntimeError(f"ipmi_sim exited at start for {', '.join(dead[:5])} (see {lab.root}/<node>/log)")
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} ipmi_sim BMCs not listening after {timeout:g}s")
        time.sleep(0.05)


def write_ini(path: Path, sections: Mapping[str, Mapping[str, str]]) -> Path:
    """Write ``{section: {key: value}}`` as an INI file."""
    lines: list[str] = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def demo(root: str | os.PathLike[str], count: int = 4) -> tuple[BmcLab, Path]:
    """Start ``count`` BMCs under ``root`` and write ``root/clara-ipmi.ini``.

    The snippet sets ``[common] master_passwd_file`` (a 0600 file beside it
    with ``IMMUSER``/``IMMPASSWORD``), ``[ipmi]`` and one ``[ipmi:<node>]``
    per node, so ``CLARA_CONFIG=root/clara-ipmi.ini clara ipmi status
    node[000-003]`` works. Call ``lab.stop()`` when done.
    """
    root_path = Path(root)
    lab = start_bmcs(root_path / "bmcs", count)
    secrets = root_path / "master_passwd"
    fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"IMMUSER={lab.user}\nIMMPASSWORD={lab.password}\n")
    sections: dict[str, dict[str, str]] = {"common": {"master_passwd_file": str(secrets)}}
    base = lab.config_sections()
    base["ipmi"].update({"parallel": "16", "timeout": "10", "retries": "1"})
    sections.update(base)
    return lab, write_ini(root_path / "clara-ipmi.ini", sections)


def main(argv: list[str] | None = None) -> int:
    """``python -m clara_lab.ipmisim DIR [N]``: start N BMCs (4), print the config to use,
    and keep them until interrupted (Ctrl-C or SIGTERM)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m clara_lab.ipmisim", description=main.__doc__)
    parser.add_argument("directory", help="where the BMCs' folders, config and secrets go")
    parser.add_argument("count", nargs="?", type=int, default=4, help="how many BMCs (default 4)")
    args = parser.parse_args(argv)
    lab, config = demo(args.directory, args.count)
    last = lab.bmcs[-1].name[-3:]
    print(f"{args.count} BMCs up; try:\n  CLARA_CONFIG={config} clara ipmi status node[000-{last}]", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
