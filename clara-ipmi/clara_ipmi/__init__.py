"""Clara's IPMI plugin: the ``ipmi`` backend (pyghmi) for power, boot device and
event logs, and the seed's ``clara ipmi`` commands."""

__version__ = "0.1.0"
