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
"""
