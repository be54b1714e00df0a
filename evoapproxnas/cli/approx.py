"""``evoapproxnas build-op`` (temporary shim while the module moves)."""

from evoapproxnas.approx.cli import register  # noqa: F401
