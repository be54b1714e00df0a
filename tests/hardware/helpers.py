"""Shared test helpers: a stand-in multiplier with the fields the cost models read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FakeMultiplier:
    name: str
    power_mw: float | None = None
    area_um2: float | None = None
    luts: float | None = None
    signed: bool = False
    library: str = "test"
    is_exact: bool = False

    @property
    def key(self) -> str:
        return self.name


EXACT = FakeMultiplier("exact8u", 0.391, 709.6, None, is_exact=True)
HALF = FakeMultiplier("half8u", 0.1955, 354.8)
