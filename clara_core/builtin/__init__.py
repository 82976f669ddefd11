"""The core's own commands and backends, registered through the same hooks as any plugin."""
