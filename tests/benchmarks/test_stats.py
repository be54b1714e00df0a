"""The benchmark's paired statistics (benchmarks/stats.py) against independent references:
the exact Wilcoxon signed-rank distribution enumerated by brute force, a sign-test value
computed by hand, and a numpy percentile bootstrap."""

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "benchmark_stats", Path(__file__).resolve().parents[2] / "benchmarks" / "stats.py")
stats = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = stats  # dataclasses look their module up
_SPEC.loader.exec_module(stats)

# a fixed table: ten seeds, hypervolumes of a variant and of the baseline (no ties, no zeros)
VARIANT = [0.712, 0.655, 0.701, 0.690, 0.643, 0.731, 0.668, 0.702, 0.689, 0.676]
BASELINE = [0.690, 0.664, 0.652, 0.671, 0.650, 0.689, 0.640, 0.713, 0.655, 0.675]


def brute_force_wilcoxon(a, b) -> float:
    """Two-sided exact p of the signed-rank statistic: every one of the 2^n sign patterns of
    the ranked absolute differences (no ties among them)."""
    d = np.asarray(a) - np.asarray(b)
    d = d[d != 0]
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    observed = ranks[d > 0].sum()
    total = ranks.sum()
    extreme = min(observed, total - observed)
    count = sum(1 for signs in itertools.product((0, 1), repeat=len(d))
                if min(s := ranks[np.array(signs, bool)].sum(), total - s) <= extreme)
    return count / 2 ** len(d)


def test_wilcoxon_equals_the_exact_distribution_enumerated():
    expected = brute_force_wilcoxon(VARIANT, BASELINE)
    assert stats.wilcoxon_p(VARIANT, BASELINE) == pytest.approx(expected, rel=1e-12)
    # all ten ahead: the most extreme of 1024 patterns, on either side
    ahead = [b + 0.01 * (i + 1) for i, b in enumerate(BASELINE)]
    assert stats.wilcoxon_p(ahead, BASELINE) == pytest.approx(2 / 1024)
    assert math.isnan(stats.wilcoxon_p(BASELINE, BASELINE))


def test_sign_test_by_hand():
    # four wins of five (the figure): 2 * (C(5,4) + C(5,5)) / 2^5 = 12 / 32
    assert stats.sign_test_p([2, 2, 2, 2, 0], [1, 1, 1, 1, 1]) == pytest.approx(0.375)
    # the fixed table: 7 wins, 3 losses: 2 * (C(10,0)+C(10,1)+C(10,2)+C(10,3)) / 1024
    assert stats.wins(VARIANT, BASELINE) == (7, 3, 0)
    assert stats.sign_test_p(VARIANT, BASELINE) == pytest.approx(2 * 176 / 1024)
    assert stats.wins([1, 2, 3], [1, 1, 4]) == (1, 1, 1)


def test_median_ratio_and_its_bootstrap_interval():
    ratios = np.array(VARIANT) / np.array(BASELINE)
    middle, low, high = stats.median_ratio(VARIANT, BASELINE)
    assert middle == pytest.approx(float(np.median(ratios)))
    # an independent percentile bootstrap of the median (numpy, another seed) agrees
    rng = np.random.default_rng(5)
    medians = np.median(ratios[rng.integers(0, len(ratios), (20000, len(ratios)))], axis=1)
    ref_low, ref_high = np.percentile(medians, [2.5, 97.5])
    assert low == pytest.approx(ref_low, abs=0.005) and high == pytest.approx(ref_high, abs=0.005)
    assert low <= middle <= high and low < high
    assert stats.median_ratio(VARIANT, BASELINE) == (middle, low, high)  # seeded
    assert stats.median_ratio([2.0], [1.0]) == (2.0, 2.0, 2.0)
    assert all(math.isnan(v) for v in stats.median_ratio([1.0], [0.0]))


def test_compare_collects_everything_and_refuses_unpaired_values():
    result = stats.compare(VARIANT, BASELINE)
    assert (result.n, result.wins, result.losses, result.ties) == (10, 7, 3, 0)
    assert result.median_baseline == pytest.approx(float(np.median(BASELINE)))
    assert result.to_dict()["wilcoxon_p"] == result.wilcoxon_p
    with pytest.raises(ValueError, match="equal-length"):
        stats.compare([1.0, 2.0], [1.0])
