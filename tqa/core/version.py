"""The package version (one place; read by manifests and cache metadata)."""

__version__ = "0.1.0"
