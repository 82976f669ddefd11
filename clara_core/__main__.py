"""``python -m clara_core`` runs the ``clara`` command."""

from clara_core.cli.launch import main

main()
