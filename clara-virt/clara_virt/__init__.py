"""Clara's virt plugin: VMs spread over several libvirt hosts, described by jinja2 templates."""

__version__ = "0.1.0"
