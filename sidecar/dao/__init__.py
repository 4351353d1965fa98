"""Data-access layer: every SQL statement the sidecar runs against its own tables."""
