"""Plugins that are broken on purpose."""
