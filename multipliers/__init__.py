"""Bundled multiplier libraries (data only): one folder per library.

Installed as ``evoapproxnas.multipliers._bundled`` (a symlink in the source tree points here).
"""
