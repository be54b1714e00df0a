"""The one place that turns a primitive layer (see ``cgp.primitives``) into a Keras layer.

Multiplying primitives become ``evoapproxnas.approx`` layers bound to the node's multiplier,
or plain Keras layers (float, no quantization) when no multipliers are given.
"""

from __future__ import annotations

import zlib

import keras

from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION
from evoapproxnas.cgp.counting import WIDTH_KEYS

BN_MOMENTUM = 0.9
"""Keras's default 0.99 leaves the moving statistics far from converged after the few hundred
steps of a candidate's budget, which ruins inference-mode accuracy; 0.9 converges in ~50."""


def resolve_multipliers(genes, multipliers) -> dict:
    """Map every gene in ``genes`` to a ``Multiplier``; gene ``None`` -> the exact one.

    ``multipliers`` is anything ``multipliers.MultiplierChoice.coerce`` takes: a list (gene =
    index), a dict keyed by gene, a library or a ``MultiplierChoice``; the exact multiplier is
    that of their library. A gene without a multiplier is a ``UserError``.
    """
    from evoapproxnas.multipliers import MultiplierChoice

    choice = MultiplierChoice.coerce(multipliers)
    return {gene: choice.resolve(gene) for gene in genes}


def _activation(name: str | None):
    if name is None:
        return None
    table = {
        "relu": keras.layers.ReLU,
        "elu": keras.layers.ELU,
        "leakyrelu": keras.layers.LeakyReLU,
        "prelu": lambda **kw: keras.layers.PReLU(shared_axes=[1, 2], **kw),
    }
    return table[name]


def layer_seed(seed: int, name: str) -> int:
    """The seed of one layer's random choices: a function of the network's seed and the
    layer's name only, so initial weights and dropout masks never depend on Python's global
    random stream (which other threads of a process, e.g. a Dask worker's, also draw from)."""
    return zlib.crc32(f"{int(seed)}:{name}".encode()) & 0x7FFFFFFF


def make_layer(item: dict, multiplier=None, *, approx_training: bool = False,
               seed: int | None = None,
               weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION) -> keras.layers.Layer:
    """Keras layer for one primitive; ``multiplier`` (a ``Multiplier``) selects approx layers.

    With ``seed`` every random initializer and dropout mask is seeded from it (see
    ``layer_seed``); without, Keras draws its seeds from the global random state.
    ``weight_quantization`` is the approximate layer's weight scheme (``"per_tensor"`` or
    ``"per_channel"``; ignored by plain float layers).
    """
    kind = item["kind"]
    name = item["name"].replace("/", "_")
    seeded = {}
    if seed is not None:
        init = keras.initializers.GlorotUniform(seed=layer_seed(seed, name))
        key = "depthwise_initializer" if kind == "depthwise_conv2d" else "kernel_initializer"
        seeded = {key: init} if kind in ("conv2d", "depthwise_conv2d", "dense") else {}
        if kind == "dropout":
            seeded = {"seed": layer_seed(seed, name)}
    if kind in ("conv2d", "depthwise_conv2d", "dense") and multiplier is not None:
        return _approx_layer(item, name, multiplier, approx_training, seeded,
                             weight_quantization)
    if kind == "conv2d":
        return keras.layers.Conv2D(item["filters"], item["kernel"], item["strides"], "same",
                                   activation=item["activation"], use_bias=item["use_bias"],
                                   name=name, **seeded)
    if kind == "depthwise_conv2d":
        return keras.layers.DepthwiseConv2D(item["kernel"], item["strides"], "same",
                                            activation=item["activation"],
                                            use_bias=item["use_bias"], name=name, **seeded)
    if kind == "dense":
        return keras.layers.Dense(item["units"], use_bias=item["use_bias"], name=name, **seeded)
    if kind == "batch_norm":
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if kind == "activation":
        return _activation(item["activation"])(name=name)
    if kind == "dropout":
        return keras.layers.Dropout(item["rate"], name=name, **seeded)
    if kind == "max_pooling":
        return keras.layers.MaxPooling2D(item["pool"], item["strides"], "same", name=name)
    if kind == "add":
        return keras.layers.Add(name=name)
    if kind == "global_avg_pool":
        return keras.layers.GlobalAveragePooling2D(name=name)
    raise ValueError(f"unknown primitive kind {kind!r}")


def _approx_layer(item: dict, name: str, multiplier, approx_training: bool, seeded: dict,
                  weight_quantization: str):
    from evoapproxnas import approx

    common = {"multiplier": multiplier, "library": multiplier.library, "name": name,
              "weight_quantization": weight_quantization, **seeded}
    if approx_training:
        common["approx_training"] = True
    if any(key in item for key in WIDTH_KEYS):  # a quantized layer: its exact AxW table
        from evoapproxnas.approx import fixedpoint
        from evoapproxnas.hardware.layers import weight_bits

        bits = fixedpoint.BitWidths(item.get("activation_bits", 8), weight_bits(multiplier),
                                    item.get("activation_frac_bits"),
                                    item.get("weight_frac_bits"))
        common.update(fixedpoint.layer_kwargs(bits))
    if item["kind"] == "conv2d":
        return approx.ApproxConv2D(item["filters"], item["kernel"], item["strides"], "same",
                                   activation=item["activation"], use_bias=item["use_bias"],
                                   **common)
    if item["kind"] == "depthwise_conv2d":
        return approx.ApproxDepthwiseConv2D(item["kernel"], item["strides"], "same",
                                            activation=item["activation"],
                                            use_bias=item["use_bias"], **common)
    return approx.ApproxDense(item["units"], use_bias=item["use_bias"], **common)
