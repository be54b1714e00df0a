"""Counting on a decoded graph (no TensorFlow): parameters, multiplications, multiplier power.

Multiplier genes resolve through ``multipliers.MultiplierChoice`` and relative power is
``multipliers.relative_power`` (against the exact multiplier of the library).
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from evoapproxnas.cgp.primitives import (
    MULTIPLYING_KINDS,
    expand,
    primitive_multiplications,
    primitive_params,
)
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.choice import MultiplierChoice, relative_power

WIDTH_KEYS = ("activation_bits", "activation_frac_bits", "weight_frac_bits")
"""Optional keys of a multiplying primitive and its ``multiply_layers`` record: the layer's
activation width and binary points (docs/quantization.md)."""


def node_primitives(graph: nx.DiGraph, node: str) -> list[dict]:
    """Primitive layers of one graph node (see ``cgp.primitives``); empty for the input; a
    node that carries its ``primitives`` (a fixed network's layers) gives those."""
    data = graph.nodes[node]
    if data["op"] == "input":
        return []
    if "primitives" in data:  # an encoding that gives its real layers (spaces.assignment)
        return [dict(p) for p in data["primitives"]]
    return expand(node, data["op"], data["params"], data["input_shapes"], data["multiplier"])


def graph_primitives(graph: nx.DiGraph) -> list[dict]:
    """All primitive layers of the graph in topological order."""
    return [p for node in nx.topological_sort(graph) for p in node_primitives(graph, node)]


def count_params(graph: nx.DiGraph) -> int:
    """Weights of the built model: all trainable weights plus BatchNorm's moving statistics.

    This equals ``keras.Model.count_params()`` of a plain-Keras build; with approximate
    layers, whose quantizer state adds non-trainable weights, it equals the trainable count
    plus the non-trainable weights of the BatchNormalization layers.
    """
    return sum(primitive_params(p) for p in graph_primitives(graph))


def multiply_layers(graph: nx.DiGraph) -> list[dict]:
    """Every multiplying primitive as a dict of the contract in docs/architecture.md.

    Convolutions use "same" padding. The classifier's dense layer is described as a 1x1
    convolution on a 1x1 map: input ``(1, 1, C)``, kernel and strides ``(1, 1)``, padding
    "valid". A summation's channel projection is a 1x1 conv2d with the summation's gene.
    """
    layers = []
    for p in graph_primitives(graph):
        if p["kind"] not in MULTIPLYING_KINDS:
            continue
        dense = p["kind"] == "dense"
        cin = p["input_shape"][2]
        layers.append({
            "node": p["name"].split("/")[0],
            "name": p["name"],
            "kind": p["kind"],
            "input_shape": tuple(p["input_shape"]) if not dense else (1, 1, cin),
            "output_shape": tuple(p["output_shape"]),
            "kernel": tuple(p.get("kernel", (1, 1))),
            "strides": tuple(p.get("strides", (1, 1))),
            "padding": "same" if not dense else "valid",
            "filters": p["output_shape"][2],
            "groups": cin if p["kind"] == "depthwise_conv2d" else 1,
            "use_bias": bool(p["use_bias"]),
            "multiplier": p["multiplier"],
            "multiplications": primitive_multiplications(p),
            "params": primitive_params(p),
            # the widths of a quantized layer (search.spaces.layers), where it has them
            **{k: p[k] for k in WIDTH_KEYS if k in p},
        })
    return layers


def count_multiplications(graph: nx.DiGraph) -> dict:
    """Multiplications per inference grouped by multiplier gene (``None`` = exact, e.g. head)."""
    counts: dict = defaultdict(int)
    for layer in multiply_layers(graph):
        counts[layer["multiplier"]] += layer["multiplications"]
    return dict(counts)


def multiplication_power(graph: nx.DiGraph, multipliers, library=None) -> dict:
    """Power of the multiplications of ``graph`` with the multipliers its genes select.

    ``multipliers`` is anything ``MultiplierChoice.coerce`` takes (a list indexed by gene, a
    dict keyed by gene, a library or a ``MultiplierChoice``); gene ``None`` (the head) is the
    exact multiplier: that of ``library`` when given, else that of the multipliers' own
    library. Returns ``power_mw`` = sum over genes of count x multiplier power (mW-equivalents;
    a multiplier without a power figure counts ``relative_power`` x the exact power),
    ``power_rel`` = the count-weighted mean of ``relative_power`` against that exact
    multiplier (= ``power_mw / exact_power_mw``), ``multiplications`` (total) and
    ``exact_power_mw`` (all multiplications done by the exact multiplier).
    """
    choice = MultiplierChoice.coerce(multipliers, library=library)
    exact = choice.exact
    if getattr(exact, "power_mw", None) is None:
        raise UserError(
            f"the exact multiplier {exact.name} has no power_mw figure; multiplication power "
            "is measured in its units: add its power to the library"
        )
    exact_mw = float(exact.power_mw)
    counts = count_multiplications(graph)
    power_mw = relative = 0.0
    for gene, count in counts.items():
        mul = choice.resolve(gene)
        ratio = relative_power(mul, exact)
        own = getattr(mul, "power_mw", None)
        power_mw += count * (float(own) if own is not None else ratio * exact_mw)
        relative += count * ratio
    total = sum(counts.values())
    return {
        "power_mw": power_mw,
        "power_rel": relative / total if total else 1.0,
        "multiplications": total,
        "exact_power_mw": total * exact_mw,
    }
