"""Fails at import, as a plugin whose dependency is missing would."""

import clara_missing_dependency  # noqa: F401
