"""A site's Clara plugin that replaces the ``ipmi`` and ``slurm`` backends of Clara's own plugins."""
