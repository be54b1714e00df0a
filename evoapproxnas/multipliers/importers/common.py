"""What every importer produces: one circuit's table, signedness, figures and their sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evoapproxnas.multipliers.model import Multiplier


@dataclass
class ImportedCircuit:
    """A multiplier read from an outside file, before it joins a library.

    ``lut[a, b]`` is the output for first operand code ``a`` (8 bits) and second operand code
    ``b`` (``weight_bits`` N bits; shape ``(256, 2**N)``; int64 values, two's-complement operand
    bytes when ``signed``). ``figures`` maps
    ``power_mw``/``area_um2``/``delay_ns``/``luts`` to numbers, ``sources`` says where each
    comes from, ``info`` holds extra JSON-able facts, ``origin`` the file it was read from.
    """

    name: str
    lut: np.ndarray
    signed: bool
    origin: Path
    figures: dict[str, float | int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    weight_bits: int = 8

    def set_figure(self, key: str, value: float, source: str) -> None:
        """Record one hardware figure and where it comes from."""
        self.figures[key] = value
        self.sources[key] = source

    def to_multiplier(self, library: str = "") -> Multiplier:
        """Validate and build the :class:`Multiplier` (raises ``UserError`` naming the file)."""
        return Multiplier.from_table(
            self.name,
            self.lut,
            self.signed,
            **self.figures,
            sources=self.sources,
            library=library,
            info=self.info,
            where=str(self.origin),
            weight_bits=self.weight_bits,
        )
