"""Error metrics of an 8x8-bit product table, with the definitions EvoApproxLib publishes.

All 2^16 operand pairs are weighted equally. With ``e = lut[a, b] - exact(a, b)``:

- ``mae`` mean |e|; ``wce`` max |e|; ``mse`` mean e^2; ``mean_error`` mean e (the bias);
- ``mae_pct`` / ``wce_pct``: ``mae`` / ``wce`` relative to the output range 2^16, in percent;
- ``ep_pct``: share of operand pairs with e != 0, in percent;
- ``mre_pct`` / ``wcre_pct``: mean / max of |e| / |exact| in percent, over the pairs whose exact
  product is non-zero (EvoApproxLib skips exact == 0; this reproduces its published numbers,
  ``max(1, |exact|)`` does not).

For signed tables the operands are the two's-complement bytes, and the exact product is
computed from the signed operand values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

BITS = 8
CODES = 1 << BITS
OUTPUT_RANGE = 1 << (2 * BITS)


@lru_cache(maxsize=2)
def operand_values(signed: bool) -> np.ndarray:
    """The operand value of each code 0..255 (two's complement when ``signed``), int64."""
    codes = np.arange(CODES, dtype=np.int64)
    values = np.where(codes >= CODES // 2, codes - CODES, codes) if signed else codes
    values.setflags(write=False)
    return values


@lru_cache(maxsize=2)
def exact_products(signed: bool) -> np.ndarray:
    """``exact[a, b]`` = value(a) * value(b) for all codes, int64, read-only."""
    values = operand_values(signed)
    table = np.multiply.outer(values, values)
    table.setflags(write=False)
    return table


@dataclass(frozen=True)
class ErrorMetrics:
    """Error of a product table against the exact product (see module docstring)."""

    mae: float
    wce: int
    mse: float
    mean_error: float
    ep_pct: float
    mre_pct: float
    wcre_pct: float

    @property
    def mae_pct(self) -> float:
        """Mean absolute error relative to the output range 2^16, in percent."""
        return 100.0 * self.mae / OUTPUT_RANGE

    @property
    def wce_pct(self) -> float:
        """Worst-case absolute error relative to the output range 2^16, in percent."""
        return 100.0 * self.wce / OUTPUT_RANGE

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


def error_table(lut: np.ndarray, signed: bool) -> np.ndarray:
    """``lut - exact`` as int64 (the table's values taken as given, no wrap-around)."""
    return np.asarray(lut, dtype=np.int64) - exact_products(signed)


def compute_error_metrics(lut: np.ndarray, signed: bool) -> ErrorMetrics:
    """Compute :class:`ErrorMetrics` of a 256x256 table ``lut[a, b]``."""
    lut = np.asarray(lut)
    if lut.shape != (CODES, CODES):
        raise ValueError(f"product table must have shape (256, 256), got {lut.shape}")
    err = error_table(lut, signed)
    abs_err = np.abs(err)
    exact = exact_products(signed)
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
    )


error_metrics = compute_error_metrics
