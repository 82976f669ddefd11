"""Clara's SLURM plugin: the ``slurm`` scheduler backend and the ``clara slurm`` commands.

It drives SLURM through its own programs (``scontrol``, ``sinfo --json``),
runs health checks on nodes through ClusterShell, and never scrapes columns.
See ``docs/slurm.md``.
"""

__version__ = "0.1.0"
