"""Clara's package plugin: ``clara repo`` and ``clara build``.

Backends: ``package_repo`` "reprepro" (Debian) and "createrepo" (RPM), ``mirror`` "debmirror" and
"reprepro-update", ``package_builder`` "cowbuilder" and "sbuild".
"""

__version__ = "0.1.0"
