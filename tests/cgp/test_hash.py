"""The candidate hash identifies the decoded network: equal hash <=> equal network.

The reference is independent of ``cgp.canonical``: the decoded graph's primitive layers as a
``networkx`` graph (every layer with all its attributes and shapes, edges with their
multiplicity), compared with ``networkx`` isomorphism.
"""

import itertools

import networkx as nx
import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    canonical,
    decode,
    genome_hash,
    network_hash,
    node_primitives,
    random_genome,
)

from .helpers import genome, node

SPEC = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3)
# conv2d parameter indices: kernel 2|3, filters 32..128, strides 1|2, relu|elu, bias no|yes
CONV3_32 = (1, 0, 0, 0, 0)
CONV3_32_S2 = (1, 0, 1, 0, 0)


def layer_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Primitive layers of a decoded graph, named by grid position, wired as built."""
    out = nx.DiGraph()
    out.add_node("input", desc=repr(("input", tuple(graph.graph["input_shape"]))))
    last = {"input": "input"}
    for name in nx.topological_sort(graph):
        data = graph.nodes[name]
        if data["op"] == "input":
            continue
        for item in node_primitives(graph, name):
            desc = repr(sorted((k, v) for k, v in item.items() if k not in ("name", "inputs")))
            out.add_node(item["name"], desc=desc)
            for ref in item["inputs"]:
                src = last[data["inputs"][int(ref[3:])]] if ref.startswith("in:") else ref
                if out.has_edge(src, item["name"]):
                    out.edges[src, item["name"]]["count"] += 1
                else:
                    out.add_edge(src, item["name"], count=1)
            final = item["name"]
        last[name] = final
    for _, _, data in out.edges(data=True):
        data["label"] = str(data["count"])
    return out


def same_network(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    return nx.is_isomorphic(a, b, node_match=lambda x, y: x["desc"] == y["desc"],
                            edge_match=lambda x, y: x["count"] == y["count"])


def shaped(dna, spec=SPEC, shape=(8, 8, 3), n_classes=10) -> str:
    return genome_hash(dna, spec, shape, n_classes)


def test_summation_multiplier_counts_only_with_a_projection():
    def net(first, multiplier):
        return genome(SPEC, [first, node(SPEC, "summation", (0, 1), multiplier=multiplier)],
                      output=2)

    pool = node(SPEC, "max_pooling")  # 4x4x3 + pooled input 4x4x3: no projection
    assert shaped(net(pool, 0)) == shaped(net(pool, 2))
    conv = node(SPEC, "conv2d", params=CONV3_32)  # 8x8x32 + input 8x8x3: 1x1 projection
    assert shaped(net(conv, 0)) != shaped(net(conv, 2))
    # the genes alone cannot know the channel counts: the gene hash keeps the gene
    assert genome_hash(net(pool, 0), SPEC) != genome_hash(net(pool, 2), SPEC)


def test_layer_changes_change_the_hash():
    base = genome(SPEC, [node(SPEC, "conv2d", params=CONV3_32, multiplier=1)], output=1)
    for index, value in [(8, 2), (3, 0), (4, 1), (5, 1), (6, 1), (7, 1), (0, 3)]:
        other = list(base)
        other[index] = value
        assert shaped(other) != shaped(base), index
    head = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3, head_multiplier=0)
    assert shaped(base, head) != shaped(base)
    assert shaped(base, n_classes=5) != shaped(base)
    assert shaped(base, shape=(8, 8, 1)) != shaped(base)


def test_a_repaired_stride_is_the_same_network():
    s1 = genome(SPEC, [node(SPEC, "conv2d", params=CONV3_32)], output=1)
    s2 = genome(SPEC, [node(SPEC, "conv2d", params=CONV3_32_S2)], output=1)
    assert shaped(s1, shape=(1, 1, 3)) == shaped(s2, shape=(1, 1, 3))
    assert shaped(s1) != shaped(s2)


def test_dropout_and_expansion_genes_that_build_the_same_layers():
    # rate_position 0: the rate is rate_min whatever rate_max is
    a = genome(SPEC, [node(SPEC, "dropout", params=(1, 0, 0))], output=1)
    b = genome(SPEC, [node(SPEC, "dropout", params=(1, 2, 0))], output=1)
    c = genome(SPEC, [node(SPEC, "dropout", params=(1, 2, 1))], output=1)
    assert shaped(a) == shaped(b) != shaped(c)
    assert genome_hash(a, SPEC) == genome_hash(b, SPEC) != genome_hash(c, SPEC)
    # 3 channels / expansion 2.5 and / 3.0 both round to a 1-channel bottleneck
    def bottleneck(expansion):
        return genome(SPEC, [node(SPEC, "residual_bottleneck", params=(0, expansion, 0))],
                      output=1)
    assert shaped(bottleneck(3)) == shaped(bottleneck(4)) != shaped(bottleneck(0))


def test_grid_position_and_summation_order_do_not_matter():
    spec = CGPSpec(rows=2, columns=2, levels_back=1, n_multipliers=2)
    conv = node(spec, "conv2d", params=CONV3_32, multiplier=1)
    pool = node(spec, "max_pooling")
    hashes = {shaped(genome(spec, [x, y, node(spec, "summation", inputs)], output=3), spec)
              for x, y in [(conv, pool), (pool, conv)] for inputs in [(1, 2), (2, 1)]}
    assert len(hashes) == 1


def test_a_pooling_node_feeding_a_summation_is_the_summation_s_own_pooling():
    spec = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=2)
    conv = node(spec, "conv2d", params=CONV3_32_S2)
    pool = node(spec, "max_pooling", (0, 0))
    # 16x16 input + 8x8 conv: a 2x2 pooling of the input, by a node or by the summation
    separate = genome(spec, [conv, pool, node(spec, "summation", (1, 2))], output=3)
    inside = genome(spec, [conv, node(spec, "summation", (1, 0))], output=2)
    assert shaped(separate, spec, (16, 16, 3)) == shaped(inside, spec, (16, 16, 3))
    # after two convolutions: two 2x2 poolings versus one 4x4 pooling
    conv2 = node(spec, "conv2d", (1, 0), params=CONV3_32_S2)
    separate = genome(spec, [conv, conv2, pool, node(spec, "summation", (2, 3))], output=4)
    inside = genome(spec, [conv, conv2, node(spec, "summation", (2, 0))], output=3)
    assert shaped(separate, spec, (16, 16, 3)) != shaped(inside, spec, (16, 16, 3))


def test_reading_one_node_twice_differs_from_reading_two_copies():
    spec = CGPSpec(rows=2, columns=2, levels_back=1, n_multipliers=2)
    conv = node(spec, "conv2d", params=CONV3_32)
    once = genome(spec, [conv, conv, node(spec, "summation", (1, 1))], output=3)
    twice = genome(spec, [conv, conv, node(spec, "summation", (1, 2))], output=3)
    assert shaped(once, spec) != shaped(twice, spec)
    assert genome_hash(once, spec) != genome_hash(twice, spec)


def overlapping_sums(order, pairs):
    """Three equal convolutions C (column 0), two sums of pairs of them, their sum."""
    spec = CGPSpec(rows=3, columns=3, levels_back=1, n_multipliers=2)
    conv = node(spec, "conv2d", params=CONV3_32)
    address = {c: 1 + order.index(c) for c in range(3)}
    sums = [node(spec, "summation", (address[i], address[j])) for i, j in pairs]
    nodes = [conv, conv, conv, *sums, node(spec, "batch_norm"),
             node(spec, "summation", (4, 5))]
    return spec, genome(spec, nodes, output=7)


def test_tied_summation_inputs_are_tried_both_ways(monkeypatch):
    # sum(sum(C0, C1), sum(C1, C2)): the two inner sums have equal digests but share one C;
    # every placement of the three Cs is the same network
    variants = [overlapping_sums(order, pairs) for order in itertools.permutations(range(3))
                for pairs in [((0, 1), (1, 2)), ((1, 2), (0, 1))]]
    assert len({shaped(dna, spec) for spec, dna in variants}) == 1
    assert len({genome_hash(dna, spec) for spec, dna in variants}) == 1
    # the same pair twice is another network
    spec, both = overlapping_sums((0, 1, 2), ((0, 1), (0, 1)))
    assert shaped(both, spec) != shaped(variants[0][1], variants[0][0])
    assert not same_network(layer_graph(decode(both, spec, (8, 8, 3), 10)),
                            layer_graph(decode(variants[0][1], spec, (8, 8, 3), 10)))
    # without trying both orders the placement would leak into the hash
    monkeypatch.setattr(canonical, "MAX_TIE_BRANCHES", 0)
    assert len({shaped(dna, spec) for spec, dna in variants}) > 1


def test_shape_hash_is_the_decoded_graph_hash():
    rng = np.random.default_rng(1)
    for _ in range(20):
        dna = random_genome(SPEC, rng)
        graph = decode(dna, SPEC, (8, 8, 3), 10)
        assert graph.graph["genome_hash"] == shaped(dna) == network_hash(graph)
        assert len(shaped(dna)) == 16
    with pytest.raises(ValueError, match="both input_shape and n_classes"):
        genome_hash(dna, SPEC, (8, 8, 3))


SMALL = CGPSpec(
    rows=2, columns=3, levels_back=2, n_multipliers=2, min_active_nodes=1,
    functions=("summation", "conv2d", "max_pooling", "dropout", "residual_bottleneck",
               "batch_norm"),
    choices={"conv2d": {"kernel": [1, 3], "filters": [2, 3], "activation": ["relu"],
                        "use_bias": [False]},
             "dropout": {"rate_min": [0.1], "rate_max": [0.2, 0.3],
                         "rate_position": [0.0, 1.0]},
             "residual_bottleneck": {"kernel": [3], "expansion": [1.0, 1.5, 2.0]}},
)
"""A space small enough for many random genomes to decode to the same network."""


@pytest.mark.filterwarnings("ignore:The hashes produced for directed graphs")
@pytest.mark.parametrize("shape", [(3, 3, 2), (8, 8, 1)])
def test_equal_hash_iff_equal_network_over_random_genomes(shape):
    rng = np.random.default_rng(5)
    groups: dict[str, list] = {}
    gene_hashes: dict[str, set] = {}
    for _ in range(1500):
        dna = random_genome(SMALL, rng)
        key = genome_hash(dna, SMALL, shape, 3)
        groups.setdefault(key, []).append(layer_graph(decode(dna, SMALL, shape, 3)))
        gene_hashes.setdefault(genome_hash(dna, SMALL), set()).add(key)
    # equal hash => equal network
    for members in groups.values():
        for other in members[1:]:
            assert same_network(members[0], other)
    # different hash => different network (the WL hash is equal for isomorphic graphs)
    by_invariant: dict[str, list] = {}
    for members in groups.values():
        wl = nx.weisfeiler_lehman_graph_hash(members[0], node_attr="desc", edge_attr="label")
        by_invariant.setdefault(wl, []).append(members[0])
    for candidates in by_invariant.values():
        for a, b in itertools.combinations(candidates, 2):
            assert not same_network(a, b)
    # the gene hash never merges two networks, and the shape hash merges what it splits
    assert all(len(keys) == 1 for keys in gene_hashes.values())
    assert len(gene_hashes) > len(groups) + 40
    assert sum(len(m) > 1 for m in groups.values()) > 50
