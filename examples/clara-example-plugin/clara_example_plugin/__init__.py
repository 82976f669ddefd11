"""An example Clara plugin: a ``power`` backend driven by a site's own program.

* :mod:`clara_example_plugin.plugin`: the module named by the entry point; it
  only registers (light imports);
* :mod:`clara_example_plugin.backend`: the ``example`` power backend, built
  when a command first uses it;
* :mod:`clara_example_plugin.cli`: the ``clara example`` command group.
"""

__version__ = "0.1.0"
