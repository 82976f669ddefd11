"""Clara's EasyBuild plugin: ``clara easybuild`` installs software with EasyBuild's
``eb``, shows, hides and sets defaults of its Lmod modules, and backs software up
as tarballs that restore byte-identical trees. See ``docs/easybuild.md``.
"""

__version__ = "0.1.0"
