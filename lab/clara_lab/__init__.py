"""Starters for the real peers Clara's tests and demo drive on one machine.

One module per peer (``ipmisim``, ``sushy``, ``slurm``, ...), each with a
function that starts it under a directory and returns a handle that stops it.
Not a Clara plugin: a development aid, installed by ``scripts/setup.sh``.
"""
