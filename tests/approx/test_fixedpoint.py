"""Fixed-point layers at A-bit activations and W-bit weights (Lu et al.'s Eq. 1 and 2) against
a numpy fixed-point model written here from the paper's formulas (integer codes, a direct
convolution loop, no code of the package), compared bit for bit; range-scaled narrow
activations; the bit-width checks."""

from __future__ import annotations

import numpy as np
import pytest

from evoapproxnas.approx import fixedpoint
from evoapproxnas.approx.fixedpoint import BitWidths
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library

from .conftest import case_seed

# (A, W, Af, Wf): widths 2..8 on both operands, binary points from all-integer to all-fraction
CASES = [(8, 8, 4, 6), (4, 3, 2, 2), (2, 5, 1, 4), (6, 2, 3, 1), (3, 8, 0, 7), (5, 4, 5, 0)]


# ------------------------------------------------------------- the numpy fixed-point model
def q_act(x: np.ndarray, a: int, af: int) -> np.ndarray:
    """Eq. 1 as integer codes: clip(round(x / 2**-Af), 0, 2**A - 1)."""
    return np.clip(np.round(x.astype(np.float64) * 2.0**af), 0, 2**a - 1).astype(np.int64)


def q_weight(w: np.ndarray, bits: int, wf: int) -> np.ndarray:
    """Eq. 2 as integer codes: clip(round(w / 2**-Wf), -2**(W-1), 2**(W-1) - 1)."""
    half = 2 ** (bits - 1)
    return np.clip(np.round(w.astype(np.float64) * 2.0**wf), -half, half - 1).astype(np.int64)


def np_conv(qa: np.ndarray, qw: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Integer NHWC x HWIO convolution by a loop over output pixels (TensorFlow's SAME
    split: the extra padding row / column goes after)."""
    n, h, w, _ = qa.shape
    kh, kw, _, co = qw.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - w, 0)
        qa = np.pad(qa, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, co), np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = qa[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, qw, axes=([1, 2, 3], [0, 1, 2]))
    return out


def reference(x, kernel, bias, bits: BitWidths, conv=None) -> np.ndarray:
    """The layer's output from integer codes: sum(qa * qw) * 2**-(Af+Wf) + Q(bias)."""
    a, w = bits.activation_bits, bits.weight_bits
    af, wf = bits.activation_frac_bits, bits.weight_frac_bits
    qa, qw, qb = q_act(x, a, af), q_weight(kernel, w, wf), q_weight(bias, w, wf)
    acc = conv(qa, qw) if conv else qa @ qw
    total = acc + qb * 2**af  # integers in units of 2**-(Af+Wf)
    assert np.abs(total).max() < 2**24 and np.abs(acc).max() < 2**24  # float32 holds them
    return (total * 2.0 ** -(af + wf)).astype(np.float32)


def random_tensors(seed, x_shape, k_shape, a, af):
    """Inputs spread over (and beyond) the activation range, with negatives; weights and
    biases of a few units, beyond the weight range for some."""
    rng = np.random.default_rng(seed)
    top = 2.0 ** (a - af)
    x = rng.uniform(-0.2 * top, 1.2 * top, x_shape).astype(np.float32)
    kernel = rng.normal(0.0, 0.7, k_shape).astype(np.float32)
    bias = rng.normal(0.0, 0.7, k_shape[-1]).astype(np.float32)
    return x, kernel, bias


# ------------------------------------------------------------------------ TensorFlow tests
@pytest.mark.tf
@pytest.mark.parametrize("a,w,af,wf", CASES)
@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same")])
def test_conv_at_a_w_matches_the_fixed_point_reference(a, w, af, wf, stride, padding):
    from evoapproxnas.approx import ApproxConv2D

    bits = BitWidths(a, w, af, wf)
    x, kernel, bias = random_tensors(case_seed(a, w, af, wf, stride), (2, 7, 6, 3),
                                     (3, 2, 3, 5), a, af)
    layer = ApproxConv2D(5, (3, 2), strides=stride, padding=padding,
                         **fixedpoint.layer_kwargs(bits))
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    got = layer(x, training=False).numpy()
    want = reference(x, kernel, bias, bits, lambda qa, qw: np_conv(qa, qw, stride, padding))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert layer.weight_bits == w  # the exact 8xW table
    assert q_act(x, a, af).max() == 2**a - 1  # the inputs reach the clip


@pytest.mark.tf
@pytest.mark.parametrize("a,w,af,wf", CASES[:4])
def test_dense_at_a_w_matches_the_fixed_point_reference(a, w, af, wf):
    from evoapproxnas.approx import ApproxDense

    bits = BitWidths(a, w, af, wf)
    x, kernel, bias = random_tensors(case_seed("dense", a, w), (4, 37), (37, 6), a, af)
    layer = ApproxDense(6, **fixedpoint.layer_kwargs(bits))
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    np.testing.assert_array_equal(layer(x, training=False).numpy(),
                                  reference(x, kernel, bias, bits))


@pytest.mark.tf
def test_training_forward_equals_inference_and_config_round_trips():
    """The fake-quantized training forward computes the same fixed-point values (float sums,
    so to rounding), and the widths survive get_config / from_config."""
    from evoapproxnas.approx import ApproxConv2D

    bits = BitWidths(4, 3, 2, 2)
    x, kernel, bias = random_tensors(7, (2, 6, 6, 3), (3, 3, 3, 4), 4, 2)
    layer = ApproxConv2D(4, 3, **fixedpoint.layer_kwargs(bits))
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    infer = layer(x, training=False).numpy()
    np.testing.assert_allclose(layer(x, training=True).numpy(), infer, rtol=0, atol=1e-5)
    twin = ApproxConv2D.from_config(layer.get_config())
    assert (twin.activation_bits, twin.activation_frac_bits, twin.weight_frac_bits) == (4, 2, 2)
    assert twin.multiplier == layer.multiplier and twin.weight_bits == 3


@pytest.mark.tf
@pytest.mark.parametrize("a", [2, 5])
def test_range_scaled_activations_use_2_to_the_a_levels(a):
    """Without a binary point, activations are A-bit codes scaled from the learned range: the
    output equals a numpy model with 2**A - 1 steps over that range (and 8-bit weights)."""
    from evoapproxnas.approx import ApproxDense

    rng = np.random.default_rng(a)
    x = rng.uniform(0.0, 3.0, (40, 11)).astype(np.float32)
    kernel = rng.integers(-3, 4, (11, 3)).astype(np.float32)
    kernel[0, 0], kernel[1, 0] = -3.0, 3.0  # the weight range is [-3, 3]
    layer = ApproxDense(3, use_bias=False, multiplier="mul8u_1JFF", library="evoapproxlib8u",
                        activation_bits=a)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    layer(x, training=True)  # first step: the range is this batch's min and max
    lo, hi, _ = layer.input_range.numpy()
    assert lo == np.float32(x.min()) and hi == np.float32(x.max())
    scale_a = np.float32((np.float32(hi) - np.float32(0.0)) / np.float32(2**a - 1))
    qa = np.clip(np.round(x / scale_a), 0, 2**a - 1)
    assert len(np.unique(qa)) == 2**a
    scale_w = np.float32(6.0) / np.float32(255)
    zw = np.round(np.float32(3.0) / scale_w)
    qw = np.clip(np.round(kernel / scale_w) + zw, 0, 255) - zw
    want = (qa @ qw) * np.float64(scale_a) * np.float64(scale_w)
    np.testing.assert_allclose(layer(x, training=False).numpy(), want, rtol=1e-6, atol=1e-6)


@pytest.mark.tf
def test_layer_refuses_bad_widths_in_one_line():
    from evoapproxnas.approx import ApproxConv2D, ApproxDense

    with pytest.raises(UserError, match="activation_bits must be a whole number 2..8"):
        ApproxDense(3, activation_bits=9)
    with pytest.raises(UserError, match="weight_frac_bits.*0..3"):
        ApproxDense(3, multiplier="mul8x3u_0KE", library="evoapproxlib8xNu", weight_frac_bits=4)
    with pytest.raises(UserError, match="unsigned multiplier"):
        ApproxDense(3, multiplier="mul8s_1KV8", library="evoapproxlib8s", activation_bits=4)
    with pytest.raises(UserError, match="per tensor"):
        ApproxConv2D(3, 3, weight_frac_bits=2, weight_quantization="per_channel")


# ---------------------------------------------------------------------- no TensorFlow
def test_exact_tables_are_the_products_and_the_library_holds_each_width():
    for w in range(2, 9):
        for a in (2, 5, 8):
            table = fixedpoint.exact_table(a, w)
            assert table.shape == (256, 2**w) and table.dtype == np.uint16
            for code_a in (0, 1, 2**a - 1):
                for code_w in (0, 1, 2**w - 1):
                    assert int(table[code_a, code_w]) == code_a * code_w
        name = fixedpoint.exact_multiplier(w)
        mult = load_library(fixedpoint.EXACT_LIBRARY)[name]
        assert mult.weight_bits == w
        a_codes = np.arange(256)[:, None]
        np.testing.assert_array_equal(mult.lut.astype(np.int64), a_codes * np.arange(2**w))


def test_bit_widths_and_the_papers_split():
    bits = BitWidths.from_split(2, 3, 1, 5)  # Ai, Af, Wi, Wf
    assert (bits.activation_bits, bits.weight_bits) == (5, 6)
    assert (bits.activation_int_bits, bits.weight_int_bits) == (2, 1)
    assert fixedpoint.activation_fixed_params(5, 3) == (0.125, 0.0)
    assert fixedpoint.weight_fixed_params(6, 5) == (1 / 32, 32.0)
    assert BitWidths(3, 4).activation_int_bits is None
    for bad, match in (((1, 8), "activation_bits"), ((8, 9), "weight_bits"),
                       ((8, 8, 9), "activation_frac_bits"), ((4, 4, None, -1), "weight_frac"),
                       ((8.0, 8), "activation_bits"), ((True, 8), "activation_bits")):
        with pytest.raises(UserError, match=match):
            BitWidths(*bad)
    with pytest.raises(UserError, match="Ai must be"):
        BitWidths.from_split(-1, 3, 1, 1)
    with pytest.raises(UserError, match="weight_bits must be a whole number 2..8, got 10"):
        BitWidths.from_split(1, 1, 3, 7)
