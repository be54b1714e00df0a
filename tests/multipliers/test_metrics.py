"""Error metrics against hand-computed cases and EvoApproxLib's published figures."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.multipliers import compute_error_metrics, load_library
from evoapproxnas.multipliers.metrics import exact_products

# EvoApproxLib's published figures, shipped with the tests (see its README.md)
METRICS_CSV = Path(__file__).resolve().parents[1] / "data" / "evoapproxlib" / "metrics.csv"


def published_rows() -> dict[str, dict[str, float]]:
    """Published metrics per circuit, as the circuits' headers print them."""
    with open(METRICS_CSV, newline="") as fh:
        return {
            r["name"]: {k: float(v) for k, v in r.items() if k not in ("name", "c_signature")}
            for r in csv.DictReader(fh)
        }


def unit(published: float, sig: int = 2) -> float:
    """One unit in the ``sig``-th significant digit of a published number."""
    return 10.0 ** (math.floor(math.log10(abs(published))) - sig + 1)


def all_bundled():
    return [m for lib in ("evoapproxlib8u", "evoapproxlib8s") for m in load_library(lib)]


def test_exact_products_signed_operands():
    ex = exact_products(True)
    assert ex[0xFF, 0xFF] == 1  # (-1) * (-1)
    assert ex[0x80, 0x80] == 16384  # (-128) * (-128)
    assert ex[0x80, 0x01] == -128
    assert ex[0x7F, 0x81] == 127 * -127
    assert exact_products(False)[255, 255] == 65025


def test_hand_made_table():
    lut = exact_products(False).astype(np.int64).copy()
    lut[3, 5] += 4  # exact 15 -> relative error 4/15
    lut[0, 7] = 2  # exact 0: counts for MAE/EP but not for MRE/WCRE
    lut[200, 100] -= 1000  # exact 20000
    m = compute_error_metrics(lut, signed=False)
    n = 65536
    assert m.mae == pytest.approx((4 + 2 + 1000) / n)
    assert m.wce == 1000
    assert m.mse == pytest.approx((16 + 4 + 1e6) / n)
    assert m.mean_error == pytest.approx((4 + 2 - 1000) / n)
    assert m.ep_pct == pytest.approx(100 * 3 / n)
    nonzero = n - 511  # pairs with a or b zero have exact product 0
    assert m.mre_pct == pytest.approx(100 * (4 / 15 + 1000 / 20000) / nonzero)
    assert m.wcre_pct == pytest.approx(100 * 4 / 15)
    assert m.mae_pct == pytest.approx(100 * m.mae / 2**16)
    assert m.wce_pct == pytest.approx(100 * 1000 / 2**16)


def test_all_zero_table_metrics():
    m = compute_error_metrics(np.zeros((256, 256), np.uint16), signed=False)
    assert m.mre_pct == pytest.approx(100.0) and m.wcre_pct == pytest.approx(100.0)
    assert m.wce == 255 * 255
    assert m.ep_pct == pytest.approx(100 * (65536 - 511) / 65536)


def test_bundled_libraries_match_published_metrics():
    published = published_rows()
    muls = all_bundled()
    assert len(muls) == 49 and {m.name for m in muls} == set(published)
    for m in muls:
        p = published[m.name]
        c = m.metrics
        if p["mae"] == 0:
            assert c.is_exact, m.name
            continue
        assert c.wce == p["wce"], m.name
        # EvoApproxLib prints 2 significant digits (integers above 100); some MAEs of signed
        # circuits are truncated rather than rounded, hence one unit for MAE.
        assert abs(c.mae - p["mae"]) <= unit(p["mae"]) + 1e-9, m.name
        assert abs(c.mse - p["mse"]) <= 0.5 * unit(p["mse"]) + 1e-9, m.name
        assert abs(c.mre_pct - p["mre_pct"]) <= 0.5 * unit(p["mre_pct"]) + 1e-9, m.name
        assert abs(c.ep_pct - p["ep_pct"]) <= 0.005 + 1e-9, m.name
        assert abs(c.wcre_pct - p["wcre_pct"]) <= 0.005 + 1e-9, m.name
        assert abs(c.wce_pct - p["wce_pct"]) <= 0.5 * unit(p["wce_pct"]) + 1e-9, m.name
        # the published MAE% was derived from the already rounded MAE, then rounded again
        tol = 100 * unit(p["mae"]) / 2**16 + 0.5 * unit(p["mae_pct"])
        assert abs(c.mae_pct - p["mae_pct"]) <= tol + 1e-12, m.name


def test_mre_skips_zero_products_not_max_one():
    """The alternative definition |e| / max(1, |exact|) misses the published MRE of mul8u_2AC."""
    published = published_rows()["mul8u_2AC"]["mre_pct"]
    lut = load_library("evoapproxlib8u")["mul8u_2AC"].lut.astype(np.int64)
    exact = exact_products(False)
    alt = 100 * np.mean(np.abs(lut - exact) / np.maximum(1, exact))
    assert abs(alt - published) > 10
    ours = compute_error_metrics(lut, signed=False).mre_pct
    assert abs(ours - published) <= 0.5 * unit(published)


def test_signed_metrics_need_signed_operands():
    """Read as unsigned, a signed table is far off its published MAE."""
    m = load_library("evoapproxlib8s")["mul8s_1KR6"]
    wrong = compute_error_metrics(m.lut.view(np.uint16), signed=False)
    assert m.metrics.mae < 33.5 and wrong.mae > 1000


def test_wrong_shape_rejected():
    with pytest.raises(ValueError, match="256, 256"):
        compute_error_metrics(np.zeros((16, 16)), signed=False)


# ------------------------------------------------------------------ 8xN operand widths
def test_exact_products_8xn():
    for n in range(2, 9):
        ex = exact_products(False, n)
        assert ex.shape == (256, 2**n) and ex[255, 2**n - 1] == 255 * (2**n - 1)
        assert not ex.flags.writeable
    np.testing.assert_array_equal(exact_products(False, 8), exact_products(False))
    with pytest.raises(ValueError, match="8x8 only"):
        exact_products(True, 4)
    with pytest.raises(ValueError, match="2..8"):
        exact_products(False, 9)


def test_hand_made_8x4_table_percentages_of_2_to_12():
    a, b = np.arange(256)[:, None], np.arange(16)[None, :]
    lut = (a * b) & ~3  # the two lowest output bits cleared
    m = compute_error_metrics(lut, signed=False)
    err = (a * b) & 3
    n = 256 * 16
    assert m.output_bits == 12
    assert m.mae == pytest.approx(err.sum() / n) and m.wce == 3
    assert m.mae_pct == pytest.approx(100 * m.mae / 2**12)
    assert m.wce_pct == pytest.approx(100 * 3 / 4096)
    assert m.ep_pct == pytest.approx(100 * np.count_nonzero(err) / n)
    nonzero = (a * b) != 0
    rel = (err / np.where(nonzero, a * b, 1))[nonzero]
    assert m.mre_pct == pytest.approx(100 * rel.mean())
    assert m.to_dict()["output_bits"] == 12
    # given explicitly, the width must agree with the shape
    assert compute_error_metrics(lut, False, weight_bits=4) == m
    with pytest.raises(ValueError, match=r"8x5 multiplier must have shape \(256, 32\)"):
        compute_error_metrics(lut, False, weight_bits=5)


def test_8x8_metrics_keep_2_to_16():
    m = load_library("evoapproxlib8u")["mul8u_2AC"].metrics
    assert m.output_bits == 16 and m.mae_pct == pytest.approx(100 * m.mae / 2**16)
