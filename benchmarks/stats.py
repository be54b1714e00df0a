"""Paired statistics of a benchmark: one value per seed for a variant and for its baseline.

Every comparison is paired by seed (the same seed gives both runs the same validation split
and the same first population for the NSGA-II engines), so the tests are on the per-seed
differences or ratios:

- ``wilcoxon_p``: two-sided Wilcoxon signed-rank p-value of the differences
  (``scipy.stats.wilcoxon``, exact distribution when there are no ties or zeros, zeros
  dropped as Wilcoxon did);
- ``sign_test_p``: two-sided sign test of wins against losses (ties dropped;
  ``scipy.stats.binomtest``);
- ``median_ratio``: the median of the per-seed ratios ``variant / baseline`` with a
  percentile bootstrap 95 % interval (``scipy.stats.bootstrap``, seeded, so a table printed
  twice is the same table);
- ``compare``: all of it in one ``Comparison`` record.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 20261207
"""Seed of the bootstrap's resampling (fixed: the interval is part of the table)."""


def _paired(variant, baseline) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(variant, float), np.asarray(baseline, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two equal-length vectors, got {a.shape} and "
                         f"{b.shape}")
    return a, b


def wilcoxon_p(variant, baseline) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``variant - baseline`` (NaN when every
    difference is zero or there are none)."""
    from scipy.stats import wilcoxon

    a, b = _paired(variant, baseline)
    if not np.any(a != b):
        return math.nan
    return float(wilcoxon(a, b, zero_method="wilcox", alternative="two-sided").pvalue)


def wins(variant, baseline) -> tuple[int, int, int]:
    """Seeds on which the variant is ahead, behind, level."""
    a, b = _paired(variant, baseline)
    return int(np.sum(a > b)), int(np.sum(a < b)), int(np.sum(a == b))


def sign_test_p(variant, baseline) -> float:
    """Two-sided sign test of the wins against the losses (ties dropped; NaN when none)."""
    from scipy.stats import binomtest

    ahead, behind, _ = wins(variant, baseline)
    if ahead + behind == 0:
        return math.nan
    return float(binomtest(ahead, ahead + behind, 0.5).pvalue)


def median_ratio(variant, baseline, confidence: float = 0.95,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """Median of the per-seed ratios ``variant / baseline`` and its percentile bootstrap
    interval ``(median, low, high)``; seeds whose baseline is 0 are left out (NaN when none
    is left; the interval is the median itself for a single seed)."""
    from scipy.stats import bootstrap

    a, b = _paired(variant, baseline)
    keep = b != 0
    ratios = a[keep] / b[keep]
    if not len(ratios):
        return math.nan, math.nan, math.nan
    middle = float(np.median(ratios))
    if len(ratios) < 2 or np.all(ratios == ratios[0]):
        return middle, middle, middle
    result = bootstrap((ratios,), np.median, confidence_level=confidence,
                       n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                       rng=np.random.default_rng(seed))
    interval = result.confidence_interval
    return middle, float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Comparison:
    """A variant against the baseline on one indicator, paired over ``n`` seeds."""

    n: int
    median_variant: float
    median_baseline: float
    median_ratio: float
    ratio_low: float
    ratio_high: float
    wins: int
    losses: int
    ties: int
    wilcoxon_p: float
    sign_p: float

    def to_dict(self) -> dict:
        return asdict(self)


def compare(variant, baseline) -> Comparison:
    """Every statistic of this module for one indicator (per-seed values, seed order)."""
    a, b = _paired(variant, baseline)
    ratio, low, high = median_ratio(a, b)
    ahead, behind, level = wins(a, b)
    return Comparison(n=len(a), median_variant=float(np.median(a)) if len(a) else math.nan,
                      median_baseline=float(np.median(b)) if len(b) else math.nan,
                      median_ratio=ratio, ratio_low=low, ratio_high=high, wins=ahead,
                      losses=behind, ties=level, wilcoxon_p=wilcoxon_p(a, b),
                      sign_p=sign_test_p(a, b))
