"""Bit-exact agreement of the product-table kernels with the independent numpy reference."""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from evoapproxnas.approx import build, ops
from evoapproxnas.approx import reference as ref
from evoapproxnas.errors import UserError

from .conftest import case_seed, random_codes

pytestmark = [pytest.mark.tf, pytest.mark.usefixtures("compiled_op")]

BACKENDS = ("op", "tf")
TABLES = ("random_u", "random_s", "exact_u", "exact_s", "zero_u", "L40_u")
# (batch, h, w, cin, kh, kw, cout, strides, padding)
CONV_CASES = [
    (2, 7, 9, 5, 3, 3, 17, (1, 1), "SAME"),
    (3, 8, 8, 3, 3, 2, 40, (2, 1), "VALID"),
    (1, 11, 6, 70, 5, 5, 70, (2, 3), "SAME"),
    (2, 5, 5, 16, 1, 1, 33, (2, 2), "SAME"),
    (1, 6, 7, 9, 4, 4, 64, (3, 2), "same"),
    (4, 3, 3, 2, 3, 3, 1, (1, 1), "VALID"),
]


def _signed(name: str) -> bool:
    return name.endswith("_s")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:7])) + c[8])
def test_conv2d_bit_exact(tables, table, case, backend):
    b, h, w, cin, kh, kw, cout, strides, padding = case
    rng = np.random.default_rng(case_seed(table, case))
    signed = _signed(table)
    x = random_codes(rng, (b, h, w, cin), signed)
    k = random_codes(rng, (kh, kw, cin, cout), signed)
    pad_code = int(random_codes(rng, (), signed))
    got = ops.lut_conv2d(x, k, tables[table], strides, padding, pad_code, backend=backend)
    want = ref.ref_conv2d(x, k, tables[table], strides, padding, pad_code)
    assert got.dtype.name == "int32"
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("table", ("random_u", "random_s", "L40_u"))
@pytest.mark.parametrize("dm", (1, 3))
@pytest.mark.parametrize("case", CONV_CASES[:5], ids=lambda c: "x".join(map(str, c[:7])) + c[8])
def test_depthwise_bit_exact(tables, table, dm, case, backend):
    b, h, w, cin, kh, kw, _, strides, padding = case
    rng = np.random.default_rng(case_seed(table, dm, case))
    signed = _signed(table)
    x = random_codes(rng, (b, h, w, cin), signed)
    k = random_codes(rng, (kh, kw, cin, dm), signed)
    pad_code = int(random_codes(rng, (), signed))
    got = ops.lut_depthwise_conv2d(x, k, tables[table], strides, padding, pad_code,
                                   backend=backend)
    want = ref.ref_depthwise_conv2d(x, k, tables[table], strides, padding, pad_code)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (33, 100, 21), (7, 300, 130)])
def test_matmul_bit_exact(tables, table, shape, backend):
    m, k, n = shape
    rng = np.random.default_rng(case_seed(table, shape))
    signed = _signed(table)
    a = random_codes(rng, (m, k), signed)
    b = random_codes(rng, (k, n), signed)
    got = ops.lut_matmul(a, b, tables[table], backend=backend)
    np.testing.assert_array_equal(got.numpy(), ref.ref_matmul(a, b, tables[table]))


def test_matmul_switches_to_int64_beyond_the_int32_bound(tables):
    rng = np.random.default_rng(5)
    k = 40000  # 40000 * 65535 > 2**31 - 1
    a = np.full((3, k), 255, np.uint8)
    a[1] = rng.integers(0, 256, k)
    b = rng.integers(0, 256, (k, 5)).astype(np.uint8)
    b[:, 0] = 255
    lut = np.full((256, 256), 65535, np.uint16)
    lut[:128] = tables["random_u"][:128]
    got = ops.lut_matmul(a, b, lut, backend="op")
    assert got.dtype.name == "int64"
    want = ref.ref_matmul(a, b, lut)
    assert want.max() > 2**31
    np.testing.assert_array_equal(got.numpy(), want)


def test_exact_table_equals_integer_products(tables):
    rng = np.random.default_rng(9)
    x = random_codes(rng, (2, 6, 6, 4), False)
    k = random_codes(rng, (3, 3, 4, 8), False)
    got = ops.lut_conv2d(x, k, tables["exact_u"], 1, "VALID", backend="op").numpy()
    patches = np.lib.stride_tricks.sliding_window_view(x.astype(np.int64), (3, 3), axis=(1, 2))
    want = np.einsum("bhwcij,ijco->bhwo", patches, k.astype(np.int64))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "lut, match",
    [
        (np.zeros((256, 256), np.float32), "uint16 .* or int16"),
        (np.zeros((256, 256), np.int32), "uint16 .* or int16"),
        (np.zeros((256, 255), np.uint16), r"shape \(256, 2\*\*N\)"),
        (np.zeros((65536,), np.uint16), r"shape \(256, 2\*\*N\)"),
        (np.zeros((256, 2), np.uint16), r"shape \(256, 2\*\*N\)"),  # 8x1: not a width
        (np.zeros((256, 16), np.int16), "signed product tables must be 8x8"),
        ([[0] * 256] * 256, "uint16 .* or int16"),
    ],
)
def test_bad_tables_are_rejected(lut, match):
    a = np.zeros((2, 3), np.uint8)
    with pytest.raises(UserError, match=match):
        ops.lut_matmul(a, a.T, lut)


def test_bad_codes_and_arguments_are_rejected(tables):
    x = np.zeros((1, 4, 4, 2), np.uint8)
    k = np.zeros((3, 3, 2, 1), np.uint8)
    with pytest.raises(UserError, match="int8 for a signed"):
        ops.lut_conv2d(x, k, tables["random_s"])
    with pytest.raises(UserError, match="uint8 for a unsigned"):
        ops.lut_conv2d(x.astype(np.int32), k, tables["random_u"])
    with pytest.raises(UserError, match="padding must be"):
        ops.lut_conv2d(x, k, tables["random_u"], padding="FULL")
    with pytest.raises(UserError, match="pad_code"):
        ops.lut_conv2d(x, k, tables["random_u"], padding="SAME", pad_code=300)
    with pytest.raises(UserError, match="channels"):
        ops.lut_conv2d(x, np.zeros((3, 3, 3, 1), np.uint8), tables["random_u"])
    with pytest.raises(UserError, match="backend"):
        ops.lut_conv2d(x, k, tables["random_u"], backend="gpu")


def test_fallback_warns_once_and_matches_the_op(tables, monkeypatch):
    rng = np.random.default_rng(3)
    x = random_codes(rng, (2, 9, 9, 6), False)
    k = random_codes(rng, (3, 3, 6, 12), False)
    with_op = ops.lut_conv2d(x, k, tables["L40_u"], 2, "SAME", 17, backend="op").numpy()

    def no_compiler(*args, **kwargs):
        raise build.BuildError("no C++ compiler found (simulated)")

    monkeypatch.setattr(build, "load", no_compiler)
    monkeypatch.setattr(ops, "_op_state", {})
    with pytest.warns(RuntimeWarning, match="pure-TensorFlow fallback") as record:
        first = ops.lut_conv2d(x, k, tables["L40_u"], 2, "SAME", 17).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = ops.lut_conv2d(x, k, tables["L40_u"], 2, "SAME", 17).numpy()
    assert len(record) == 1
    np.testing.assert_array_equal(first, with_op)
    np.testing.assert_array_equal(second, with_op)
    with pytest.raises(UserError, match="simulated"):
        ops.lut_conv2d(x, k, tables["L40_u"], backend="op")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("table", ("random_u", "L40_u", "random_s"))
@pytest.mark.parametrize("case", CONV_CASES[:4], ids=lambda c: "x".join(map(str, c[:7])) + c[8])
def test_quantized_conv2d_matches_centred_reference(tables, table, case, backend):
    b, h, w, cin, kh, kw, cout, strides, padding = case
    rng = np.random.default_rng(case_seed("q", table, case))
    signed = _signed(table)
    x = random_codes(rng, (b, h, w, cin), signed)
    k = random_codes(rng, (kh, kw, cin, cout), signed)
    za, zw = (0, 0) if signed else (int(rng.integers(0, 256)), int(rng.integers(0, 256)))
    scale = np.float32(0.37)
    got = ops.quantized_conv2d(x, k, tables[table], strides, padding, za, zw, scale,
                               backend=backend).numpy()
    codes = np.arange(256, dtype=np.int64)
    centred = tables[table].astype(np.int64) - zw * codes[:, None] - za * codes[None, :] + za * zw
    want = ref.ref_conv2d(x, k, centred, strides, padding, za) * np.float64(scale)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    if not signed:  # the same as the integer sums minus exact offsets
        a = ops.quantized_matmul(x.reshape(-1, cin), k[0, 0], tables[table], za, zw, scale,
                                 backend=backend).numpy()
        want_mm = ref.ref_matmul(x.reshape(-1, cin), k[0, 0], centred) * np.float64(scale)
        np.testing.assert_allclose(a, want_mm, rtol=1e-6, atol=1e-6 * np.abs(want_mm).max())


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (independent of the op's CPUID test)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo to read the CPU's features from (not Linux)")
    flags = next((line for line in text.splitlines() if line.startswith("flags")), None)
    if flags is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("not an x86-64 CPU with a flags line in /proc/cpuinfo")
    return set(flags.split(":", 1)[1].split())


@pytest.fixture
def no_simd_request(monkeypatch):
    """No $EVOAPPROXNAS_OP_SIMD, and the once-per-value check of ops forgotten."""
    monkeypatch.delenv(build.ENV_SIMD, raising=False)
    monkeypatch.delitem(ops._op_state, "simd_checked", raising=False)
    return monkeypatch


def test_simd_info_reports_the_best_kernel_the_cpu_flags_allow(no_simd_request):
    flags = cpu_flags()
    want = ["avx512"] if {"avx512f", "avx512bw", "avx512vl"} <= flags else []
    want += ["avx2"] if {"avx2", "fma"} <= flags else []
    info = ops.simd_info()
    assert info.supported == (*want, "generic")
    assert info.kernel == info.supported[0] and info.requested is None and not info.fallback
    assert info.quantize_kernel == ("avx512" if want[:1] == ["avx512"] else "generic")
    assert f"SIMD kernel in use: {info.kernel}" in info.describe()
    assert info.library.name == build.library_path().name  # this source, these flags


@pytest.mark.parametrize("simd", ["avx512", "avx2", "generic"])
def test_every_simd_build_of_the_hot_loop_is_bit_exact(tables, simd, no_simd_request):
    no_simd_request.setenv(build.ENV_SIMD, simd)  # asks the run-time dispatch for this build
    info = build.simd_info()
    if simd not in info.supported:
        pytest.skip(f"this CPU lacks {build.SIMD_NAMES[simd]}: the {simd} kernel cannot run "
                    f"here (the op would fall back to {info.kernel})")
    assert info.kernel == simd and not info.fallback  # the build under test really runs
    rng = np.random.default_rng(case_seed("simd", simd))
    # output widths: one and several passes of the widest register chunk (128 columns on
    # AVX-512, 64 on AVX2), a ragged last gather chunk (33 = 32 + 1)
    for table, cout in (("random_u", 80), ("random_s", 48), ("L40_u", 16), ("random_u", 150),
                        ("exact_s", 33)):
        signed = _signed(table)
        x = random_codes(rng, (2, 9, 7, 13), signed)
        k = random_codes(rng, (3, 3, 13, cout), signed)
        got = ops.lut_conv2d(x, k, tables[table], (2, 1), "SAME", 0, backend="op").numpy()
        np.testing.assert_array_equal(got, ref.ref_conv2d(x, k, tables[table], (2, 1), "SAME", 0))
    test_fused_quantization_matches_the_tensorflow_formula(False)
    test_fused_quantization_matches_the_tensorflow_formula(True)


def test_a_kernel_the_cpu_lacks_runs_the_best_one_with_one_warning(tables, no_simd_request):
    supported = build.simd_info().supported
    missing = [k for k in build.SIMD_KERNELS if k not in supported]
    if not missing:
        pytest.skip(f"this CPU supports every SIMD build ({', '.join(supported)}): no kernel it "
                    "lacks to fall back from")
    no_simd_request.setenv(build.ENV_SIMD, missing[-1])
    info = build.simd_info()
    assert info.fallback and info.kernel == supported[0] and info.requested == missing[-1]
    assert "lacks" in info.describe()
    rng = np.random.default_rng(8)
    x = random_codes(rng, (2, 6, 6, 5), False)
    k = random_codes(rng, (3, 3, 5, 20), False)
    with pytest.warns(RuntimeWarning, match=f"lacks {build.SIMD_NAMES[missing[-1]]}"):
        got = ops.lut_conv2d(x, k, tables["L40_u"], (1, 1), "SAME", 3, backend="op").numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per value of the variable
        ops.lut_conv2d(x, k, tables["L40_u"], 1, "SAME", 3, backend="op")
    np.testing.assert_array_equal(got, ref.ref_conv2d(x, k, tables["L40_u"], (1, 1), "SAME", 3))


def test_fallback_report_and_warning_with_the_dispatcher_answer_stubbed(no_simd_request):
    """The reporting side of a fallback, on any CPU: the dispatcher's answer is stubbed as an
    AVX2-only CPU asked for AVX-512 (the test above runs the real one where a CPU lacks one)."""
    stub = build.SimdInfo(kernel="avx2", supported=("avx2", "generic"), requested="avx512",
                          library=Path("lut_ops.so"))
    assert stub.fallback and stub.quantize_kernel == "generic"
    assert stub.fallback_message() == (
        "EVOAPPROXNAS_OP_SIMD=avx512 asks for the AVX-512 kernel but this CPU lacks AVX-512; "
        "the op uses AVX2 (avx2) instead")
    text = stub.describe()
    assert "SIMD kernel in use: avx2" in text and "CPU supports: avx2, generic" in text
    assert "warning: " in text
    no_simd_request.setattr(build, "simd_info", lambda: stub)
    no_simd_request.setenv(build.ENV_SIMD, "avx512")
    a = np.ones((2, 3), np.uint8)
    lut = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    with pytest.warns(RuntimeWarning, match="lacks AVX-512; the op uses AVX2"):
        ops.lut_matmul(a, a.T, lut, backend="op")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.lut_matmul(a, a.T, lut, backend="op")


def test_unknown_simd_name_is_refused_by_python_and_by_the_op(tables, no_simd_request):
    no_simd_request.setenv(build.ENV_SIMD, "avx-512")
    x = np.zeros((1, 4, 4, 2), np.uint8)
    k = np.zeros((3, 3, 2, 1), np.uint8)
    with pytest.raises(UserError, match="EVOAPPROXNAS_OP_SIMD must be one of avx512, avx2"):
        ops.lut_conv2d(x, k, tables["random_u"], backend="op")
    with pytest.raises(UserError, match="'avx-512'"):
        build.simd_info()
    table = ops.check_table(tables["random_u"])[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be avx512, avx2 or generic"):
        build.load().evo_lut_conv2d(x, k, table, 0, strides=[1, 1], pads=[0, 0, 0, 0],
                                    out_type=tf.int32)
    ops.lut_conv2d(x, k, tables["random_u"], backend="tf")  # the TensorFlow path ignores it
    no_simd_request.setenv(build.ENV_SIMD, "AVX2")  # names are case-insensitive
    assert build.simd_info().requested == "avx2"


@pytest.mark.parametrize("signed", [False, True])
def test_fused_quantization_matches_the_tensorflow_formula(signed):
    from evoapproxnas.approx import quant

    rng = np.random.default_rng(11)
    scale, zero = np.float32(0.05), np.float32(0 if signed else 37)
    x = (rng.normal(size=(4, 7, 5, 3)) * 4).astype(np.float32)
    x.flat[:40] = (np.arange(-20, 20) + 0.5) * scale  # exact ties: round half to even
    x.flat[40:44] = [1e9, -1e9, 0.0, -0.0]
    got = ops.quantize_codes(x, scale, zero, signed, backend="op")
    want = quant.to_codes(quant.quantize(x, scale, zero, signed), signed)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    tf_path = ops.quantize_codes(x, scale, zero, signed, backend="tf")
    np.testing.assert_array_equal(tf_path.numpy(), want.numpy())
