"""Counting on a decoded graph (no TensorFlow): parameters, multiplications, multiplier power."""

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


def node_primitives(graph: nx.DiGraph, node: str) -> list[dict]:
    """Primitive layers of one graph node (see ``cgp.primitives``); empty for the input."""
    data = graph.nodes[node]
    if data["op"] == "input":
        return []
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
        })
    return layers


def count_multiplications(graph: nx.DiGraph) -> dict:
    """Multiplications per inference grouped by multiplier gene (``None`` = exact, e.g. head)."""
    counts: dict = defaultdict(int)
    for layer in multiply_layers(graph):
        counts[layer["multiplier"]] += layer["multiplications"]
    return dict(counts)


def _lookup(multipliers, gene):
    try:
        return multipliers[gene]
    except (KeyError, IndexError, TypeError):
        raise UserError(
            f"no multiplier for gene {gene!r}: the campaign's multiplier list has "
            f"{len(multipliers)} entries; give one per multiplier gene"
        ) from None


def multiplication_power(graph: nx.DiGraph, multipliers, library=None) -> dict:
    """Power of the multiplications: ``power_mw`` = sum(count x multiplier power) in
    mW-equivalents, ``power_rel`` = that over all multiplications done by the exact multiplier.

    ``multipliers`` maps genes to ``Multiplier`` objects (list or dict); gene ``None`` is the
    exact multiplier of their library (or of ``library`` when given). Also returns
    ``multiplications`` (total) and ``exact_power_mw``.
    """
    from evoapproxnas.multipliers import DEFAULT_LIBRARY, load_library

    counts = count_multiplications(graph)
    chosen = {g: _lookup(multipliers, g) for g in counts if g is not None}
    if library is None:
        given = list(multipliers.values() if isinstance(multipliers, dict) else multipliers)
        library = given[0].library if given else DEFAULT_LIBRARY
    exact = load_library(library).exact
    chosen[None] = exact
    total = sum(counts.values())
    power_mw = float(sum(n * chosen[g].power_mw for g, n in counts.items()))
    exact_mw = float(total * exact.power_mw)
    return {
        "power_mw": power_mw,
        "power_rel": power_mw / exact_mw if exact_mw else 1.0,
        "multiplications": total,
        "exact_power_mw": exact_mw,
    }
