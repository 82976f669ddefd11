"""The ``[gateways]`` section: where the topology is, how to reach a gateway, how much at once."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from clara_core.config import Config, NodeSettings
from clara_core.errors import ConfigError
from clara_core.gateways import DEFAULT_FANOUT, GATEWAY_FANOUT

#: Where ClusterShell keeps its topology; used when ``[gateways] topology`` is not set.
DEFAULT_TOPOLOGY = Path("/etc/clustershell/topology.conf")
#: The command run on a gateway when ``[gateways] command`` is not set.
DEFAULT_COMMAND = ("clara",)
#: Seconds allowed to open the ssh connection to a gateway.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds allowed to one gateway's whole run (its share of the nodes).
DEFAULT_TIMEOUT = 900.0


@dataclass(frozen=True)
class GatewaySettings:
    """What the head needs to drive its gateways.

    :param topology: the ClusterShell topology file.
    :param head: this host's name in the topology (``[gateways] head``, else the short host name).
    :param fanout: how many gateways are driven at once.
    :param connect_timeout: seconds to open one ssh connection.
    :param ssh_path: the ssh client (``[gateways] ssh_path``, default ``ssh``).
    :param ssh_user: the user to log in as on gateways (empty: ssh's default).
    :param ssh_options: extra ssh options (``-i key -p 2222``...), split like a shell would.
    :param per_gateway: ``[gateways]`` with its ``[gateways:<gateways>]`` overrides
        (``command``, ``address``, ``parallel``, ``timeout``).
    :param explicit: the topology was named in the config (else ClusterShell's own file,
        which a head absent from it may ignore).
    """

    topology: Path
    head: str
    fanout: int
    connect_timeout: float
    ssh_path: str
    ssh_user: str
    ssh_options: str
    per_gateway: NodeSettings
    explicit: bool = True

    def command(self, gateway: str) -> list[str]:
        """The words of the command that runs Clara on ``gateway`` (``[gateways] command``)."""
        text = self.per_gateway.get(gateway, "command", default="")
        try:
            words = shlex.split(text) if text.strip() else list(DEFAULT_COMMAND)
        except ValueError as exc:
            raise ConfigError(f"{self.per_gateway.where(gateway, 'command')}: {exc}") from None
        return words

    def address(self, gateway: str) -> str:
        """The host ssh connects to for ``gateway`` (``address``, else the gateway's name)."""
        return self.per_gateway.get(gateway, "address", default="").strip() or gateway

    def parallel(self, gateway: str) -> int | None:
        """BMC sessions at once on ``gateway`` (``parallel``); None: the gateway's own config."""
        if self.per_gateway.lookup(gateway, "parallel") is None:
            return None
        return self.per_gateway.get_int(gateway, "parallel", minimum=1, maximum=4096)

    def timeout(self, gateway: str) -> float:
        """Seconds allowed to ``gateway``'s whole run (``timeout``, default 900)."""
        return self.per_gateway.get_duration(gateway, "timeout", default=DEFAULT_TIMEOUT, minimum=1, maximum=86400)


def load_settings(config: Config, fanout: int | None = None) -> GatewaySettings | None:
    """The gateway settings, or None when no topology applies (``[gateways] enabled = no``, or
    no ``[gateways] topology`` and no ``/etc/clustershell/topology.conf``).

    A ``topology`` named in the config must exist: a :class:`ConfigError` otherwise.
    """
    if not config.get_bool("gateways", "enabled", default=True):
        return None
    named = config.get("gateways", "topology", default="").strip()
    if named:
        path = Path(os.path.expanduser(named))
        if not path.is_file():
            raise ConfigError(f"[gateways] topology: {path} is not a readable file")
    elif DEFAULT_TOPOLOGY.is_file():
        path = DEFAULT_TOPOLOGY
    else:
        return None
    import socket  # only once a topology applies

    head = config.get("gateways", "head", default="").strip() or socket.gethostname().split(".")[0]
    if fanout is None:
        fanout = GATEWAY_FANOUT.get(config, "gateways", "fanout", DEFAULT_FANOUT)
    for key in ("ssh_path", "ssh_options"):  # ClusterShell splits them as a shell would, in its workers
        try:
            shlex.split(config.get("gateways", key, default=""))
        except ValueError as exc:
            raise ConfigError(f"[gateways] {key}: {exc} (quote as a shell would)") from None
    return GatewaySettings(
        topology=path,
        head=head,
        fanout=fanout,
        connect_timeout=config.get_duration(
            "gateways", "connect_timeout", default=DEFAULT_CONNECT_TIMEOUT, minimum=1, maximum=600
        ),
        ssh_path=config.get("gateways", "ssh_path", default="ssh").strip() or "ssh",
        ssh_user=config.get("gateways", "ssh_user", default="").strip(),
        ssh_options=config.get("gateways", "ssh_options", default="").strip(),
        per_gateway=config.node_settings("gateways"),
        explicit=bool(named),
    )
