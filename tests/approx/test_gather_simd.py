"""The table gathering of every SIMD build of the op (AVX-512 permutes, AVX2 transposes,
generic loop) against the numpy reference: every weight width, output channel counts around
the 16-column padding, and 16-bit patterns of unsigned and signed tables."""

from __future__ import annotations

import numpy as np
import pytest

from evoapproxnas.approx import build, ops
from evoapproxnas.approx import reference as ref

from .conftest import case_seed, random_codes

pytestmark = [pytest.mark.tf, pytest.mark.usefixtures("compiled_op")]

# padding columns (np - N) of 15, 1, 0, 0, 15, 1 and 13
COUTS = (1, 15, 16, 32, 33, 47, 51)


@pytest.fixture
def simd_build(request, monkeypatch):
    """Asks the run-time dispatch for one build; skips when the CPU lacks it."""
    simd = request.param
    monkeypatch.setenv(build.ENV_SIMD, simd)
    monkeypatch.delitem(ops._op_state, "simd_checked", raising=False)
    info = build.simd_info()
    if simd not in info.supported:
        pytest.skip(f"this CPU lacks {build.SIMD_NAMES[simd]}")
    assert info.kernel == simd and not info.fallback
    return simd


def _check(table: np.ndarray, signed: bool, seed) -> None:
    rng = np.random.default_rng(case_seed("gather", *seed))
    width = table.shape[1]
    for cout in COUTS:
        x = random_codes(rng, (1, 5, 4, 3), signed)
        if signed:
            k = random_codes(rng, (2, 3, 3, cout), True)
        else:
            k = rng.integers(0, width, (2, 3, 3, cout)).astype(np.uint8)
            k.flat[0] = width - 1  # the largest code always occurs
        got = ops.lut_conv2d(x, k, table, (1, 1), "SAME", 0, backend="op").numpy()
        np.testing.assert_array_equal(got, ref.ref_conv2d(x, k, table, (1, 1), "SAME", 0),
                                      err_msg=f"cout={cout}")


@pytest.mark.parametrize("simd_build", ["avx512", "avx2", "generic"], indirect=True)
@pytest.mark.parametrize("n", range(2, 9))
def test_unsigned_tables_of_every_width(simd_build, n):
    rng = np.random.default_rng(case_seed("table", simd_build, n))
    table = rng.integers(0, 65536, (256, 2**n)).astype(np.uint16)  # all 16 bits used
    _check(table, False, (simd_build, n))


@pytest.mark.parametrize("simd_build", ["avx512", "avx2", "generic"], indirect=True)
def test_signed_tables(simd_build):
    rng = np.random.default_rng(case_seed("signed table", simd_build))
    table = rng.integers(-32768, 32768, (256, 256)).astype(np.int16)
    table[0, 0], table[255, 255] = -32768, 32767
    _check(table, True, (simd_build,))
