"""8xN tables (N-bit weight codes, N = 2..8) and per-channel weight zero points and scales:
the op and the pure-TensorFlow fallback against the independent numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from evoapproxnas.approx import build, ops
from evoapproxnas.approx import reference as ref
from evoapproxnas.errors import UserError

from .conftest import case_seed, library_table

pytestmark = [pytest.mark.tf, pytest.mark.usefixtures("compiled_op")]

BACKENDS = ("op", "tf")
WIDTHS = tuple(range(2, 9))
XN = "evoapproxlib8xNu"
APPROXIMATE = {2: "mul8x2u_0M1", 3: "mul8x3u_109", 4: "mul8x4u_3Y3", 5: "mul8x5u_3M6",
               6: "mul8x6u_4RX", 7: "mul8x7u_4L6", 8: "mul8u_1JFF"}
"""A bundled EvoApproxLib circuit per weight width (8x8: the exact one of the 8xN library)."""
# (batch, h, w, cin, kh, kw, cout, strides, padding)
CASES = [
    (2, 7, 9, 5, 3, 3, 17, (1, 1), "SAME"),
    (3, 8, 8, 3, 3, 2, 40, (2, 1), "VALID"),
    (1, 9, 6, 20, 5, 5, 33, (2, 3), "SAME"),
    (2, 5, 5, 16, 1, 1, 3, (2, 2), "same"),
]
CASE_IDS = ["x".join(map(str, c[:7])) + c[8] for c in CASES]


def width_table(n: int, kind: str) -> np.ndarray:
    """A (256, 2**n) uint16 table: random values of an 8xn product (< 2**(8+n)), or the
    bundled circuit of that width."""
    if kind == "library":
        table = library_table(XN, APPROXIMATE[n])
        assert table.shape == (256, 2**n)
        return table
    rng = np.random.default_rng(case_seed("table", n))
    return rng.integers(0, 2 ** (8 + n), (256, 2**n)).astype(np.uint16)


def weight_codes(rng, shape, n: int) -> np.ndarray:
    codes = rng.integers(0, 2**n, shape).astype(np.uint8)
    codes.flat[0] = 2**n - 1  # the largest code always occurs
    return codes


def activation_codes(rng, shape) -> np.ndarray:
    return rng.integers(0, 256, shape).astype(np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["random", "library"])
@pytest.mark.parametrize("n", WIDTHS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv2d_with_n_bit_weights_is_bit_exact(case, n, kind, backend):
    b, h, w, cin, kh, kw, cout, strides, padding = case
    rng = np.random.default_rng(case_seed("conv", n, kind, case))
    table = width_table(n, kind)
    x = activation_codes(rng, (b, h, w, cin))
    k = weight_codes(rng, (kh, kw, cin, cout), n)
    pad = int(rng.integers(0, 256))
    got = ops.lut_conv2d(x, k, table, strides, padding, pad, backend=backend)
    np.testing.assert_array_equal(got.numpy(), ref.ref_conv2d(x, k, table, strides, padding, pad))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dm", (1, 2))
@pytest.mark.parametrize("n", WIDTHS)
@pytest.mark.parametrize("case", CASES[:3], ids=CASE_IDS[:3])
def test_depthwise_with_n_bit_weights_is_bit_exact(case, n, dm, backend):
    b, h, w, cin, kh, kw, _, strides, padding = case
    rng = np.random.default_rng(case_seed("dw", n, dm, case))
    table = width_table(n, "random")
    x = activation_codes(rng, (b, h, w, cin))
    k = weight_codes(rng, (kh, kw, cin, dm), n)
    pad = int(rng.integers(0, 256))
    got = ops.lut_depthwise_conv2d(x, k, table, strides, padding, pad, backend=backend)
    want = ref.ref_depthwise_conv2d(x, k, table, strides, padding, pad)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", WIDTHS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (33, 100, 21), (7, 300, 130)])
def test_matmul_with_n_bit_weights_is_bit_exact(shape, n, backend):
    m, k, cols = shape
    rng = np.random.default_rng(case_seed("mm", n, shape))
    table = width_table(n, "library")
    a = activation_codes(rng, (m, k))
    b = weight_codes(rng, (k, cols), n)
    got = ops.lut_matmul(a, b, table, backend=backend)
    np.testing.assert_array_equal(got.numpy(), ref.ref_matmul(a, b, table))


def centred_reference(x, k, table, strides, padding, za, zw, scale) -> np.ndarray:
    """The dequantized convolution from numpy alone: per output channel o a folded int64
    table ``lut[a, b] - zw[o]*a - za*b + za*zw[o]`` summed by the reference, times
    ``scale[o]``; ``zw``/``scale`` per channel (arrays) or per tensor (broadcast)."""
    cout = k.shape[3]
    zw = np.broadcast_to(np.asarray(zw, np.int64), (cout,))
    scale = np.broadcast_to(np.asarray(scale, np.float64), (cout,))
    a = np.arange(256, dtype=np.int64)[:, None]
    b = np.arange(table.shape[1], dtype=np.int64)[None, :]
    out = []
    for o in range(cout):
        folded = table.astype(np.int64) - zw[o] * a - za * b + za * zw[o]
        sums = ref.ref_conv2d(x, k[..., o : o + 1], folded, strides, padding, za)
        out.append(sums[..., 0] * scale[o])
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("n", WIDTHS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dequantized_conv2d_per_tensor_and_per_channel(case, n, per_channel, backend):
    b, h, w, cin, kh, kw, cout, strides, padding = case
    rng = np.random.default_rng(case_seed("q", n, per_channel, case))
    table = width_table(n, "library" if cout % 2 else "random")
    x = activation_codes(rng, (b, h, w, cin))
    k = weight_codes(rng, (kh, kw, cin, cout), n)
    za = int(rng.integers(0, 256))
    if per_channel:
        zw = rng.integers(0, 2**n, cout).astype(np.int32)
        scale = rng.uniform(0.01, 0.5, cout).astype(np.float32)
    else:
        zw, scale = int(rng.integers(0, 2**n)), np.float32(0.37)
    got = ops.quantized_conv2d(x, k, table, strides, padding, za, zw, scale,
                               backend=backend).numpy()
    want = centred_reference(x, k, table, strides, padding, za, zw, scale)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_channel_zero_points_with_a_shared_scale_and_the_reverse(backend):
    rng = np.random.default_rng(case_seed("mixed"))
    table = width_table(5, "library")
    x = activation_codes(rng, (2, 6, 6, 3))
    k = weight_codes(rng, (3, 3, 3, 7), 5)
    zw = rng.integers(0, 32, 7).astype(np.int32)
    scale = rng.uniform(0.01, 0.5, 7).astype(np.float32)
    for z, sc in ((zw, np.float32(0.2)), (11, scale)):
        got = ops.quantized_conv2d(x, k, table, 1, "SAME", 40, z, sc, backend=backend).numpy()
        want = centred_reference(x, k, table, (1, 1), "SAME", 40, z, sc)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", (2, 4, 6, 8))
def test_dequantized_matmul_per_channel(n, backend):
    rng = np.random.default_rng(case_seed("qmm", n))
    table = width_table(n, "library")
    a = activation_codes(rng, (29, 70))
    b = weight_codes(rng, (70, 11), n)
    za = int(rng.integers(0, 256))
    zw = rng.integers(0, 2**n, 11).astype(np.int32)
    scale = rng.uniform(0.01, 0.5, 11).astype(np.float32)
    got = ops.quantized_matmul(a, b, table, za, zw, scale, backend=backend).numpy()
    want = centred_reference(a[:, None, None, :], b[None, None], table, (1, 1), "VALID",
                             za, zw, scale)[:, 0, 0, :]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_per_channel_offsets_beyond_the_op_bound_use_the_fallback_sums():
    """K > 32768 taps: the op's dequantizing kernel refuses them, the exact-offset path in
    TensorFlow takes over; per-channel values there too."""
    rng = np.random.default_rng(4)
    table = width_table(4, "library")
    a = activation_codes(rng, (3, 33000))
    b = weight_codes(rng, (33000, 3), 4)
    zw = np.array([0, 7, 15], np.int32)
    scale = np.array([0.5, 0.25, 1e-3], np.float32)
    got = ops.quantized_matmul(a, b, table, 9, zw, scale, backend="op").numpy()
    want = centred_reference(a[:, None, None, :], b[None, None], table, (1, 1), "VALID",
                             9, zw, scale)[:, 0, 0, :]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("n", (2, 4, 7))
def test_weight_code_beyond_the_table_is_a_clear_error(n):
    table = width_table(n, "random")
    x = np.zeros((1, 4, 4, 2), np.uint8)
    k = np.zeros((3, 3, 2, 2), np.uint8)
    k[1, 2, 1, 0] = 2**n  # one code too large for an 8xn table
    match = rf"weight code {2**n} does not index the table of an 8x{n} multiplier"
    for backend in BACKENDS:
        with pytest.raises(UserError, match=match):
            ops.lut_conv2d(x, k, table, backend=backend)
        with pytest.raises(UserError, match=match):
            ops.lut_depthwise_conv2d(x, k, table, backend=backend)
        with pytest.raises(UserError, match=match):
            ops.lut_matmul(np.zeros((2, 18), np.uint8), k.reshape(18, 2), table,
                           backend=backend)
        with pytest.raises(UserError, match=match):
            ops.quantized_conv2d(x, k, table, 1, "VALID", 0, 0, 1.0, backend=backend)
    # inside a graph the codes are not known in Python: the op and the fallback refuse them
    lut = ops.check_table(table)[0]
    module = build.load()
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"table of {2**n} weight codes"):
        module.evo_lut_conv2d(x, k, lut, 0, strides=[1, 1], pads=[0, 0, 0, 0],
                              out_type=tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"table of {2**n} weight codes"):
        module.evo_lut_depthwise_conv2d(x, k, lut, 0, strides=[1, 1], pads=[0, 0, 0, 0],
                                        out_type=tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"table of {2**n} weight codes"):
        module.evo_lut_conv2d_dequant(x, k, lut, 0, 0, 1.0, tf.zeros([2]), strides=[1, 1],
                                      pads=[0, 0, 0, 0])

    @tf.function
    def fallback(xs, ks):
        return ops.lut_conv2d(xs, ks, table, backend="tf")

    with pytest.raises(tf.errors.InvalidArgumentError, match=f"table of {2**n} weight codes"):
        fallback(tf.constant(x), tf.constant(k))
    k[1, 2, 1, 0] = 2**n - 1  # the largest code is fine
    np.testing.assert_array_equal(fallback(tf.constant(x), tf.constant(k)).numpy(),
                                  ref.ref_conv2d(x, k, table))


def test_per_channel_values_of_the_wrong_length_are_refused():
    table = width_table(4, "random")
    x = np.zeros((1, 4, 4, 2), np.uint8)
    k = np.zeros((3, 3, 2, 5), np.uint8)
    for backend in BACKENDS:
        with pytest.raises(UserError, match=r"w_zero must be a scalar or hold one value per "
                                            r"output channel \(5\)"):
            ops.quantized_conv2d(x, k, table, 1, "VALID", 0, np.zeros(4, np.int32), 1.0,
                                 backend=backend)
        with pytest.raises(UserError, match="scale must be a scalar"):
            ops.quantized_conv2d(x, k, table, 1, "VALID", 0, 0, np.ones(6, np.float32),
                                 backend=backend)
    lut = ops.check_table(table)[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="one value per output channel"):
        build.load().evo_lut_conv2d_dequant(x, k, lut, 0, tf.zeros([4], tf.int32),
                                            tf.ones([5]), tf.zeros([5]), strides=[1, 1],
                                            pads=[0, 0, 0, 0])
