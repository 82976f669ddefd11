"""MAC addresses of VM interfaces: from ``[vm:<name>] net_<network>_mac``, else derived.

A derived address is the original tool's: Xen's OUI ``00:16:3e`` followed by
the first three bytes of SHA-1 of the VM name and the network name, so a VM
keeps its MAC addresses across define/undefine and ``clara virt getmacs``
gives them before the VM exists (for DHCP and PXE configuration).
"""

from __future__ import annotations

import hashlib

from clara_virt.settings import Template, VirtConfig


def generate_mac(vm_name: str, network: str, salt: str = "") -> str:
    """The derived MAC address of ``vm_name`` on ``network``."""
    digest = hashlib.sha1(f"{vm_name}{network}{salt}".encode()).hexdigest()[:6]
    return ":".join(["00", "16", "3e", digest[0:2], digest[2:4], digest[4:6]])


def vm_macs(config: VirtConfig, vm_name: str, template: Template) -> dict[str, str]:
    """``{network: mac}`` of ``vm_name``, in the template's (or the VM's) network order."""
    networks = config.vm_params(vm_name, template)["network_list"]
    assert isinstance(networks, list)
    return {net: config.vm_mac(vm_name, net) or generate_mac(vm_name, net) for net in networks}
