"""Clara's Redfish backend: power, boot device and event log over Redfish (HTTP with urllib3).

The plugin module is :mod:`clara_redfish.plugin`; it registers the backend
``redfish`` for the ``power``, ``boot_device`` and ``sel`` capabilities and the
``clara redfish`` command group. Nothing heavy is imported here.
"""

__version__ = "0.1.0"
