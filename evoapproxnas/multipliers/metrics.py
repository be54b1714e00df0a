"""Error metrics of an 8xN-bit product table, with the definitions EvoApproxLib publishes.

A table ``lut[a, b]`` has one row per 8-bit activation code ``a`` (256) and one column per
N-bit weight code ``b`` (2^N, N = 2..8; N = 8 is the square 256x256 table). All 256 * 2^N
operand pairs are weighted equally. With ``e = lut[a, b] - exact(a, b)``:

- ``mae`` mean |e|; ``wce`` max |e|; ``mse`` mean e^2; ``mean_error`` mean e (the bias);
- ``mae_pct`` / ``wce_pct``: ``mae`` / ``wce`` relative to the output range 2^(8+N) (2^16 for
  8x8, 2^12 for 8x4), in percent;
- ``ep_pct``: share of operand pairs with e != 0, in percent;
- ``mre_pct`` / ``wcre_pct``: mean / max of |e| / |exact| in percent, over the pairs whose exact
  product is non-zero (EvoApproxLib skips exact == 0; this reproduces its published numbers,
  ``max(1, |exact|)`` does not).

For signed tables (8x8 only) the operands are the two's-complement bytes, and the exact product
is computed from the signed operand values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

BITS = 8
CODES = 1 << BITS
OUTPUT_RANGE = 1 << (2 * BITS)
ACTIVATION_BITS = BITS
"""Width of the activation operand (the table's rows): always 8."""
WEIGHT_BITS = range(2, BITS + 1)
"""Supported widths N of the weight operand (the table's columns, 2^N of them)."""


def table_shape(weight_bits: int = BITS) -> tuple[int, int]:
    """The shape of an 8xN table: ``(256, 2**weight_bits)``."""
    return (CODES, 1 << weight_bits)


def weight_bits_of(shape: tuple[int, ...]) -> int:
    """N of a table of shape ``(256, 2**N)``; ``ValueError`` for any other shape."""
    shape = tuple(shape)
    for n in WEIGHT_BITS:
        if shape == table_shape(n):
            return n
    raise ValueError(
        f"product table must have shape (256, 2**N) for an 8xN multiplier, N = 2..8 "
        f"((256, 256) for 8x8), got {shape}"
    )


@lru_cache(maxsize=2)
def operand_values(signed: bool) -> np.ndarray:
    """The operand value of each code 0..255 (two's complement when ``signed``), int64."""
    codes = np.arange(CODES, dtype=np.int64)
    values = np.where(codes >= CODES // 2, codes - CODES, codes) if signed else codes
    values.setflags(write=False)
    return values


@lru_cache(maxsize=16)
def exact_products(signed: bool, weight_bits: int = BITS) -> np.ndarray:
    """``exact[a, b]`` = value(a) * value(b) for all codes, int64, read-only.

    Shape ``(256, 2**weight_bits)``; ``b`` runs over the unsigned N-bit codes. Signed operands
    exist for 8x8 only (``ValueError`` otherwise).
    """
    weight_bits = int(weight_bits)
    if weight_bits not in WEIGHT_BITS:
        raise ValueError(f"weight_bits must be 2..8, got {weight_bits}")
    if signed and weight_bits != BITS:
        raise ValueError(f"signed multipliers are 8x8 only, not 8x{weight_bits}")
    values = operand_values(signed)
    table = np.multiply.outer(values, values[: 1 << weight_bits])
    table.setflags(write=False)
    return table


@dataclass(frozen=True)
class ErrorMetrics:
    """Error of a product table against the exact product (see module docstring).

    ``output_bits`` (8 + N) sets the range 2^output_bits that ``mae_pct`` and ``wce_pct`` are
    relative to.
    """

    mae: float
    wce: int
    mse: float
    mean_error: float
    ep_pct: float
    mre_pct: float
    wcre_pct: float
    output_bits: int = 2 * BITS

    @property
    def mae_pct(self) -> float:
        """Mean absolute error relative to the output range 2^(8+N), in percent."""
        return 100.0 * self.mae / (1 << self.output_bits)

    @property
    def wce_pct(self) -> float:
        """Worst-case absolute error relative to the output range 2^(8+N), in percent."""
        return 100.0 * self.wce / (1 << self.output_bits)

    @property
    def is_exact(self) -> bool:
        """True when the table equals the exact product everywhere."""
        return self.wce == 0

    def to_dict(self) -> dict[str, float]:
        """All metrics, the derived percentages included, as plain floats/ints."""
        out = asdict(self)
        out["mae_pct"] = self.mae_pct
        out["wce_pct"] = self.wce_pct
        return out


def _weight_bits(lut: np.ndarray, weight_bits: int | None) -> int:
    found = weight_bits_of(lut.shape)
    if weight_bits is not None and found != weight_bits:
        raise ValueError(
            f"product table of an 8x{weight_bits} multiplier must have shape "
            f"{table_shape(weight_bits)}, got {lut.shape}"
        )
    return found


def error_table(lut: np.ndarray, signed: bool, weight_bits: int | None = None) -> np.ndarray:
    """``lut - exact`` as int64 (the table's values taken as given, no wrap-around).

    ``weight_bits`` defaults to the table's shape ``(256, 2**N)``.
    """
    lut = np.asarray(lut)
    n = _weight_bits(lut, weight_bits)
    return lut.astype(np.int64) - exact_products(signed, n)


def compute_error_metrics(
    lut: np.ndarray, signed: bool, weight_bits: int | None = None
) -> ErrorMetrics:
    """Compute :class:`ErrorMetrics` of an 8xN table ``lut[a, b]`` of shape ``(256, 2**N)``.

    ``weight_bits`` (N) defaults to what the shape says; given, the shape must match it.
    Raises ``ValueError`` on any other shape, and for signed tables that are not 8x8.
    """
    lut = np.asarray(lut)
    n = _weight_bits(lut, weight_bits)
    err = error_table(lut, signed, n)
    abs_err = np.abs(err)
    exact = exact_products(signed, n)
    nonzero = exact != 0
    rel = abs_err[nonzero] / np.abs(exact[nonzero])
    return ErrorMetrics(
        mae=float(abs_err.mean()),
        wce=int(abs_err.max()),
        mse=float(np.mean(err.astype(np.float64) ** 2)),
        mean_error=float(err.mean()),
        ep_pct=100.0 * float(np.count_nonzero(err)) / err.size,
        mre_pct=100.0 * float(rel.mean()),
        wcre_pct=100.0 * float(rel.max()),
        output_bits=BITS + n,
    )


error_metrics = compute_error_metrics
