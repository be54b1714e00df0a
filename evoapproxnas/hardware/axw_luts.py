"""Synthesized LUT counts of exact AxW multipliers (A, W = 2..8), shipped as data.

``data/axw_luts.json`` is made by ``python -m evoapproxnas.multipliers.importers.axw_luts``
(yosys; the file records the yosys version, the Verilog and the commands). Fabrics: ``lut6``
(Xilinx 7-series ``synth_xilinx``, LUT1..LUT6), ``lut4`` (generic ``synth -lut 4``) and
``cycloneive`` (``synth_intel -family cycloneive`` logic elements); operand kinds ``us``
(unsigned activation x two's-complement weight, the fixed-point format) and ``uu``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from evoapproxnas.errors import UserError

DATA = Path(__file__).resolve().parent / "data" / "axw_luts.json"
FABRICS = ("lut6", "lut4", "cycloneive")
KINDS = ("us", "uu")
WIDTHS = range(2, 9)


@cache
def table() -> dict:
    """The shipped document: ``tool``, ``flows``, ``rows`` (one per A, W, kind)."""
    try:
        return json.loads(DATA.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the AxW LUT table {DATA.name}: {exc}") from None


@cache
def _index() -> dict[tuple[int, int, str], dict]:
    return {(r["activation_bits"], r["weight_bits"], r["kind"]): r for r in table()["rows"]}


def multiplier_luts(activation_bits: int, weight_bits: int, fabric: str = "cycloneive",
                    kind: str = "us") -> int:
    """LUTs of the exact ``activation_bits x weight_bits`` multiplier on ``fabric``."""
    for name, value in (("activation bits", activation_bits), ("weight bits", weight_bits)):
        if isinstance(value, bool) or not isinstance(value, int) or value not in WIDTHS:
            raise UserError(f"{name} must be a whole number 2..8, got {value!r}")
    if fabric not in FABRICS:
        raise UserError(f"LUT fabric must be one of {', '.join(FABRICS)}, got {fabric!r}")
    if kind not in KINDS:
        raise UserError(f"multiplier kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return int(_index()[(activation_bits, weight_bits, kind)][fabric])
