"""Storage volumes of VMs in the default pool: find, create from template, wipe, delete."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from clara_core import ClaraError
from clara_core.protocols import VolumeInfo
from clara_virt.connections import error_text, libvirt_module
from clara_virt.settings import Pool

#: :class:`~clara_core.protocols.VolumeInfo` is the core's; re-exported for older imports.
__all__ = ["VolumeInfo", "pool_volumes", "storage_pool", "wipe_volume"]


def storage_pool(conn: Any, pool: Pool, host: str) -> Any:
    """The libvirt pool ``pool.name`` on ``host``; a clear error when it is missing."""
    libvirt = libvirt_module()
    try:
        handle = conn.storagePoolLookupByName(pool.name)
        if not handle.isActive():
            raise ClaraError(f"host {host}: storage pool {pool.name} is not active")
        handle.refresh(0)
    except libvirt.libvirtError as exc:
        raise ClaraError(f"host {host}: storage pool {pool.name}: {error_text(exc)}") from None
    return handle


def pool_volumes(conn: Any, pool: Pool, host: str) -> list[VolumeInfo]:
    """Every volume of the pool that follows ``vol_pattern``."""
    handle = storage_pool(conn, pool, host)
    found = []
    for vol in handle.listAllVolumes(0):
        parsed = pool.parse_volume(vol.name())
        if parsed is None:
            continue
        _type, capacity, allocation = vol.info()
        found.append(VolumeInfo(vol.name(), parsed[0], parsed[1], pool.name, capacity, allocation, vol.path()))
    return found


def wipe_volume(pool_handle: Any, name: str) -> None:
    """Erase a volume: delete it and create it again, empty, with the same definition.

    ``virStorageVolWipe`` is not available on every pool type (Ceph RBD, the
    test driver); recreating the volume is, and leaves nothing of the old data.
    """
    vol = pool_handle.storageVolLookupByName(name)
    root = ET.fromstring(vol.XMLDesc(0))
    for tag in ("key", "allocation", "physical"):
        for element in root.findall(tag):
            root.remove(element)
    ET.SubElement(root, "allocation", unit="bytes").text = "0"
    xml = ET.tostring(root, encoding="unicode")
    vol.delete(0)
    pool_handle.createXML(xml, 0)
