"""Defining a VM from its template: volumes first, then the domain, all or nothing.

1. Both templates (VM and volume) are compiled before anything is created.
2. Volumes of the template's roles that do not exist yet are created in the
   default pool (an existing one is kept, as the original tool did).
3. The VM XML is rendered and defined with ``VIR_DOMAIN_DEFINE_VALIDATE``:
   libvirt checks it against its schema instead of dropping what it does not
   know.
4. Any failure in 2-3 deletes the volumes this call created.
"""

from __future__ import annotations

import logging
from typing import Any

from clara_core import ClaraError
from clara_virt.connections import error_text, libvirt_module
from clara_virt.macs import vm_macs
from clara_virt.settings import Template, VirtConfig
from clara_virt.templates import load_template, render
from clara_virt.volumes import storage_pool

log = logging.getLogger(__name__)


def define_vm(config: VirtConfig, conn: Any, host: str, name: str, template: Template) -> None:
    """Create ``name``'s volumes and define it on ``host`` (the connection ``conn``)."""
    libvirt = libvirt_module()
    vm_template = load_template(config.template_dir, "vm", template.xml)
    vol_template = load_template(config.template_dir, "volume", "default.xml") if template.vol_roles else None
    pool = config.pool()
    params = config.vm_params(name, template)
    macs = vm_macs(config, name, template)
    pool_handle = storage_pool(conn, pool, host)

    existing = set(pool_handle.listVolumes())
    to_create: dict[str, str] = {}
    for role, capacity in template.vol_roles.items():
        vol_name = pool.volume_name(name, role)
        if vol_name in existing:
            log.info("volume %s of %s already exists: kept", vol_name, name)
            continue
        assert vol_template is not None
        to_create[vol_name] = render(vol_template, {
            "vol_name": vol_name, "vol_capacity_bytes": capacity, "vm_name": name, "vol_role": role,
        }, f"{config.template_dir / 'volume' / 'default.xml'} for {vol_name}")

    created: list[Any] = []
    try:
        for vol_name, xml in to_create.items():
            try:
                created.append(pool_handle.createXML(xml, 0))
            except libvirt.libvirtError as exc:
                raise ClaraError(f"{name}: cannot create volume {vol_name} on {host}: {error_text(exc)}") from None
        volumes = {}
        for role in template.vol_roles:
            vol_name = pool.volume_name(name, role)
            vol = pool_handle.storageVolLookupByName(vol_name)
            volumes[role] = {"pool_name": pool.name, "name": vol_name, "path": vol.path()}
        networks = {net: {"mac_address": mac, "type": config.network_type(net)} for net, mac in macs.items()}
        xml = render(vm_template, {**params, "name": name, "networks": networks, "volumes": volumes,
                                   "template_name": template.name, "host": host},
                     f"{config.template_dir / 'vm' / template.xml} for {name}")
        log.debug("rendered XML of %s:\n%s", name, xml)
        try:
            conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as exc:
            raise ClaraError(
                f"{name}: template {template.name} ({template.xml}) rejected by libvirt on {host}: {error_text(exc)}"
            ) from None
    except BaseException:
        for vol in created:
            try:
                vol.delete(0)
            except libvirt.libvirtError as exc:
                log.warning("could not remove volume %s after a failed define: %s", vol.name(), error_text(exc))
        raise
