"""A third-party Clara plugin used by the core's tests."""
