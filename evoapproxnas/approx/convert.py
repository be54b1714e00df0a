"""Bring your own network: a trained Keras model -> the same model with approximate layers.

``convert(model, ...)`` clones a functional or Sequential Keras model (nested models and
residual graphs included, ``keras.models.clone_model(recursive=True)``) and replaces every
``Conv2D``, ``DepthwiseConv2D`` and ``Dense`` by its ``Approx*`` layer holding the trained
weights. With ``fold_batchnorm`` a ``BatchNormalization`` that directly follows such a layer
(which has no activation of its own and feeds nothing else) is folded into its kernel and
bias and replaced by an ``Identity`` layer. The activation ranges of the approximate layers
are calibrated on the given images: the minimum and maximum of each layer's float input
over all of them (the float network, before any quantization, as in post-training
quantization). Layers with multiplications that it cannot convert are listed (``skipped``),
one reason each, and stay float; nothing is dropped silently.

``approximate(...)`` is ``convert(...).model``. TensorFlow is imported here (approx floor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from evoapproxnas.approx.layers import (
    APPROX_LAYERS,
    DEFAULT_LIBRARY,
    ApproxConv2D,
    ApproxDense,
    ApproxDepthwiseConv2D,
    approx_layers,
    resolve_multiplier,
)
from evoapproxnas.approx.modelfile import check_model_file
from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION, check_weight_quantization
from evoapproxnas.errors import UserError

CALIBRATION_BATCH = 256
"""Images per batch of the calibration pass."""

_CONVERTIBLE = {keras.layers.Conv2D: ApproxConv2D,
                keras.layers.DepthwiseConv2D: ApproxDepthwiseConv2D,
                keras.layers.Dense: ApproxDense}
_KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel",
                 "embeddings_kernel")


@dataclass
class Conversion:
    """What ``convert`` did: the new model and one entry per layer it looked at."""

    model: object
    converted: list[str] = field(default_factory=list)
    """Names of the layers now approximate (in layer order)."""
    folded: list[tuple[str, str]] = field(default_factory=list)
    """``(batch norm, layer)`` pairs folded (the batch norm is now an ``Identity``)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """``(layer, reason)`` for every layer with multiplications left float, and every batch
    norm that could not be folded when folding was asked for."""

    def report_lines(self) -> list[str]:
        """One line per layer not converted (what the CLI prints)."""
        return [f"not converted: {name}: {reason}" for name, reason in self.skipped]


def _kind(layer) -> type | None:
    """The Keras class of a convertible layer (exact class: subclasses may compute more)."""
    for cls in _CONVERTIBLE:
        if type(layer) is cls:
            return cls
    return None


def _why_not(layer) -> str | None:
    """Why a convertible layer cannot become approximate (``None``: it can)."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "data_format must be channels_last"
    if tuple(getattr(layer, "dilation_rate", (1, 1))) != (1, 1):
        return f"dilation_rate {tuple(layer.dilation_rate)} (only (1, 1) is supported)"
    if getattr(layer, "groups", 1) != 1:
        return f"groups={layer.groups} (only 1 is supported)"
    if getattr(layer, "quantization_mode", None):
        return f"already quantized by Keras ({layer.quantization_mode})"
    return None


def _multiplies(layer) -> bool:
    """True for a layer with a weight kernel (it multiplies activations by weights)."""
    names = [getattr(v, "path", getattr(v, "name", "")).split("/")[-1] for v in layer.weights]
    return any(name in _KERNEL_NAMES for name in names)


def _all_layers(model) -> list:
    """Every layer of ``model``, nested models' layers included (not the models), in order."""
    out = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
        else:
            out.append(layer)
    return out


def _fold_pairs(model) -> tuple[dict, list[tuple[str, str]]]:
    """``{batch norm: producer}`` of the batch norms that can be folded, and ``(name,
    reason)`` of those that cannot."""
    pairs, kept = {}, []
    for layer in _all_layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        reason = _fold_problem(layer)
        if reason is None:
            pairs[layer] = layer._inbound_nodes[0].input_tensors[0]._keras_history.operation
        else:
            kept.append((layer.name, f"batch norm kept in float ({reason})"))
    return pairs, kept


def _fold_problem(bn) -> str | None:
    nodes = bn._inbound_nodes
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return "it is called more than once"
    rank = len(nodes[0].input_tensors[0].shape)
    if bn.axis not in (-1, rank - 1):
        return f"axis {bn.axis} is not the channel axis"
    producer = nodes[0].input_tensors[0]._keras_history.operation
    if _kind(producer) is None or _why_not(producer) is not None:
        return "it does not directly follow a Conv2D, DepthwiseConv2D or Dense"
    if keras.activations.serialize(producer.activation) not in ("linear", None):
        return f"{producer.name} has an activation before it"
    if len(producer._inbound_nodes) != 1 or len(producer._outbound_nodes) != 1:
        return f"the output of {producer.name} is also used elsewhere"
    return None


def _folded_weights(layer, bn) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of ``layer`` followed by ``bn`` in inference mode (one layer)."""
    kernel = np.asarray(layer.kernel, np.float64)
    n_out = kernel.shape[-1] if not isinstance(layer, keras.layers.DepthwiseConv2D) else (
        kernel.shape[2] * kernel.shape[3])
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(n_out)
    mean = np.asarray(bn.moving_mean, np.float64)
    var = np.asarray(bn.moving_variance, np.float64)
    gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones(n_out)
    beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros(n_out)
    factor = gamma / np.sqrt(var + bn.epsilon)
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # output channel c * dm + q
        kernel = kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * factor
    return kernel.astype(np.float32), ((bias - mean) * factor + beta).astype(np.float32)


def convert(model, multiplier=None, library: str | None = None, *,
            calibration_images: np.ndarray | None = None, fold_batchnorm: bool = False,
            weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION) -> Conversion:
    """Approximate every ``Conv2D``, ``DepthwiseConv2D`` and ``Dense`` of ``model``.

    ``multiplier``: a name (or ``Multiplier``) of ``library`` (default the bundled
    ``evoapproxlib8u``); ``None``: the library's exact multiplier, so the converted model is
    the 8-bit quantized network. ``calibration_images`` (NHWC, the model's input) set every
    approximate layer's input range (min and max of its float input over the images);
    without them the layers keep an uncalibrated range until they train. Layers that are
    already approximate keep their weights and range and take ``multiplier`` if one is
    given. ``UserError`` for an unknown library or multiplier, or a model that is not a
    functional or Sequential Keras model.
    """
    from evoapproxnas.multipliers import load_library

    weight_quantization = check_weight_quantization(weight_quantization, "weight_quantization")
    if not isinstance(model, keras.Model) or not hasattr(model, "_inbound_nodes"):
        raise UserError(f"expected a Keras model, got {type(model).__name__}")
    if not isinstance(model, (keras.Sequential, keras.src.models.Functional)):
        raise UserError(f"model {model.name!r} is a subclassed Keras model; only functional "
                        "and Sequential models (nested ones included) can be converted")
    lib = load_library(library or (getattr(multiplier, "library", None) or DEFAULT_LIBRARY))
    name, lib_name = resolve_multiplier(multiplier if multiplier is not None else lib.exact,
                                        library or lib.name)
    _ = lib[name]  # unknown name: UserError with the closest names
    pairs, kept = _fold_pairs(model) if fold_batchnorm else ({}, [])
    producers = {id(p): bn for bn, p in pairs.items()}
    result = Conversion(model=None, skipped=list(kept))
    plan = []  # (old layer, new layer, folded bn or None)

    def clone(layer):
        cls = _kind(layer)
        if isinstance(layer, keras.layers.BatchNormalization) and layer in pairs:
            new = keras.layers.Identity(name=layer.name)
            plan.append((layer, new, "identity"))
            return new
        if isinstance(layer, APPROX_LAYERS):
            new = type(layer).from_config(layer.get_config())
            if multiplier is not None:
                new.multiplier, new.library = name, lib_name
            plan.append((layer, new, None))
            result.converted.append(layer.name)
            return new
        problem = None if cls is None else _why_not(layer)
        if cls is None or problem is not None:
            if _multiplies(layer):
                result.skipped.append((layer.name, problem or f"{type(layer).__name__} has no "
                                       "approximate counterpart (stays float)"))
            new = type(layer).from_config(layer.get_config())
            plan.append((layer, new, None))
            return new
        config = layer.get_config()
        bn = producers.get(id(layer))
        if bn is not None:
            config["use_bias"] = True
        config.pop("lora_rank", None)
        config.pop("lora_alpha", None)
        config.pop("quantization_config", None)
        new = _CONVERTIBLE[cls](**config, multiplier=name, library=lib_name,
                                weight_quantization=weight_quantization)
        plan.append((layer, new, bn))
        result.converted.append(layer.name)
        return new

    def call(layer, *args, **kwargs):  # a folded batch norm's Identity takes no mask
        if isinstance(layer, keras.layers.Identity):
            kwargs = {}
        return layer(*args, **kwargs)

    try:
        functional = not isinstance(model, keras.Sequential)
        new_model = keras.models.clone_model(model, clone_function=clone, recursive=True,
                                             call_function=call if functional else None)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise UserError(f"cannot convert model {model.name!r}: {_first_line(exc)}") from None
    for old, new, how in plan:
        if how == "identity":
            continue
        if isinstance(old, APPROX_LAYERS):
            new.set_weights(old.get_weights())
        elif isinstance(new, APPROX_LAYERS):
            if how is not None:
                kernel, bias = _folded_weights(old, how)
                result.folded.append((how.name, old.name))
            else:
                kernel = np.asarray(old.kernel)
                bias = np.asarray(old.bias) if old.use_bias else None
            new.kernel.assign(kernel)
            if bias is not None:
                new.bias.assign(bias)
        else:
            new.set_weights(old.get_weights())
    result.model = new_model
    if calibration_images is not None:
        calibrate(new_model, calibration_images)
    return result


def approximate(model, multiplier=None, library: str | None = None, **kwargs):
    """The model of ``convert(model, multiplier, library, **kwargs)`` (see there)."""
    return convert(model, multiplier, library, **kwargs).model


def calibrate(model, images: np.ndarray, batch_size: int = CALIBRATION_BATCH) -> None:
    """Set the input range of every approximate layer of ``model`` to the minimum and maximum
    of its float input over ``images`` (each layer runs as its float counterpart meanwhile:
    no quantization error reaches the ranges of the layers after it)."""
    import tensorflow as tf

    layers = approx_layers(model)
    if not layers or len(images) == 0:
        return
    seen = {id(layer): [np.inf, -np.inf] for layer in layers}

    def probe(layer):
        def call(inputs, training=None):
            x = tf.cast(inputs, tf.float32)
            box = seen[id(layer)]
            box[0] = min(box[0], float(tf.reduce_min(x)))
            box[1] = max(box[1], float(tf.reduce_max(x)))
            return layer._finish(layer._float_op(x, tf.cast(layer.kernel, tf.float32)))
        return call

    for layer in layers:
        layer.call = probe(layer)
    try:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size], training=False)
    finally:
        for layer in layers:
            del layer.call
    for layer in layers:
        lo, hi = seen[id(layer)]
        layer.input_range.assign(np.array([lo, hi, 1.0], np.float32))
    for attr in ("predict_function", "test_function", "train_function"):
        setattr(model, attr, None)


def load_model(path) -> object:
    """A Keras model from a ``.keras`` (or legacy ``.h5``) file, without its optimizer;
    ``UserError`` (one line) for a missing file or one that is not a Keras model."""
    path = check_model_file(path).path  # the file's form, before Keras reads it
    import evoapproxnas.approx.layers  # noqa: F401  (registers the Approx layers)

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (Keras raises many kinds for a foreign file)
        raise UserError(f"{path}: not a loadable Keras model ({_first_line(exc)})") from None
    if not isinstance(model, keras.Model):
        raise UserError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model


def check_fits(model, input_shape, n_classes: int | None, what: str) -> None:
    """``UserError`` unless ``model`` takes images of ``input_shape`` (and, when given, has
    ``n_classes`` outputs)."""
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise UserError(f"model {model.name!r} takes inputs {model.input_shape}; it must take "
                        f"one batch of images (N, H, W, C) to run on {what}")
    want = tuple(int(v) for v in input_shape)
    got = tuple(shapes[0][1:])
    if any(g is not None and g != w for g, w in zip(got, want, strict=True)):
        raise UserError(f"model {model.name!r} takes images {got} but {what} has {want}; "
                        "give a model trained on this dataset")
    if n_classes is not None:
        out = model.output_shape
        if isinstance(out, list) or out[-1] != n_classes:
            raise UserError(f"model {model.name!r} has outputs {out} but {what} has "
                            f"{n_classes} classes")


def save_model(model, out: Path) -> Path:
    """Save ``model`` to ``out`` (.keras) through a temporary sibling, so a failed save
    leaves no half-written file."""
    import contextlib
    import os

    tmp = out.with_name(f".{out.stem[:48]}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return out


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] if text else type(exc).__name__)


def describe(model) -> list[dict]:
    """The approximate layers of ``model`` as plain dicts (JSON-able, no TensorFlow needed
    to read them): the primitive layers of ``cgp.primitives`` that pricing and the hardware
    models count (``name``, ``kind``, ``input_shape`` and ``output_shape`` as (H, W, C), a
    dense layer's as (1, 1, C) (on a feature map: a 1x1 ``conv2d``), ``kernel``, ``strides``, ``padding``, ``filters``/``units``, ``use_bias``)."""
    out = []
    for layer in approx_layers(model):
        shape_in = tuple(int(v) for v in layer.input.shape[1:])
        shape_out = tuple(int(v) for v in layer.output.shape[1:])
        item = {"name": layer.name, "use_bias": bool(layer.use_bias)}
        if isinstance(layer, ApproxDense) and len(shape_in) == 1:
            item.update(kind="dense", input_shape=(1, 1, shape_in[-1]),
                        output_shape=(1, 1, shape_out[-1]), units=shape_out[-1],
                        kernel=(1, 1), strides=(1, 1), padding="valid")
        elif isinstance(layer, ApproxDense):  # on a feature map: a 1x1 convolution
            spatial = (*shape_in[:-1], 1, 1)[:2]
            item.update(kind="conv2d", input_shape=(*spatial, shape_in[-1]),
                        output_shape=(*spatial, shape_out[-1]), kernel=(1, 1),
                        strides=(1, 1), padding="valid", filters=shape_out[-1])
        else:
            kind = "depthwise_conv2d" if isinstance(layer, ApproxDepthwiseConv2D) else "conv2d"
            item.update(kind=kind, input_shape=shape_in, output_shape=shape_out,
                        kernel=tuple(int(k) for k in layer.kernel_size),
                        strides=tuple(int(s) for s in layer.strides), padding=layer.padding,
                        filters=shape_out[-1])
            if kind == "depthwise_conv2d":
                item["depth_multiplier"] = int(layer.depth_multiplier)
        out.append(item)
    return out
