"""Bring your own network: conversion of a trained Keras model against a numpy integer
reference, folding of batch norms, calibration, layers that cannot be converted, and the
``approximate`` command's one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library

pytestmark = pytest.mark.tf

LIB, MULT = "evoapproxlib8u", "mul8u_L40"


def small_model():
    """Conv -> batch norm -> ReLU -> (depthwise conv -> batch norm) + residual -> pool ->
    dense, with batch-norm statistics far from the identity."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="r1")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = keras.layers.BatchNormalization(name="bn2")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(7)
    for name in ("bn1", "bn2"):
        layer = model.get_layer(name)
        gamma, beta, mean, var = (w.shape for w in layer.get_weights())
        layer.set_weights([rng.uniform(0.5, 2.0, gamma).astype("f4"),
                           rng.normal(0, 0.5, beta).astype("f4"),
                           rng.normal(0, 0.5, mean).astype("f4"),
                           rng.uniform(0.3, 3.0, var).astype("f4")])
    return model


# ------------------------------------------------------------- independent numpy reference
def np_range_params(lo, hi):
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    scale = np.float32(max(hi - lo, np.float32(1e-8)) / np.float32(255))
    return scale, np.float32(np.clip(np.round(-lo / scale), 0, 255))


def np_codes(x, scale, zp):
    return np.clip(np.round(x.astype(np.float32) / scale) + zp, 0, 255).astype(np.int64)


def np_patches(codes, k, pad_code):
    """[N, H, W, k*k, C] windows of a SAME stride-1 convolution (odd k), padded with
    ``pad_code``."""
    p = k // 2
    padded = np.pad(codes, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=pad_code)
    h, w = codes.shape[1:3]
    return np.stack([padded[:, i:i + h, j:j + w] for i in range(k) for j in range(k)], axis=3)


def np_layer(x, kernel, bias, rng_lohi, lut, kind):
    """One approximate layer: quantize input and weights, multiply codes through the table,
    accumulate as integers with the zero-point terms, dequantize, add the bias."""
    sa, za = np_range_params(*rng_lohi)
    kernel = kernel.astype(np.float32)
    sw, zw = np_range_params(kernel.min(), kernel.max())
    a, w = np_codes(x, sa, za), np_codes(kernel, sw, zw)
    za, zw = int(za), int(zw)
    lut = lut.astype(np.int64)
    if kind == "dense":
        acc = lut[a[:, :, None], w[None]].sum(axis=1)
        acc = acc - zw * a.sum(1, keepdims=True) - za * w.sum(0) + a.shape[1] * za * zw
    elif kind == "conv":
        k = kernel.shape[0]
        win = np_patches(a, k, za).reshape(*a.shape[:3], -1)       # [N,H,W,k*k*C]
        wf = w.reshape(-1, w.shape[-1])                             # [k*k*C, O]
        acc = lut[win[..., :, None], wf].sum(axis=-2)
        acc = acc - zw * win.sum(-1, keepdims=True) - za * wf.sum(0) + wf.shape[0] * za * zw
    else:  # depthwise, depth multiplier 1
        k = kernel.shape[0]
        win = np_patches(a, k, za)                                  # [N,H,W,k*k,C]
        wf = w.reshape(k * k, -1)                                   # [k*k, C]
        acc = lut[win, wf].sum(axis=3)
        acc = acc - zw * win.sum(3) - za * wf.sum(0) + k * k * za * zw
    return (acc.astype(np.float64) * (np.float64(sa) * np.float64(sw))).astype(np.float32) + bias


def np_fold(kernel, bias, bn, depthwise=False):
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in bn.get_weights())
    factor = gamma / np.sqrt(var + bn.epsilon)
    k = kernel.astype(np.float64) * (factor[:, None] if depthwise else factor)
    return k.astype(np.float32), ((bias - mean) * factor + beta).astype(np.float32)


def test_converted_model_equals_numpy_integer_reference():
    import keras

    from evoapproxnas.approx.convert import convert
    from evoapproxnas.approx.layers import approx_layers

    model = small_model()
    rng = np.random.default_rng(11)
    calib = rng.uniform(0, 1, (40, 6, 6, 2)).astype("f4")
    x = rng.uniform(0, 1, (9, 6, 6, 2)).astype("f4")
    conv = convert(model, MULT, LIB, calibration_images=calib, fold_batchnorm=True)
    assert conv.converted == ["c1", "dw", "head"]
    assert sorted(conv.folded) == [("bn1", "c1"), ("bn2", "dw")]
    assert conv.skipped == []
    got = np.asarray(conv.model(x, training=False))

    # activation ranges: min and max of each layer's float input in the ORIGINAL model
    probe = keras.Model(model.input, [model.get_layer("r1").output,
                                      model.get_layer("gap").output])
    r1, gap = (np.asarray(t) for t in probe(calib))
    ranges = {"c1": (calib.min(), calib.max()), "dw": (r1.min(), r1.max()),
              "head": (gap.min(), gap.max())}
    for layer in approx_layers(conv.model):
        np.testing.assert_allclose(layer.input_range.numpy()[:2], ranges[layer.name],
                                   rtol=1e-6, atol=1e-7)

    lut = np.asarray(load_library(LIB)[MULT].lut)
    c1, dw, head = (model.get_layer(n) for n in ("c1", "dw", "head"))
    k1, b1 = np_fold(np.asarray(c1.kernel), np.asarray(c1.bias), model.get_layer("bn1"))
    kd, bd = np_fold(np.asarray(dw.kernel)[..., 0], np.asarray(dw.bias), model.get_layer("bn2"))
    h = np.maximum(np_layer(x, k1, b1, ranges["c1"], lut, "conv"), 0)
    h = h + np_layer(h, kd, bd, ranges["dw"], lut, "depthwise")
    want = np_layer(h.mean(axis=(1, 2)), np.asarray(head.kernel), np.asarray(head.bias),
                    ranges["head"], lut, "dense")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # the float model differs (the table is approximate): the reference is not trivially met
    assert np.abs(np.asarray(model(x)) - want).max() > 1e-2


def test_exact_multiplier_is_the_8bit_network_and_saves():
    import keras

    from evoapproxnas.approx.convert import approximate, save_model

    model = small_model()
    x = np.random.default_rng(2).uniform(0, 1, (16, 6, 6, 2)).astype("f4")
    exact = approximate(model, calibration_images=x, fold_batchnorm=True)
    unfolded = approximate(model, calibration_images=x)
    ref = np.asarray(model(x))
    for m in (exact, unfolded):
        out = np.asarray(m(x, training=False))
        assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()  # 8-bit noise only
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(exact, Path(tmp) / "m.keras")
        again = keras.models.load_model(path)
        np.testing.assert_array_equal(np.asarray(again(x, training=False)),
                                      np.asarray(exact(x, training=False)))


def test_unconvertible_layers_are_reported_one_each():
    import keras

    from evoapproxnas.approx.convert import convert

    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, dilation_rate=2, padding="same", name="dilated")(inp)
    x = keras.layers.Conv2DTranspose(2, 3, name="transposed")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.BatchNormalization(name="late_bn")(x)
    inner_in = keras.Input((10, 10, 2))
    inner = keras.Model(inner_in, keras.layers.Conv2D(2, 1, name="inner_conv")(inner_in),
                        name="inner")
    x = inner(x)
    x = keras.layers.Reshape((100, 2))(x)
    x = keras.layers.Conv1D(2, 1, name="c1d")(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x))
    conv = convert(keras.Model(inp, out), fold_batchnorm=True)
    assert conv.converted == ["inner_conv", "head"]
    skipped = dict(conv.skipped)
    assert set(skipped) == {"dilated", "transposed", "late_bn", "c1d"}
    assert "dilation_rate" in skipped["dilated"]
    assert "batch norm kept in float" in skipped["late_bn"]
    lines = conv.report_lines()
    assert len(lines) == 4 and all("\n" not in line for line in lines)


def test_sequential_model_converts():
    import keras

    from evoapproxnas.approx.convert import convert

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="d1"),
                              keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Dense(2, name="d2")])
    x = np.random.default_rng(0).normal(size=(8, 5)).astype("f4")
    conv = convert(model, calibration_images=x, fold_batchnorm=True)
    assert conv.converted == ["d1", "d2"] and conv.folded == [("bn", "d1")]
    ref = np.asarray(model(x))
    assert np.abs(np.asarray(conv.model(x, training=False)) - ref).max() < 0.05 * np.abs(
        ref).max()


def test_unknown_multiplier_and_library_are_user_errors():
    from evoapproxnas.approx.convert import convert

    model = small_model()
    with pytest.raises(UserError, match="mul8u_L4"):
        convert(model, "mul8u_L4x", LIB)
    with pytest.raises(UserError, match="nosuchlib"):
        convert(model, None, "nosuchlib")


# ------------------------------------------------------------------------ the command
def _cli(*argv):
    from evoapproxnas.cli import main

    return main([str(a) for a in argv])


def test_cli_errors_are_one_line(tmp_path, capsys):
    model = small_model()
    good = tmp_path / "m.keras"
    model.save(good)
    not_keras = tmp_path / "x.keras"
    not_keras.write_text("hello")
    out = tmp_path / "o.keras"
    cases = [
        (not_keras, ["--out", out], "not a Keras model file"),
        (tmp_path / "missing.keras", ["--out", out], "does not exist"),
        (good, ["--out", out, "--library", "nosuchlib"], "nosuchlib"),
        (good, ["--out", out, "--multiplier", "mul8u_nope"], "mul8u_nope"),
        (good, ["--out", out, "--data", "synthetic"], "takes images (6, 6, 2)"),
    ]
    for model_path, extra, text in cases:
        assert _cli("approximate", model_path, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert text in err and len(err.splitlines()) == 1, err
        assert not out.exists()


@pytest.mark.slow  # loads Fashion-MNIST
def test_cli_converts_a_fashion_mnist_model(tmp_path, capsys):
    import keras

    from evoapproxnas.approx.layers import approx_layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, strides=2, name="c")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten()(keras.layers.ReLU()(x))
    keras.Model(inp, keras.layers.Dense(10, name="head")(x)).save(tmp_path / "m.keras")
    out = tmp_path / "a.keras"
    assert _cli("approximate", tmp_path / "m.keras", "--out", out, "--multiplier", MULT,
                "--calibration-images", 64, "--fold-batchnorm") == 0
    printed = capsys.readouterr().out
    assert "folded: bn into c" in printed and "2 layers approximate" in printed
    model = keras.models.load_model(out)
    layers = approx_layers(model)
    assert [(lay.name, lay.multiplier) for lay in layers] == [("c", MULT), ("head", MULT)]
    assert all(lay.input_range.numpy()[2] == 1.0 for lay in layers)
    assert _cli("approximate", tmp_path / "m.keras", "--out", out) == 2  # no overwrite
