import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from evoapproxnas.cgp import CGPSpec, decode, random_genome
from evoapproxnas.errors import UserError

from .helpers import genome, node

SPEC = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3)
# parameter indices: conv2d = (kernel 2|3, filters 32..128, strides 1|2, relu|elu, bias no|yes)
CONV3_32_S2 = (1, 0, 1, 0, 1)


def test_single_conv_network():
    dna = genome(SPEC, [node(SPEC, "conv2d", params=CONV3_32_S2, multiplier=2)], output=1)
    graph = decode(dna, SPEC, (28, 28, 1), 10)
    assert list(nx.topological_sort(graph)) == ["input", "node0", "head"]
    conv = graph.nodes["node0"]
    assert conv["op"] == "conv2d"
    assert conv["params"] == {"kernel": 3, "filters": 32, "strides": 2, "activation": "relu",
                              "use_bias": True}
    assert conv["multiplier"] == 2
    assert conv["input_shapes"] == [(28, 28, 1)]
    assert conv["output_shape"] == (14, 14, 32)
    head = graph.nodes["head"]
    assert head["op"] == "classifier" and head["multiplier"] is None
    assert head["output_shape"] == (1, 1, 10)
    assert graph.edges["input", "node0"]["port"] == 0


def test_summation_pools_the_larger_and_projects_the_narrower():
    dna = genome(SPEC, [
        node(SPEC, "conv2d", params=CONV3_32_S2),        # 14x14x32
        node(SPEC, "max_pooling", (1, 0)),               # 7x7x32
        node(SPEC, "max_pooling", (2, 0)),               # 4x4x32
        node(SPEC, "summation", (0, 3), multiplier=1),   # input 28x28x1 + 4x4x32
    ], output=4)
    graph = decode(dna, SPEC, (28, 28, 1), 10)
    add = graph.nodes["node3"]
    assert add["input_shapes"] == [(28, 28, 1), (4, 4, 32)]
    assert add["output_shape"] == (4, 4, 32)
    assert add["multiplier"] == 1
    assert add["repairs"] == ["input 0 max-pooled (8, 8) to (4, 4)",
                              "input 0 projected 1x1 to 32 channels"]


def test_summation_without_projection_has_no_multiplier():
    dna = genome(SPEC, [node(SPEC, "max_pooling"), node(SPEC, "summation", (0, 1), [],
                                                        multiplier=2)], output=2)
    graph = decode(dna, SPEC, (9, 9, 3), 4)
    assert graph.nodes["node1"]["output_shape"] == (5, 5, 3)
    assert graph.nodes["node1"]["multiplier"] is None


def test_summation_of_a_node_with_itself():
    dna = genome(SPEC, [node(SPEC, "summation", (0, 0))], output=1)
    graph = decode(dna, SPEC, (8, 8, 2), 3)
    assert graph.nodes["node0"]["inputs"] == ["input", "input"]
    assert graph.edges["input", "node0"]["ports"] == (0, 1)


def test_stride_two_on_a_single_pixel_becomes_one():
    dna = genome(SPEC, [node(SPEC, "conv2d", params=CONV3_32_S2),
                        node(SPEC, "conv2d", (1, 0), params=CONV3_32_S2),
                        node(SPEC, "max_pooling", (2, 0))], output=3)
    graph = decode(dna, SPEC, (3, 2, 1), 10)
    assert graph.nodes["node0"]["output_shape"] == (2, 1, 32)
    assert graph.nodes["node1"]["params"]["strides"] == 1
    assert graph.nodes["node1"]["output_shape"] == (2, 1, 32)
    assert graph.nodes["node1"]["repairs"]
    assert graph.nodes["node2"]["output_shape"] == (2, 1, 32)


def test_dropout_rate_between_min_and_max():
    dna = genome(SPEC, [node(SPEC, "dropout", params=(2, 0, 2))], output=1)
    graph = decode(dna, SPEC, (8, 8, 1), 10)
    assert graph.nodes["node0"]["params"]["rate"] == pytest.approx(0.15 + 0.5 * (0.20 - 0.15))


def test_every_random_genome_decodes_to_a_consistent_graph():
    for rows, columns, levels_back, seed in [(1, 6, 6, 0), (2, 6, 2, 1), (4, 8, 3, 2)]:
        spec = CGPSpec(rows=rows, columns=columns, levels_back=levels_back)
        rng = np.random.default_rng(seed)
        for _ in range(100):
            graph = decode(random_genome(spec, rng), spec, (28, 28, 1), 10)
            assert nx.is_directed_acyclic_graph(graph)
            for _name, data in graph.nodes(data=True):
                shapes = [graph.nodes[i]["output_shape"] for i in data["inputs"]]
                assert data["input_shapes"] == shapes
                assert min(data["output_shape"]) >= 1
            assert nx.descendants(graph, "input") == set(graph) - {"input"}


def test_bad_input_shape_is_a_user_error():
    dna = random_genome(SPEC, np.random.default_rng(0))
    with pytest.raises(UserError, match="input_shape"):
        decode(dna, SPEC, (28, 28), 10)
    with pytest.raises(UserError, match="n_classes"):
        decode(dna, SPEC, (28, 28, 1), 1)


def test_importing_cgp_does_not_import_tensorflow():
    code = ("import sys, evoapproxnas.cgp, evoapproxnas.data;"
            "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
