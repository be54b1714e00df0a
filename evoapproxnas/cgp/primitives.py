"""Expansion of a decoded node into primitive layers: the single source for counting and building.

A primitive is a dict with ``name`` (unique in the graph), ``kind``, ``inputs`` (refs:
``"in:<port>"`` for the node's inputs or the name of an earlier primitive of the same node),
``input_shape``, ``output_shape`` and kind-specific fields. Kinds: ``conv2d``,
``depthwise_conv2d``, ``dense`` (the multiplying ones, carrying ``multiplier``),
``batch_norm``, ``activation``, ``dropout``, ``max_pooling``, ``add``, ``global_avg_pool``.
All convolutions and poolings use ``"same"`` padding. The last primitive is the node's output.

Shape-repair rule of ``summation`` (the only op with two inputs): the spatial target is the
smaller height and the smaller width; a larger input is max-pooled with window = stride =
``2**k`` per axis ("same" padding), ``k`` the number of halvings that reach the target; then
an input with fewer channels than the other gets a 1x1 convolution (no bias) to the larger
channel count, using the summation node's multiplier; then the inputs are added.
"""

from __future__ import annotations

import math

Shape = tuple[int, int, int]
MULTIPLYING_KINDS = ("conv2d", "depthwise_conv2d", "dense")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def halvings(size: int, target: int) -> int:
    """Number of "same"-padded stride-2 steps from ``size`` to ``target``."""
    steps = 0
    while size > target:
        size = _ceil_div(size, 2)
        steps += 1
    if size != target:
        raise AssertionError(f"spatial size cannot be pooled from {size} to {target}")
    return steps


def summation_plan(shapes: list[Shape]) -> tuple[Shape, list[tuple[int, int]], list[bool]]:
    """``(output shape, pool window per input, project-channels per input)`` of a summation."""
    height = min(s[0] for s in shapes)
    width = min(s[1] for s in shapes)
    channels = max(s[2] for s in shapes)
    pools = [(2 ** halvings(s[0], height), 2 ** halvings(s[1], width)) for s in shapes]
    projects = [s[2] != channels for s in shapes]
    return (height, width, channels), pools, projects


def effective_strides(strides: int, shape: Shape) -> int:
    """Stride rule: a stride-2 op on a tensor smaller than 2x2 on either axis uses stride 1."""
    return 1 if strides > 1 and min(shape[0], shape[1]) < 2 else strides


def dropout_rate(params: dict) -> float:
    """Dropout rate from its genes: ``rate_min + rate_position * (rate_max - rate_min)``."""
    low, high = params["rate_min"], params["rate_max"]
    return round(low + params["rate_position"] * (high - low), 6)


class _Block:
    """Collects the primitives of one node while tracking shapes."""

    def __init__(self, node: str, input_shapes: list[Shape], multiplier):
        self.node = node
        self.multiplier = multiplier
        self.shapes: dict[str, Shape] = {f"in:{i}": tuple(s) for i, s in enumerate(input_shapes)}
        self.items: list[dict] = []

    def add(self, kind: str, label: str, inputs: list[str], **attrs) -> str:
        shape = self.shapes[inputs[0]]
        h, w, c = shape
        if kind in ("conv2d", "depthwise_conv2d", "max_pooling"):
            sh, sw = attrs["strides"]
            h, w = _ceil_div(h, sh), _ceil_div(w, sw)
            c = attrs["filters"] if kind == "conv2d" else c
        elif kind == "global_avg_pool":
            h, w = 1, 1
        elif kind == "dense":
            h, w, c = 1, 1, attrs["units"]
        elif kind == "add":
            others = {self.shapes[i] for i in inputs}
            if len(others) != 1:
                raise AssertionError(f"{self.node}: add of different shapes {sorted(others)}")
        name = f"{self.node}/{label}"
        item = {"name": name, "kind": kind, "inputs": list(inputs), "input_shape": shape,
                "output_shape": (h, w, c), **attrs}
        if kind in MULTIPLYING_KINDS:
            item["multiplier"] = self.multiplier
        self.items.append(item)
        self.shapes[name] = (h, w, c)
        return name

    def conv(self, label, src, kernel, filters, strides, use_bias=False, activation=None):
        return self.add("conv2d", label, [src], kernel=(kernel, kernel), strides=(strides, strides),
                        filters=filters, use_bias=use_bias, activation=activation)

    def depthwise(self, label, src, kernel, strides, use_bias=False, activation=None):
        return self.add("depthwise_conv2d", label, [src], kernel=(kernel, kernel),
                        strides=(strides, strides), use_bias=use_bias, activation=activation)

    def bn(self, label, src):
        return self.add("batch_norm", label, [src])

    def act(self, label, src, activation="relu"):
        return self.add("activation", label, [src], activation=activation)


def expand(node: str, op: str, params: dict, input_shapes: list[Shape], multiplier) -> list[dict]:
    """Primitive layers of one decoded node (``params`` already repaired by ``decode``)."""
    b = _Block(node, input_shapes, multiplier)
    x = "in:0"
    channels = input_shapes[0][2] if input_shapes else 0
    if op == "summation":
        _, pools, projects = summation_plan(input_shapes)
        target_c = max(s[2] for s in input_shapes)
        refs = []
        for port, (pool, project) in enumerate(zip(pools, projects)):
            ref = f"in:{port}"
            if pool != (1, 1):
                ref = b.add("max_pooling", f"pool{port}", [ref], pool=pool, strides=pool)
            if project:
                ref = b.conv(f"project{port}", ref, 1, target_c, 1)
            refs.append(ref)
        b.add("add", "add", refs)
    elif op == "batch_norm":
        b.bn("bn", x)
    elif op == "activation":
        b.act(params["activation"], x, params["activation"])
    elif op == "dropout":
        b.add("dropout", "dropout", [x], rate=params["rate"])
    elif op == "max_pooling":
        s = params["strides"]
        b.add("max_pooling", "pool", [x], pool=(2, 2), strides=(s, s))
    elif op == "conv2d":
        b.conv("conv", x, params["kernel"], params["filters"], params["strides"],
               params["use_bias"], params["activation"])
    elif op == "depthwise_conv2d":
        b.depthwise("dwconv", x, params["kernel"], params["strides"], params["use_bias"],
                    params["activation"])
    elif op == "basic_residual":
        _basic_residual(b, x, channels, params)
    elif op == "residual_bottleneck":
        k, s = params["kernel"], params["strides"]
        mid = max(1, math.floor(channels / params["expansion"] + 0.5))
        y = b.act("relu_a", b.bn("bn_a", b.conv("reduce", x, 1, mid, 1)))
        y = b.act("relu_b", b.bn("bn_b", b.conv("conv", y, k, mid, s)))
        y = b.bn("bn_c", b.conv("expand", y, 1, channels, 1))
        short = x if s == 1 else b.bn("bn_short", b.conv("shortcut", x, 1, channels, s))
        b.act("relu_out", b.add("add", "add", [y, short]))
    elif op == "residual_inverted":
        k, s = params["kernel"], params["strides"]
        hidden = max(1, math.floor(channels * params["expansion"] + 0.5))
        y = b.act("relu_a", b.bn("bn_a", b.conv("expand", x, 1, hidden, 1)))
        y = b.act("relu_b", b.bn("bn_b", b.depthwise("dwconv", y, k, s)))
        y = b.bn("bn_c", b.conv("project", y, 1, channels, 1))
        if s == 1:
            b.add("add", "add", [y, x])
    elif op == "classifier":
        y = b.add("global_avg_pool", "gap", [x])
        b.add("dense", "dense", [y], units=params["units"], use_bias=True)
    else:
        raise ValueError(f"unknown op {op!r}")
    return b.items


def _basic_residual(b: _Block, x: str, channels: int, params: dict) -> None:
    k, f, s = params["kernel"], params["filters"], params["strides"]
    needs_projection = s != 1 or channels != f
    if params["preactivation"]:
        y = b.act("relu_pre", b.bn("bn_pre", x))
        y = b.act("relu_a", b.bn("bn_a", b.conv("conv_a", y, k, f, s)))
        y = b.conv("conv_b", y, k, f, 1)
        short = b.conv("shortcut", x, 1, f, s) if needs_projection else x
        b.add("add", "add", [y, short])
    else:
        y = b.act("relu_a", b.bn("bn_a", b.conv("conv_a", x, k, f, s)))
        y = b.bn("bn_b", b.conv("conv_b", y, k, f, 1))
        short = b.bn("bn_short", b.conv("shortcut", x, 1, f, s)) if needs_projection else x
        b.act("relu_out", b.add("add", "add", [y, short]))


def primitive_params(item: dict) -> int:
    """Weights Keras creates for a primitive (BatchNorm: gamma, beta and both moving stats)."""
    kind = item["kind"]
    cin = item["input_shape"][2]
    if kind == "conv2d":
        kh, kw = item["kernel"]
        return kh * kw * cin * item["filters"] + (item["filters"] if item["use_bias"] else 0)
    if kind == "depthwise_conv2d":
        kh, kw = item["kernel"]
        return kh * kw * cin + (cin if item["use_bias"] else 0)
    if kind == "dense":
        return cin * item["units"] + (item["units"] if item["use_bias"] else 0)
    if kind == "batch_norm":
        return 4 * cin
    if kind == "activation" and item["activation"] == "prelu":
        return cin  # one slope per channel (shared over height and width)
    return 0


def primitive_multiplications(item: dict) -> int:
    """Multiplications per inference of a primitive (0 for non-multiplying kinds)."""
    kind = item["kind"]
    h, w, c = item["output_shape"]
    cin = item["input_shape"][2]
    if kind == "conv2d":
        kh, kw = item["kernel"]
        return h * w * kh * kw * cin * c
    if kind == "depthwise_conv2d":
        kh, kw = item["kernel"]
        return h * w * kh * kw * cin
    if kind == "dense":
        return cin * item["units"]
    return 0
