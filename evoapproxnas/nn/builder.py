"""Decoded graph -> ``keras.Model``: one Keras layer per primitive of ``cgp.primitives``."""

from __future__ import annotations

import keras
import networkx as nx

from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION
from evoapproxnas.cgp import count_multiplications, node_primitives
from evoapproxnas.nn.layers import make_layer, resolve_multipliers


def build_model(graph: nx.DiGraph, multipliers=None, *, approx_training: bool = False,
                name: str | None = None, seed: int | None = None,
                weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION) -> keras.Model:
    """Build the network of ``graph``; its output is the classifier's logits.

    ``multipliers`` maps multiplier genes to library ``Multiplier`` objects (a list indexed by
    gene, or a dict); gene ``None`` (e.g. the head) uses the exact multiplier of their
    library. Every multiplying primitive becomes one approximate layer. ``multipliers=None``
    builds plain float Keras layers (a reference without quantization). ``seed`` seeds every
    layer's initial weights and dropout (``nn.layers.layer_seed``), so the model does not
    depend on the global random state. ``weight_quantization`` (``"per_tensor"`` or
    ``"per_channel"``) is every approximate layer's weight scheme; each layer's weights take
    the width N of its own multiplier (an 8x4 multiplier: 4-bit weights).
    """
    resolved = None
    if multipliers is not None:
        resolved = resolve_multipliers(list(count_multiplications(graph)), multipliers)
    inputs = keras.Input(shape=tuple(graph.graph["input_shape"]), name="image")
    outputs = {"input": inputs}
    for node in nx.topological_sort(graph):
        data = graph.nodes[node]
        if data["op"] == "input":
            continue
        local = {f"in:{port}": outputs[src] for port, src in enumerate(data["inputs"])}
        for item in node_primitives(graph, node):
            mul = resolved[item["multiplier"]] if resolved and "multiplier" in item else None
            layer = make_layer(item, mul, approx_training=approx_training, seed=seed,
                               weight_quantization=weight_quantization)
            args = [local[ref] for ref in item["inputs"]]
            local[item["name"]] = layer(args if item["kind"] == "add" else args[0])
            last = item["name"]
        outputs[node] = local[last]
    return keras.Model(inputs, outputs["head"], name=name or f"cgp_{graph.graph['genome_hash']}")
