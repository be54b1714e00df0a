"""Approximate layers on 8xN multipliers (N-bit weights) with per-tensor and per-channel weight
quantization: inference against a numpy model built from the quantized codes, the fake-quant
path against a plain Keras layer on the dequantized N-bit weights, gradients, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from evoapproxnas.approx import (
    ApproxConv2D,
    ApproxDense,
    ApproxDepthwiseConv2D,
    set_multiplier,
)
from evoapproxnas.approx import reference as ref
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library

from .conftest import assert_straight_through

pytestmark = pytest.mark.tf

XN = "evoapproxlib8xNu"
KINDS = ("conv", "depthwise", "dense")
SCHEMES = ("per_tensor", "per_channel")
#: approximate circuits of every width, and the exact 8x8 of the library
APPROXIMATE = ["mul8x2u_0M1", "mul8x3u_109", "mul8x4u_3Y3", "mul8x5u_3M6", "mul8x6u_4RX",
               "mul8x7u_4L6", "mul8u_1JFF"]
EXACT = ["mul8x2u_106", "mul8x4u_2UU", "mul8x6u_049", "mul8u_1JFF"]


# ----------------------------------------------------------------- independent numpy model
def np_params(lo, hi, bits: int):
    """Asymmetric (scale, zero point) in float32 of ranges lo..hi (arrays: per channel)."""
    lo = np.minimum(np.asarray(lo, np.float32), np.float32(0))
    hi = np.maximum(np.asarray(hi, np.float32), np.float32(0))
    top = np.float32(2**bits - 1)
    scale = (np.maximum(hi - lo, np.float32(1e-8)) / top).astype(np.float32)
    zero = np.clip(np.round(-lo / scale), 0, top).astype(np.float32)
    return scale, zero


def np_codes(x, scale, zero, bits: int) -> np.ndarray:
    q = np.clip(np.round(x.astype(np.float32) / scale) + zero, 0, 2**bits - 1)
    return q.astype(np.uint8)


def kernel_params(kernel: np.ndarray, kind: str, scheme: str, bits: int):
    """Per-tensor scalars, or per output channel arrays shaped to broadcast on the kernel."""
    if scheme == "per_tensor":
        return np_params(kernel.min(), kernel.max(), bits)
    axes = {"conv": (0, 1, 2), "depthwise": (0, 1), "dense": (0,)}[kind]
    return np_params(kernel.min(axis=axes, keepdims=True), kernel.max(axis=axes, keepdims=True),
                     bits)


def np_layer(layer, x: np.ndarray, kind: str) -> np.ndarray:
    """Inference output from numpy: 8-bit activation codes, N-bit weight codes (N from the
    library's table), every product from the table; per output channel o the zero-point
    offsets are folded into the table, T_o[a, b] = lut[a, b] - zw_o*a - za*b + za*zw_o, and the
    reference kernels sum T_o over the channel's codes."""
    mult = load_library(layer.library)[layer.multiplier]
    bits = mult.weight_bits
    assert mult.lut.shape == (256, 2**bits)
    lo, hi, _ = layer.input_range.numpy()
    kernel = layer.kernel.numpy()
    sa, za = np_params(lo, hi, 8)
    sw, zw = kernel_params(kernel, kind, layer.weight_quantization, bits)
    qa, qw = np_codes(x, sa, za, 8), np_codes(kernel, sw, zw, bits)
    assert qw.max() < 2**bits
    if kind == "depthwise":
        c, dm = kernel.shape[2:]
        n_out = c * dm
    else:
        n_out = kernel.shape[-1]
    # per channel: keepdims arrays whose C-order flattening is the output channel order
    zw_out = zw.reshape(-1) if zw.ndim else np.full(n_out, zw)
    sw_out = sw.reshape(-1) if sw.ndim else np.full(n_out, sw)
    assert zw_out.shape == sw_out.shape == (n_out,)
    a = np.arange(256, dtype=np.int64)[:, None]
    b = np.arange(2**bits, dtype=np.int64)[None, :]
    outs = []
    for o in range(n_out):
        z = int(zw_out[o])
        table = mult.lut.astype(np.int64) - z * a - int(za) * b + int(za) * z
        if kind == "conv":
            sums = ref.ref_conv2d(qa, qw[..., o : o + 1], table, layer.strides, layer.padding,
                                  int(za))[..., 0]
        elif kind == "depthwise":
            ch, q = divmod(o, dm)
            sums = ref.ref_depthwise_conv2d(qa[..., ch : ch + 1], qw[:, :, ch : ch + 1, q : q + 1],
                                            table, layer.strides, layer.padding, int(za))[..., 0]
        else:
            flat = qa.reshape(-1, qa.shape[-1])
            sums = ref.ref_matmul(flat, qw[:, o : o + 1], table)[:, 0].reshape(qa.shape[:-1])
        outs.append(sums.astype(np.float64) * (float(sa) * float(sw_out[o])))
    return np.stack(outs, axis=-1).astype(np.float32) + layer.bias.numpy()


def make_layer(kind: str, name: str, scheme: str, **kw):
    common = {"multiplier": name, "library": XN, "weight_quantization": scheme,
              "bias_initializer": "random_normal", **kw}
    if kind == "conv":
        return ApproxConv2D(12, (3, 2), strides=(2, 1), padding="same", **common)
    if kind == "depthwise":
        return ApproxDepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2, **common)
    return ApproxDense(9, **common)


def calibrated(kind, name, scheme, x, **kw):
    layer = make_layer(kind, name, scheme, **kw)
    layer(x, training=True)
    return layer


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(3, 9, 8, 5)) + 0.7).astype(np.float32)


# ----------------------------------------------------------------- tests
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", APPROXIMATE)
@pytest.mark.parametrize("kind", KINDS)
def test_inference_matches_numpy_from_the_n_bit_codes(kind, name, scheme, x):
    keras.utils.set_random_seed(1)
    layer = calibrated(kind, name, scheme, x)
    assert layer.weight_bits == load_library(XN)[name].weight_bits
    got = layer(x, training=False).numpy()
    np.testing.assert_allclose(got, np_layer(layer, x, kind), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("kind", KINDS)
def test_exact_table_equals_keras_on_dequantized_n_bit_weights(kind, name, scheme, x):
    """The exact 8xN table and the fake-quantized training path both compute the float layer
    on 8-bit activations and N-bit weights (numpy dequantization, Keras' own layer)."""
    keras.utils.set_random_seed(2)
    layer = calibrated(kind, name, scheme, x)
    bits = load_library(XN)[name].weight_bits
    lo, hi, _ = layer.input_range.numpy()
    kernel = layer.kernel.numpy()
    sa, za = np_params(lo, hi, 8)
    sw, zw = kernel_params(kernel, kind, scheme, bits)
    xd = sa * (np_codes(x, sa, za, 8).astype(np.float32) - za)
    wd = sw * (np_codes(kernel, sw, zw, bits).astype(np.float32) - zw)
    if scheme == "per_channel":  # every output channel reaches an end of its own code range
        codes = np_codes(kernel, sw, zw, bits)
        axes = {"conv": (0, 1, 2), "depthwise": (0, 1), "dense": (0,)}[kind]
        assert np.all((codes.max(axis=axes) == 2**bits - 1) | (codes.min(axis=axes) == 0))
    cfg = {k: v for k, v in layer.get_config().items()
           if k not in ("multiplier", "library", "approx_training", "weight_quantization")}
    plain = {"conv": keras.layers.Conv2D, "depthwise": keras.layers.DepthwiseConv2D,
             "dense": keras.layers.Dense}[kind].from_config(cfg)
    plain.build(x.shape)
    plain.set_weights([wd, layer.bias.numpy()])
    want = plain(xd).numpy()
    tol = {"rtol": 1e-4, "atol": 1e-4 * np.abs(want).max()}
    np.testing.assert_allclose(layer(x, training=False).numpy(), want, **tol)
    state = layer.input_range.numpy()
    layer.input_range.assign([state[0], state[1], 0.0])  # first batch again: same range
    np.testing.assert_allclose(layer(x, training=True).numpy(), want, **tol)


@pytest.mark.parametrize("kind", KINDS)
def test_per_channel_beats_per_tensor_on_channels_of_different_scales(kind, x):
    """One channel's weights 100x larger: per tensor, the small channels get a few of the 16
    codes of an 8x4 multiplier; per channel each gets all of them (closer to the float layer)."""
    errors = {}
    for scheme in SCHEMES:
        keras.utils.set_random_seed(5)
        layer = calibrated(kind, "mul8x4u_2UU", scheme, x)
        kernel = layer.kernel.numpy()
        if kind == "depthwise":
            kernel[:, :, 0, 0] *= 100.0  # output channel 0 = c * dm + q with c = q = 0
        else:
            kernel[..., 0] *= 100.0
        layer.kernel.assign(kernel)
        float_out = tf.nn.bias_add(layer._float_op(tf.constant(x), tf.constant(kernel)),
                                   layer.bias).numpy()
        errors[scheme] = np.abs(layer(x, training=False).numpy() - float_out)[..., 1:].mean()
    assert errors["per_channel"] < 0.3 * errors["per_tensor"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", KINDS)
def test_training_through_the_tables_has_the_straight_through_gradient(kind, scheme, x):
    keras.utils.set_random_seed(3)
    exact_path = calibrated(kind, "mul8x4u_3Y3", scheme, x)
    tables = make_layer(kind, "mul8x4u_3Y3", scheme, approx_training=True)
    tables(x, training=True)
    tables.set_weights(exact_path.get_weights())
    table_out = assert_straight_through(exact_path, tables, x)
    np.testing.assert_allclose(table_out, np_layer(tables, x, kind), rtol=1e-5, atol=1e-5)


def small_model(scheme: str, multiplier: str = "mul8x4u_3Y3") -> keras.Model:
    keras.utils.set_random_seed(4)
    kw = {"multiplier": multiplier, "library": XN, "weight_quantization": scheme}
    inp = keras.Input((8, 8, 2))
    h = ApproxConv2D(4, 3, padding="same", activation="relu", name="c1", **kw)(inp)
    h = ApproxDepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="d1",
                              **kw)(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, ApproxDense(3, name="f1", **kw)(h))


def test_save_load_keeps_per_channel_and_the_8x4_multiplier(tmp_path):
    rng = np.random.default_rng(7)
    xs = rng.normal(size=(16, 8, 8, 2)).astype(np.float32)
    model = small_model("per_channel")
    model(xs, training=True)
    before = model.predict(xs, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for name in ("c1", "d1", "f1"):
        layer = loaded.get_layer(name)
        assert (layer.multiplier, layer.library) == ("mul8x4u_3Y3", XN)
        assert layer.weight_quantization == "per_channel" and layer.weight_bits == 4
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), before)
    # the same weights per tensor give other outputs: the scheme really was restored
    other = small_model("per_tensor")
    other.set_weights(model.get_weights())
    assert not np.allclose(other.predict(xs, verbose=0), before)


def test_configs_without_the_key_load_per_tensor_and_bad_schemes_are_refused():
    cfg = ApproxConv2D(4, 3, multiplier="mul8x4u_2UU", library=XN).get_config()
    assert cfg["weight_quantization"] == "per_tensor"
    del cfg["weight_quantization"]  # a model saved before the scheme existed
    assert ApproxConv2D.from_config(cfg).weight_quantization == "per_tensor"
    for cls, args in ((ApproxConv2D, (4, 3)), (ApproxDepthwiseConv2D, (3,)), (ApproxDense, (4,))):
        with pytest.raises(UserError, match="weight_quantization must be one of 'per_tensor', "
                                            "'per_channel', got 'per_row'"):
            cls(*args, weight_quantization="per_row")


def test_set_multiplier_to_another_width_requantizes_the_weights():
    rng = np.random.default_rng(8)
    xs = rng.normal(size=(8, 8, 8, 2)).astype(np.float32)
    model = small_model("per_channel", "mul8u_1JFF")
    model(xs, training=True)
    set_multiplier(model, "mul8x2u_106")
    assert model.get_layer("c1").weight_bits == 2
    want = small_model("per_channel", "mul8x2u_106")
    want.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(xs, verbose=0), want.predict(xs, verbose=0))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_fallback_backend_gives_the_same_layer_outputs(x, scheme, monkeypatch):
    layers = [calibrated(kind, "mul8x6u_4RX", scheme, x) for kind in KINDS]
    with_op = [layer(x, training=False).numpy() for layer in layers]
    monkeypatch.setenv("EVOAPPROXNAS_APPROX_BACKEND", "tf")
    for layer, want in zip(layers, with_op, strict=True):
        np.testing.assert_allclose(layer(x, training=False).numpy(), want, rtol=1e-6, atol=1e-6)
