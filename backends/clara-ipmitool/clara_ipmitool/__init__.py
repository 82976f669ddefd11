"""Clara's ``ipmitool`` backend: power, boot device and event logs by running
``ipmitool -I lanplus`` (the password through ``IPMI_PASSWORD`` and ``-E``)."""

__version__ = "0.1.0"
