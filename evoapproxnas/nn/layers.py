"""The one place that turns a primitive layer (see ``cgp.primitives``) into a Keras layer.

Multiplying primitives become ``evoapproxnas.approx`` layers bound to the node's multiplier,
or plain Keras layers (float, no quantization) when no multipliers are given.
"""

from __future__ import annotations

import keras

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


def make_layer(item: dict, multiplier=None, *, approx_training: bool = False) -> keras.layers.Layer:
    """Keras layer for one primitive; ``multiplier`` (a ``Multiplier``) selects approx layers."""
    kind = item["kind"]
    name = item["name"].replace("/", "_")
    if kind in ("conv2d", "depthwise_conv2d", "dense") and multiplier is not None:
        return _approx_layer(item, name, multiplier, approx_training)
    if kind == "conv2d":
        return keras.layers.Conv2D(item["filters"], item["kernel"], item["strides"], "same",
                                   activation=item["activation"], use_bias=item["use_bias"],
                                   name=name)
    if kind == "depthwise_conv2d":
        return keras.layers.DepthwiseConv2D(item["kernel"], item["strides"], "same",
                                            activation=item["activation"],
                                            use_bias=item["use_bias"], name=name)
    if kind == "dense":
        return keras.layers.Dense(item["units"], use_bias=item["use_bias"], name=name)
    if kind == "batch_norm":
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if kind == "activation":
        return _activation(item["activation"])(name=name)
    if kind == "dropout":
        return keras.layers.Dropout(item["rate"], name=name)
    if kind == "max_pooling":
        return keras.layers.MaxPooling2D(item["pool"], item["strides"], "same", name=name)
    if kind == "add":
        return keras.layers.Add(name=name)
    if kind == "global_avg_pool":
        return keras.layers.GlobalAveragePooling2D(name=name)
    raise ValueError(f"unknown primitive kind {kind!r}")


def _approx_layer(item: dict, name: str, multiplier, approx_training: bool):
    from evoapproxnas import approx

    common = {"multiplier": multiplier, "library": multiplier.library, "name": name}
    if approx_training:
        common["approx_training"] = True
    if item["kind"] == "conv2d":
        return approx.ApproxConv2D(item["filters"], item["kernel"], item["strides"], "same",
                                   activation=item["activation"], use_bias=item["use_bias"],
                                   **common)
    if item["kind"] == "depthwise_conv2d":
        return approx.ApproxDepthwiseConv2D(item["kernel"], item["strides"], "same",
                                            activation=item["activation"],
                                            use_bias=item["use_bias"], **common)
    return approx.ApproxDense(item["units"], use_bias=item["use_bias"], **common)
