"""The candidate hash: a canonical description of the network a genome decodes to.

Two genomes get the same hash exactly when they decode to the same network: the same primitive
layers (``cgp.primitives``: the layers Keras builds), wired the same way, up to the numbering
of the layers.

* A layer is described by its kind and attributes (kernel, strides, filters, bias, fused
  activation, dropout rate, pool window, units, and the multiplier gene of a multiplying
  layer, with its bit widths where a CGP node carries them: the graph node's ``widths``);
  the input by its shape. So nothing the genes select but the network does not use
  counts: inactive nodes, connection genes beyond a function's arity, parameter genes a
  function does not read, parameter genes selecting the same choice, the multiplier gene of a
  function that does not multiply or of a summation without a 1x1 projection, a stride 2
  repaired to 1, bottleneck/inverted expansions rounding to the same width, dropout genes
  giving the same rate, and whether a max-pooling belongs to a ``max_pooling`` node or to the
  shape repair of the summation it feeds.
* Layers are numbered by a depth-first walk from the classifier's dense layer; the two inputs
  of an ``add`` (summations and residual blocks) are visited in the order of a digest of their
  unfolded sub-networks, so the grid position of a node and the order of a summation's
  inputs do not matter. Where both inputs of an ``add`` have the same digest, both orders are
  walked and the smallest description is kept (up to ``MAX_TIE_BRANCHES`` extra walks; beyond
  that, ties follow grid position: the hash then still identifies one network, but two
  placements of it may hash differently).

The hash needs the input shape and the number of classes: ``cgp.genome_hash(genome, spec,
input_shape, n_classes)`` (in ``cgp.decode``), equal to ``decode(...).graph["genome_hash"]``
and ``network_hash(graph)``. Without them, ``genome_hash(genome, spec)`` describes nodes by their
genes (function, chosen parameter values, the dropout rate, the multiplier gene of multiplying
functions, their bit widths when the spec searches them, the head multiplier), numbered the same way: equal hashes still mean the same
network for every input shape and class count, but genomes that only a given input shape makes equal (a
summation's multiplier without projection, a stride repair, an expansion rounding, a pooling
moved into a summation) hash differently.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from dataclasses import dataclass

import networkx as nx
import numpy as np

from evoapproxnas.cgp.genome import (
    NodeGenes,
    active_nodes,
    head_multiplier,
    node_genes,
    node_widths,
    validate_genome,
)
from evoapproxnas.cgp.primitives import MULTIPLYING_KINDS, dropout_rate, expand
from evoapproxnas.cgp.spec import CGPSpec

MAX_TIE_BRANCHES = 256
"""Extra walks tried at most for ``add`` layers whose two inputs have the same digest."""

COMMUTATIVE = frozenset({"summation"})
"""Node functions whose inputs may be swapped without changing the network (gene hash)."""
COMMUTATIVE_LAYERS = frozenset({"add"})
"""Primitive kinds whose inputs may be swapped without changing the network."""

_SKIPPED = ("name", "inputs", "input_shape", "output_shape")


@dataclass(frozen=True)
class _Node:
    """One node of the graph being numbered: its own description and its inputs."""

    label: str
    inputs: tuple[str, ...]
    commutative: bool


def _number(value):
    """Canonical JSON value: 2, 2.0 and numpy's 2 are the same choice; tuples become lists."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Real):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, (tuple, list)):
        return [_number(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _number(v) for k, v in value.items()}
    return str(value)


def _text(value) -> str:
    return json.dumps(_number(value), sort_keys=True, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ordered(node_inputs, digests: dict[str, str], commutative: bool) -> list[str]:
    """Inputs in visiting order: port order, or by digest for a commutative node."""
    inputs = list(node_inputs)
    return sorted(inputs, key=lambda name: digests[name]) if commutative else inputs


def _node_digest(node: _Node, digests: dict[str, str]) -> str:
    """Digest of a node's unfolded sub-network (isomorphism-invariant)."""
    children = [digests[i] for i in node.inputs]
    if node.commutative:
        children.sort()
    return _digest(_text([node.label, children]))


def _walks(nodes: dict[str, _Node], digests: dict[str, str], sink: str) -> list[list]:
    """Depth-first numberings from ``sink`` (inputs before the layer that reads them), one
    per way of ordering the tied inputs of commutative nodes."""
    results = []
    branches = 0
    pending: list[tuple[list, dict, list]] = [([], {}, [("visit", sink)])]
    while pending:
        out, rank, stack = pending.pop()
        while stack:
            task, name = stack.pop()
            node = nodes[name]
            if task == "emit":
                refs = [rank[i] for i in node.inputs]
                if node.commutative:
                    refs.sort()
                rank[name] = len(out)
                out.append([node.label, refs])
                continue
            if name in rank:
                continue
            stack.append(("emit", name))
            children = _ordered(node.inputs, digests, node.commutative)
            if (node.commutative and len(children) == 2 and children[0] != children[1]
                    and digests[children[0]] == digests[children[1]]
                    and children[0] not in rank and children[1] not in rank
                    and branches < MAX_TIE_BRANCHES):
                branches += 1
                swapped = [*stack, ("visit", children[0]), ("visit", children[1])]
                pending.append((list(out), dict(rank), swapped))
            stack.extend(("visit", child) for child in reversed(children))
        results.append(out)
    return results


def _canonical(nodes: dict[str, _Node], digests: dict[str, str], sink: str,
               header: dict) -> str:
    """The smallest walk from ``sink``, as JSON with ``header``."""
    walks = [_text(walk) for walk in _walks(nodes, digests, sink)]
    return _text({**header, "nodes": json.loads(min(walks))})


def _layer_nodes(graph: nx.DiGraph) -> tuple[dict[str, _Node], dict[str, str], str]:
    """The primitive layers of a decoded graph as canonical nodes, their digests, the sink."""
    shape = graph.nodes["input"]["output_shape"]
    nodes: dict[str, _Node] = {"input": _Node(_text(["input", shape]), (), False)}
    digests = {"input": _node_digest(nodes["input"], {})}
    last = {"input": "input"}
    for name in nx.topological_sort(graph):
        data = graph.nodes[name]
        if data["op"] == "input":
            continue
        items = expand(name, data["op"], data["params"], data["input_shapes"],
                       data["multiplier"])
        if data.get("widths"):  # a CGP node's bit widths: on its multiplying layers
            items = [{**item, **data["widths"]} if item["kind"] in MULTIPLYING_KINDS else item
                     for item in items]
        for item in items:
            inputs = tuple(last[data["inputs"][int(ref[3:])]] if ref.startswith("in:") else ref
                           for ref in item["inputs"])
            label = _text({k: v for k, v in item.items() if k not in _SKIPPED})
            nodes[item["name"]] = _Node(label, inputs, item["kind"] in COMMUTATIVE_LAYERS)
            digests[item["name"]] = _node_digest(nodes[item["name"]], digests)
        last[name] = items[-1]["name"]
    return nodes, digests, last["head"]


def canonical_network(graph: nx.DiGraph) -> str:
    """Canonical JSON description of the layers of a decoded graph (module docstring)."""
    nodes, digests, sink = _layer_nodes(graph)
    return _canonical(nodes, digests, sink, {"form": "layers"})


def network_hash(graph: nx.DiGraph) -> str:
    """16 hex digits identifying the network of a decoded graph up to layer numbering."""
    return _digest(canonical_network(graph))[:16]


def _gene_label(genes: NodeGenes, spec: CGPSpec) -> str:
    """A node by its genes: function, chosen parameters (dropout: its rate), multiplier, and
    the bit widths of a multiplying node when the spec searches them."""
    params = dict(genes.params)
    if genes.function.name == "dropout" and params:
        params = {"rate": dropout_rate(params)}
    multiplier = genes.multiplier if genes.function.multiplies else None
    if multiplier is not None and spec.widths:
        return _text([genes.function.name, params, multiplier, node_widths(spec, genes)])
    return _text([genes.function.name, params, multiplier])


def canonical_genome(genome, spec: CGPSpec) -> str:
    """Canonical JSON description of a genome's active network by genes (no shapes)."""
    genome = validate_genome(genome, spec)
    nodes: dict[str, _Node] = {"input": _Node(_text(["input"]), (), False)}
    for address in active_nodes(genome, spec):
        genes = node_genes(genome, spec, address)
        inputs = tuple("input" if a == 0 else f"node{a - 1}" for a in genes.inputs)
        nodes[f"node{address - 1}"] = _Node(_gene_label(genes, spec), inputs,
                                            genes.function.name in COMMUTATIVE)
    output = int(genome[-1])
    nodes["head"] = _Node(_text(["classifier", head_multiplier(genome, spec)]),
                          (f"node{output - 1}",), False)
    digests: dict[str, str] = {}
    for name, node in nodes.items():  # active nodes ascend, so inputs come first
        digests[name] = _node_digest(node, digests)
    return _canonical(nodes, digests, "head", {"form": "genes"})
