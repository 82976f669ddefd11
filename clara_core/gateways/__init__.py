"""Node commands through ClusterShell gateways (``[gateways]``, ``topology.conf``).

Large clusters put their BMC networks behind service nodes. When a ClusterShell
topology file says that some nodes are reached through gateways, the head runs
Clara itself on each gateway over that gateway's share of the node set, and
merges what comes back with the nodes it serves itself.

* :mod:`~clara_core.gateways.settings`: the ``[gateways]`` keys;
* :mod:`~clara_core.gateways.topology`: the topology file read and routed by
  ClusterShell (``TopologyParser``, ``PropagationTreeRouter``);
* :mod:`~clara_core.gateways.protocol`: the JSON request and JSON lines exchanged;
* :mod:`~clara_core.gateways.cmdline`: the running command rebuilt for a gateway;
* :mod:`~clara_core.gateways.remote`: the ssh runs (ClusterShell ``Task``), retries;
* :mod:`~clara_core.gateways.route`: the hook of ``Context.dispatch``;
* :mod:`~clara_core.gateways.serve`: the gateway's side (``clara gateway-serve``).

The package itself holds only what every node command needs when it is built
(the ``--gateway-fanout`` bound and where its value is kept): the rest is
imported when a command runs.
"""

from __future__ import annotations

from clara_core.config import WholeNumberRule

#: Gateways driven at once (``fanout``, ``--gateway-fanout``).
DEFAULT_FANOUT = 64
MAX_FANOUT = 4096
#: ``[gateways] fanout``, ``--gateway-fanout``: gateways driven at once.
GATEWAY_FANOUT = WholeNumberRule(1, MAX_FANOUT)
#: Where ``--gateway-fanout`` is kept for the run (``click.Context.meta``).
FANOUT_KEY = "clara.gateway_fanout"
