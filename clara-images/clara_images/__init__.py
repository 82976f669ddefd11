"""Clara's images plugin: ``clara images``, ``clara chroot`` and ``clara p2p``.

Root file systems are bootstrapped by an ``image_builder`` backend
(``debootstrap`` or ``mmdebstrap``), customised from the ``[images]`` or
``[chroot]`` section of the config, packed with squashfs-tools and
distributed over BitTorrent.
"""

from __future__ import annotations

__version__ = "0.1.0"
