"""Keras layers: table path against an independent numpy model, fake-quant equivalence with the
exact table, batch independence, gradients, save/load, multiplier swap, parameter counts."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

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

U8, S8 = "evoapproxlib8u", "evoapproxlib8s"
MULTIPLIERS = [(U8, "mul8u_L40"), (U8, "mul8u_1JFF"), (S8, "mul8s_1L2H"), (S8, "mul8s_1KV8")]


# ----------------------------------------------------------------- independent numpy model
def np_params(lo: float, hi: float, signed: bool) -> tuple[np.float32, np.float32]:
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    if signed:
        return np.float32(max(-lo, hi, 1e-8) / np.float32(127)), np.float32(0)
    scale = np.float32(max(hi - lo, 1e-8) / np.float32(255))
    return scale, np.float32(np.clip(np.round(-lo / scale), 0, 255))


def np_codes(x, scale, zp, signed):
    lo, hi = (-127, 127) if signed else (0, 255)
    q = np.clip(np.round(x.astype(np.float32) / scale) + zp, lo, hi)
    return q.astype(np.int8 if signed else np.uint8)


def np_layer(layer, x: np.ndarray, kind: str) -> np.ndarray:
    """Output of a calibrated layer in eval mode, from numpy: every qa*qw read from the table,
    offsets folded into an int64 table T[a, b] = (a' - za) * (b' - zw) with a'b' -> lut."""
    mult = load_library(layer.library)[layer.multiplier]
    signed = mult.signed
    lo, hi, _ = layer.input_range.numpy()
    kernel = layer.kernel.numpy()
    sa, za = np_params(lo, hi, signed)
    sw, zw = np_params(kernel.min(), kernel.max(), signed)
    qa, qw = np_codes(x, sa, za, signed), np_codes(kernel, sw, zw, signed)
    codes = np.arange(256).astype(np.uint8).view(np.int8 if signed else np.uint8).astype(np.int64)
    table = (mult.lut.astype(np.int64) - int(zw) * codes[:, None] - int(za) * codes[None, :]
             + int(za) * int(zw))
    pad = int(za)
    if kind == "conv":
        sums = ref.ref_conv2d(qa, qw, table, layer.strides, layer.padding, pad)
    elif kind == "depthwise":
        sums = ref.ref_depthwise_conv2d(qa, qw, table, layer.strides, layer.padding, pad)
    else:
        sums = ref.ref_matmul(qa.reshape(-1, qa.shape[-1]), qw, table)
        sums = sums.reshape(*qa.shape[:-1], -1)
    return (sums.astype(np.float64) * (float(sa) * float(sw))).astype(np.float32) + layer.bias.numpy()


def make_layer(kind: str, library: str, name: str, **kw):
    if kind == "conv":
        return ApproxConv2D(12, (3, 2), strides=(2, 1), padding="same", multiplier=name,
                            library=library, bias_initializer="random_normal", **kw)
    if kind == "depthwise":
        return ApproxDepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2,
                                     multiplier=name, library=library,
                                     bias_initializer="random_normal", **kw)
    return ApproxDense(9, multiplier=name, library=library, bias_initializer="random_normal", **kw)


def calibrated(kind, library, name, x, **kw):
    layer = make_layer(kind, library, name, **kw)
    layer(x, training=True)
    return layer


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(3, 9, 8, 5)) + 0.7).astype(np.float32)


# ----------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
@pytest.mark.parametrize("library, name", MULTIPLIERS)
def test_table_path_matches_numpy_model(kind, library, name, x):
    keras.utils.set_random_seed(1)
    layer = calibrated(kind, library, name, x)
    got = layer(x, training=False).numpy()
    want = np_layer(layer, x, kind)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
@pytest.mark.parametrize("library, name", [(U8, "mul8u_1JFF"), (S8, "mul8s_1KV8")])
def test_exact_table_reproduces_fake_quantized_keras_layer(kind, library, name, x):
    keras.utils.set_random_seed(2)
    layer = calibrated(kind, library, name, x)
    signed = library == S8
    lo, hi, _ = layer.input_range.numpy()
    kernel = layer.kernel.numpy()
    sa, za = np_params(lo, hi, signed)
    sw, zw = np_params(kernel.min(), kernel.max(), signed)
    xd = sa * (np_codes(x, sa, za, signed).astype(np.float32) - za)
    wd = sw * (np_codes(kernel, sw, zw, signed).astype(np.float32) - zw)
    cfg = {k: v for k, v in layer.get_config().items()
           if k not in ("multiplier", "library", "approx_training", "weight_quantization")}
    plain = {"conv": keras.layers.Conv2D, "depthwise": keras.layers.DepthwiseConv2D,
             "dense": keras.layers.Dense}[kind].from_config(cfg)
    plain.build(x.shape)
    plain.set_weights([wd, layer.bias.numpy()])
    want = plain(xd).numpy()
    got = layer(x, training=False).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # and the training (fake-quant) path agrees with both once the range is frozen
    state = layer.input_range.numpy()
    layer.input_range.assign([state[0], state[1], 0.0])
    fq = layer(x, training=True).numpy()
    np.testing.assert_allclose(fq, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
def test_eval_output_does_not_depend_on_the_batch(kind, x):
    layer = calibrated(kind, U8, "mul8u_L40", x)
    full = layer(x, training=False).numpy()
    for i in range(len(x)):
        np.testing.assert_array_equal(layer(x[i : i + 1], training=False).numpy()[0], full[i])
    scaled = layer(x * 10.0, training=False)  # an outlier batch does not move the range
    assert np.all(np.isfinite(scaled.numpy()))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), full)


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
def test_gradients_are_the_straight_through_exact_ones(kind, x):
    keras.utils.set_random_seed(3)
    layer = calibrated(kind, U8, "mul8u_L40", x)
    approx = make_layer(kind, U8, "mul8u_L40", approx_training=True)
    approx(x, training=True)
    approx.set_weights(layer.get_weights())
    table_out = assert_straight_through(layer, approx, x)
    np.testing.assert_allclose(table_out, layer(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


def tiny_model(multiplier="mul8u_1JFF", approx_training=False) -> keras.Model:
    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 2))
    h = ApproxConv2D(4, 3, padding="same", activation="relu", multiplier=multiplier,
                     approx_training=approx_training, name="c1")(inp)
    h = ApproxDepthwiseConv2D(3, strides=2, padding="same", multiplier=multiplier,
                              approx_training=approx_training, name="d1")(h)
    h = keras.layers.Flatten()(h)
    out = ApproxDense(3, multiplier=multiplier, approx_training=approx_training, name="f1")(h)
    return keras.Model(inp, out)


def toy_data(n=96):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 8, 8, 2)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int32) + (x[..., 1].mean((1, 2)) > 0.1)
    return x, y


def test_training_with_the_table_lowers_the_loss():
    x, y = toy_data()
    model = tiny_model("mul8u_L40", approx_training=True)
    model.compile(optimizer=keras.optimizers.Adam(0.02),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]


def test_save_load_keeps_the_multiplier_and_outputs(tmp_path):
    x, y = toy_data(32)
    model = tiny_model("mul8u_L40")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, keras.utils.to_categorical(y, 3), epochs=1, verbose=0)
    before = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for name in ("c1", "d1", "f1"):
        layer = loaded.get_layer(name)
        assert (layer.multiplier, layer.library) == ("mul8u_L40", U8)
        np.testing.assert_array_equal(layer.input_range.numpy(),
                                      model.get_layer(name).input_range.numpy())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)


def test_set_multiplier_swaps_tables_without_retraining():
    x, _ = toy_data(16)
    model = tiny_model("mul8u_1JFF")
    model(x, training=True)
    exact = model.predict(x, verbose=0)
    reference = tiny_model("mul8u_L40")
    reference.set_weights(model.get_weights())
    set_multiplier(model, "mul8u_L40")
    swapped = model.predict(x, verbose=0)
    assert not np.allclose(swapped, exact)
    np.testing.assert_array_equal(swapped, reference.predict(x, verbose=0))
    mult = load_library(U8)["mul8u_1JFF"]
    set_multiplier(model, {"c1": mult, "d1": "mul8u_1JFF", "f1": "mul8u_1JFF"})
    assert model.get_layer("c1").multiplier == "mul8u_1JFF"
    np.testing.assert_array_equal(model.predict(x, verbose=0), exact)
    with pytest.raises(UserError, match="did you mean: c1"):
        set_multiplier(model, {"c2": "mul8u_L40"})
    with pytest.raises(UserError):
        set_multiplier(model.get_layer("c1"), "mul8u_NOPE")
    assert model.get_layer("c1").multiplier == "mul8u_1JFF"


def test_parameter_counts_match_keras_counterparts():
    shape = (None, 8, 8, 5)
    pairs = [
        (ApproxConv2D(7, 3), keras.layers.Conv2D(7, 3), shape),
        (ApproxDepthwiseConv2D(3, depth_multiplier=2), keras.layers.DepthwiseConv2D(3, depth_multiplier=2), shape),
        (ApproxDense(6, use_bias=False), keras.layers.Dense(6, use_bias=False), (None, 5)),
    ]
    for approx, plain, in_shape in pairs:
        approx.build(in_shape)
        plain.build(in_shape)
        n_trainable = sum(int(np.prod(w.shape)) for w in approx.trainable_weights)
        assert n_trainable == plain.count_params()
        assert [w.name for w in approx.non_trainable_weights] == ["input_range"]
        assert approx.count_params() == plain.count_params() + 3


def test_bad_layer_options_are_rejected():
    with pytest.raises(UserError, match="dilation_rate"):
        ApproxConv2D(4, 3, dilation_rate=2)
    with pytest.raises(UserError, match="channels_last"):
        ApproxConv2D(4, 3, data_format="channels_first")
    with pytest.raises(UserError):
        ApproxDense(4, multiplier="mul8u_NOPE")
    with pytest.raises(UserError, match="multiplier name"):
        ApproxDense(4, multiplier=3)


def test_fallback_backend_gives_the_same_layer_outputs(x, monkeypatch):
    layers = [calibrated(kind, U8, "mul8u_L40", x) for kind in ("conv", "depthwise", "dense")]
    with_op = [layer(x, training=False).numpy() for layer in layers]
    monkeypatch.setenv("EVOAPPROXNAS_APPROX_BACKEND", "tf")
    for layer, want in zip(layers, with_op):
        np.testing.assert_allclose(layer(x, training=False).numpy(), want, rtol=1e-6, atol=1e-6)


def test_save_load_without_bias(tmp_path, x):
    model = keras.Sequential([keras.Input(x.shape[1:]),
                              ApproxConv2D(3, 3, use_bias=False, multiplier="mul8u_L40"),
                              keras.layers.Flatten(), ApproxDense(2, use_bias=False)])
    model(x, training=True)
    model.save(tmp_path / "nb.keras")
    loaded = keras.models.load_model(tmp_path / "nb.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def three_layer_model(use_bias: bool, seed: int) -> keras.Model:
    """Conv, depthwise conv and a dense head, all approximate, with or without biases."""
    keras.utils.set_random_seed(seed)
    kw = {"multiplier": "mul8u_L40", "use_bias": use_bias}
    inp = keras.Input((9, 8, 5))
    h = ApproxConv2D(4, 3, padding="same", name="c1", **kw)(inp)
    h = ApproxDepthwiseConv2D(3, padding="same", name="d1", **kw)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, ApproxDense(3, name="head_dense", **kw)(h))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("fmt", ["weights.h5", "keras"])
def test_weights_round_trip_keeps_kernel_bias_and_input_range(tmp_path, x, use_bias, fmt):
    model = three_layer_model(use_bias, seed=1)
    model(x, training=True)  # calibrates every input_range
    before = model.predict(x, verbose=0)
    path = tmp_path / f"m.{fmt}"
    if fmt == "weights.h5":
        model.save_weights(path)
        loaded = three_layer_model(use_bias, seed=2)  # fresh, other weights, uncalibrated
        assert not np.array_equal(loaded.predict(x, verbose=0), before)
        loaded.load_weights(path)
    else:
        model.save(path)
        loaded = keras.models.load_model(path)
    names = ["kernel", "bias", "input_range"] if use_bias else ["kernel", "input_range"]
    for name in ("c1", "d1", "head_dense"):
        want, got = model.get_layer(name), loaded.get_layer(name)
        assert [v.name for v in got.weights] == names
        for a, b in zip(want.weights, got.weights, strict=True):
            np.testing.assert_array_equal(b.numpy(), a.numpy())
        assert got.input_range.numpy()[2] == 1.0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)


def test_saved_layout_is_kernel_bias_range_and_mismatches_are_reported(tmp_path):
    for layer in three_layer_model(True, seed=1).layers:
        if hasattr(layer, "input_range"):
            store = {}
            layer.save_own_variables(store)
            assert list(store) == ["0", "1", "2"]
            assert store["2"] is layer.input_range
    # a file without head_dense's input_range (as written by Keras' own Dense layout)
    model = three_layer_model(True, seed=1)
    model.save_weights(tmp_path / "old.weights.h5")
    with h5py.File(tmp_path / "old.weights.h5", "r+") as f:
        del f["layers/approx_dense/vars/2"]
    with pytest.raises(ValueError, match=r"head_dense.*expected 3 variables.*received 2"):
        three_layer_model(True, seed=1).load_weights(tmp_path / "old.weights.h5")
