"""Decoding a genome into a ``networkx.DiGraph`` of layers with inferred shapes (no TensorFlow).

Nodes: ``"input"`` (op ``input``), ``"node<k>"`` for each active grid node ``k`` (0-based,
column-major) and ``"head"`` (op ``classifier``: global average pooling + dense). Attributes:
``op``, ``params`` (chosen values after repair; strides are the ones actually used),
``multiplier`` (gene, or ``None``), ``input_shapes``, ``output_shape``, ``inputs`` (the
predecessor names in port order; a summation may read one node twice), ``repairs`` (what the
shape rules changed, human-readable); a multiplying node of a spec that searches bit widths
(``cgp.widths``) also has ``widths`` (its ``activation_bits`` and, in fixed point,
``activation_frac_bits``, ``weight_frac_bits``) and ``primitives`` (its layers carrying them).
With ``weight_bits`` a node's ``multiplier`` is the allowed-list index of the exact 8xW
multiplier its gene selects (``CGPSpec.weight_genes``). Edges carry ``port`` (first input position) and
``ports`` (all of them). Graph attributes: ``input_shape``, ``n_classes``, ``genome_hash``
(``cgp.canonical.network_hash``: equal exactly for equal networks).
Shape rules are those of ``cgp.primitives`` (stride rule and summation rule).
``genome_hash(genome, spec, input_shape, n_classes)`` is that hash without keeping the graph.
Other encodings (``search.spaces.layers``) build the same format with ``new_graph``,
``add_layer`` and ``finish_graph``.
"""

from __future__ import annotations

import hashlib

import networkx as nx

from evoapproxnas.cgp.canonical import canonical_genome, network_hash
from evoapproxnas.cgp.genome import (
    active_nodes,
    head_multiplier,
    multiplier_of,
    node_genes,
    node_widths,
    validate_genome,
)
from evoapproxnas.cgp.primitives import (
    MULTIPLYING_KINDS,
    dropout_rate,
    effective_strides,
    expand,
    summation_plan,
)
from evoapproxnas.cgp.spec import CGPSpec
from evoapproxnas.errors import UserError


def _check_input(input_shape, n_classes) -> tuple[tuple[int, int, int], int]:
    shape = tuple(int(v) for v in input_shape) if hasattr(input_shape, "__len__") else ()
    if len(shape) != 3 or min(shape) < 1:
        raise UserError(f"input_shape must be (height, width, channels) > 0, got {input_shape!r}")
    if int(n_classes) < 2:
        raise UserError(f"n_classes must be at least 2, got {n_classes!r}")
    return shape, int(n_classes)


def node_name(address: int) -> str:
    """Graph name of the grid node at genome ``address`` (1-based)."""
    return "input" if address == 0 else f"node{address - 1}"


def new_graph(input_shape, n_classes: int) -> nx.DiGraph:
    """An empty layer graph: the ``"input"`` node of ``input_shape`` (``UserError`` for a bad
    shape or fewer than two classes)."""
    input_shape, n_classes = _check_input(input_shape, n_classes)
    graph = nx.DiGraph(input_shape=input_shape, n_classes=n_classes)
    graph.add_node("input", op="input", params={}, multiplier=None, input_shapes=[],
                   output_shape=input_shape, inputs=[], repairs=[])
    return graph


def add_layer(graph: nx.DiGraph, name: str, op: str, params: dict, multiplier,
              inputs, repairs=()) -> None:
    """Add node ``name`` of node function ``op`` reading ``inputs`` (names, port order);
    its shapes follow from ``cgp.primitives`` (``params`` already repaired, e.g. strides by
    ``primitives.effective_strides``)."""
    _add(graph, name, op, dict(params), multiplier, list(inputs), list(repairs))


def finish_graph(graph: nx.DiGraph, last: str, head_multiplier) -> nx.DiGraph:
    """Add the classifier head reading node ``last`` and the network hash; returns ``graph``."""
    _add(graph, "head", "classifier", {"units": graph.graph["n_classes"]}, head_multiplier,
         [last], [])
    graph.graph["genome_hash"] = network_hash(graph)
    return graph


def decode(genome, spec: CGPSpec, input_shape, n_classes: int) -> nx.DiGraph:
    """Decode the active part of ``genome`` into a layer graph ending in the classifier head."""
    genome = validate_genome(genome, spec)
    graph = new_graph(input_shape, n_classes)
    for address in active_nodes(genome, spec):
        genes = node_genes(genome, spec, address)
        inputs = [node_name(a) for a in genes.inputs]
        shapes = [graph.nodes[i]["output_shape"] for i in inputs]
        params, repairs = _repair(genes.function.name, dict(genes.params), shapes)
        multiplier = multiplier_of(spec, genes.multiplier) if genes.function.multiplies else None
        _add(graph, node_name(address), genes.function.name, params, multiplier, inputs, repairs)
        if multiplier is not None and spec.widths:
            _carry_widths(graph, node_name(address), node_widths(spec, genes))
    return finish_graph(graph, node_name(int(genome[-1])),
                        multiplier_of(spec, head_multiplier(genome, spec)))


def _carry_widths(graph: nx.DiGraph, name: str, widths: dict) -> None:
    """Give node ``name``'s multiplying layers its bit widths: the node's ``widths`` (which
    the network hash reads) and its ``primitives`` with them (which counting, the hardware
    layers and the model builder read); nothing for a node that does not multiply (a
    summation without projection)."""
    data = graph.nodes[name]
    if data["multiplier"] is None:
        return
    items = expand(name, data["op"], data["params"], data["input_shapes"], data["multiplier"])
    data["primitives"] = [{**item, **widths} if item["kind"] in MULTIPLYING_KINDS else item
                          for item in items]
    data["widths"] = dict(widths)


def _repair(op: str, params: dict, shapes: list) -> tuple[dict, list[str]]:
    repairs = []
    if "strides" in params:
        strides = effective_strides(params["strides"], shapes[0])
        if strides != params["strides"]:
            repairs.append(f"strides {params['strides']}->{strides} (input {shapes[0][:2]})")
            params["strides"] = strides
    if op == "max_pooling":
        params["strides"] = effective_strides(2, shapes[0])
        if params["strides"] == 1:
            repairs.append(f"strides 2->1 (input {shapes[0][:2]})")
    if op == "dropout":
        params["rate"] = dropout_rate(params)
    if op == "summation":
        target, pools, projects = summation_plan(shapes)
        for port, (pool, project) in enumerate(zip(pools, projects)):
            if pool != (1, 1):
                repairs.append(f"input {port} max-pooled {pool} to {target[:2]}")
            if project:
                repairs.append(f"input {port} projected 1x1 to {target[2]} channels")
    return params, repairs


def _add(graph: nx.DiGraph, name: str, op: str, params: dict, multiplier, inputs, repairs):
    shapes = [graph.nodes[i]["output_shape"] for i in inputs]
    primitives = expand(name, op, params, shapes, multiplier)
    if op == "summation" and not any(p["kind"] == "conv2d" for p in primitives):
        multiplier = None  # no projection: the gene has no effect
    graph.add_node(name, op=op, params=params, multiplier=multiplier, input_shapes=shapes,
                   output_shape=primitives[-1]["output_shape"], inputs=list(inputs),
                   repairs=repairs)
    for port, src in enumerate(inputs):
        if graph.has_edge(src, name):
            graph.edges[src, name]["ports"] += (port,)
        else:
            graph.add_edge(src, name, port=port, ports=(port,))


def genome_hash(genome, spec: CGPSpec, input_shape=None, n_classes: int | None = None) -> str:
    """16 hex digits identifying the network ``genome`` decodes to (see ``cgp.canonical``).

    With ``input_shape`` and ``n_classes`` (the campaign's), equal hashes mean exactly equal
    networks; this equals ``decode(genome, spec, input_shape, n_classes).graph["genome_hash"]``.
    Without them the hash is computed from the genes: equal hashes still mean equal networks
    (for every input shape and class count), but some genomes that decode to the same network
    for a given input shape hash differently.
    """
    if (input_shape is None) != (n_classes is None):
        raise ValueError("genome_hash: give both input_shape and n_classes, or neither")
    if input_shape is None:
        return hashlib.sha256(canonical_genome(genome, spec).encode()).hexdigest()[:16]
    return decode(genome, spec, input_shape, n_classes).graph["genome_hash"]
