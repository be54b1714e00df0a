import re

import keras
import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    count_params,
    decode,
    genome_hash,
    graph_primitives,
    multiply_layers,
    random_genome,
)
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library
from evoapproxnas.nn import build_model

from ..cgp.helpers import genome, node

pytestmark = pytest.mark.tf

GRIDS = [  # rows, columns, levels_back, seed, genomes
    (1, 6, 6, 0, 80),
    (2, 6, 2, 1, 80),
    (3, 4, 3, 2, 70),
    (4, 8, 8, 3, 70),
]


def keras_weight_count(model) -> int:
    """Trainable weights plus BatchNorm's moving statistics (the convention of count_params)."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    moving = sum(int(np.prod(w.shape)) for layer in model.layers
                 if isinstance(layer, keras.layers.BatchNormalization)
                 for w in layer.non_trainable_weights)
    return trainable + moving


@pytest.fixture(scope="module")
def multipliers():
    lib = load_library("evoapproxlib8u")
    return [lib["mul8u_2AC"], lib["mul8u_13QR"], lib["mul8u_1JFF"]]


def random_graphs() -> list:
    """The 300 random genomes of GRIDS, decoded for 16x16x1 inputs and 10 classes."""
    graphs = []
    for rows, columns, levels_back, seed, n in GRIDS:
        spec = CGPSpec(rows=rows, columns=columns, levels_back=levels_back, n_multipliers=3)
        rng = np.random.default_rng(seed)
        graphs += [decode(random_genome(spec, rng), spec, (16, 16, 1), 10) for _ in range(n)]
    return graphs


def features(graph) -> set:
    """What a genome exercises: each active node's function with its parameters, each kind of
    shape repair, and each primitive configuration (kind, kernel, strides, activation, bias,
    and whether it sees a 1x1 input)."""
    out = set()
    for _, data in graph.nodes(data=True):
        if "op" in data:
            out.add((data["op"], tuple(sorted(data.get("params", {}).items()))))
            out |= {(data["op"], re.sub(r"\d+", "#", str(r))) for r in data.get("repairs", [])}
    for item in graph_primitives(graph):
        out.add((item["kind"], *(str(item.get(k)) for k in
                                 ("kernel", "strides", "activation", "use_bias")),
                 tuple(item["input_shape"][:2]) == (1, 1)))
    return out


def covering_subset(sets: list[set]) -> list[int]:
    """Indices of a few of ``sets`` whose union is the union of all (greedy set cover)."""
    left, chosen = set().union(*sets), []
    while left:
        best = max(range(len(sets)), key=lambda i: (len(sets[i] & left), -i))
        chosen.append(best)
        left -= sets[best]
    return sorted(chosen)


@pytest.mark.slow
def test_random_genomes_build_run_and_match_keras_parameter_count(multipliers):
    """Keras models of random genomes, plain and approximate: parameter counts, the decoder's
    shapes, one Approx layer per multiplication and finite product-table logits.

    Of the 300 genomes drawn from GRIDS, a subset is built in which every function with each
    parameter combination, each kind of shape repair and each primitive configuration met
    among the 300 occurs at least once (a greedy cover, about 120 genomes: building all 300
    took 75 s on two cores; the others differ only in how these combine)."""
    graphs = random_graphs()
    exercised = [features(graph) for graph in graphs]
    chosen = covering_subset(exercised)
    assert set().union(*(exercised[i] for i in chosen)) == set().union(*exercised)
    assert 60 < len(chosen) < 150 and len(set().union(*exercised)) > 200
    x = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    for graph in (graphs[i] for i in chosen):
        expected = count_params(graph)
        plain = build_model(graph)
        assert plain.count_params() == expected, graph.graph["genome_hash"]
        model = build_model(graph, multipliers)
        # approximate layers add one non-trainable 3-float input-range state each
        assert keras_weight_count(model) == expected
        assert model.count_params() == expected + 3 * len(multiply_layers(graph))
        assert_shapes_match(model, graph)
        approx_layers = [layer for layer in model.layers if "Approx" in type(layer).__name__]
        assert len(approx_layers) == len(multiply_layers(graph))
        logits = np.asarray(model(x, training=False))  # product-table emulation
        assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
        keras.backend.clear_session(free_memory=False)


def assert_shapes_match(model, graph):
    """Every Keras layer's output shape equals the shape the decoder inferred."""
    for item in graph_primitives(graph):
        shape = tuple(model.get_layer(item["name"].replace("/", "_")).output.shape[1:])
        expected = item["output_shape"]
        if item["kind"] in ("dense", "global_avg_pool"):
            expected = expected[2:]
        assert shape == expected, item["name"]


def test_shape_repairs_build_as_inferred():
    spec = CGPSpec(rows=1, columns=5, levels_back=5, n_multipliers=2)
    conv_s2 = (1, 0, 1, 0, 1)  # 3x3, 32 channels, stride 2, relu, bias
    graph = decode(genome(spec, [
        node(spec, "conv2d", params=conv_s2),                      # 5x3 -> 3x2
        node(spec, "basic_residual", (1, 0), params=(1, 3, 1, 1)),  # -> 2x1, 64 ch
        node(spec, "residual_inverted", (2, 0), params=(0, 1, 1)),  # stride repaired: 2x1
        node(spec, "summation", (0, 3), multiplier=1),             # pool 5x3 -> 2x1, project
        node(spec, "depthwise_conv2d", (4, 0), params=(0, 1, 1, 1)),  # stride repaired
    ], output=5), spec, (5, 3, 1), 4)
    assert graph.nodes["node2"]["params"]["strides"] == 1
    assert graph.nodes["node3"]["output_shape"] == (2, 1, 64)
    assert graph.nodes["node4"]["output_shape"] == (2, 1, 64)
    model = build_model(graph)
    assert_shapes_match(model, graph)
    assert model.count_params() == count_params(graph)
    assert model(np.zeros((1, 5, 3, 1), np.float32)).shape == (1, 4)


def test_same_seed_same_genomes_and_hashes():
    spec = CGPSpec(rows=3, columns=5, levels_back=2)
    first = [random_genome(spec, np.random.default_rng(9)) for _ in range(3)]
    again = [random_genome(spec, np.random.default_rng(9)) for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert genome_hash(a, spec) == genome_hash(b, spec)
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    hashes_a = [genome_hash(random_genome(spec, rng_a), spec) for _ in range(20)]
    hashes_b = [genome_hash(random_genome(spec, rng_b), spec) for _ in range(20)]
    assert hashes_a == hashes_b and len(set(hashes_a)) > 10


def test_each_layer_gets_its_node_multiplier(multipliers):
    spec = CGPSpec(rows=1, columns=2, levels_back=2, n_multipliers=3)
    graph = decode(genome(spec, [node(spec, "conv2d", params=(1, 0, 1, 0, 1), multiplier=1),
                                 node(spec, "depthwise_conv2d", (1, 0), multiplier=0)],
                          output=2), spec, (8, 8, 1), 3)
    model = build_model(graph, {0: multipliers[0], 1: multipliers[1]})
    assert model.get_layer("node0_conv").multiplier == "mul8u_13QR"
    assert model.get_layer("node1_dwconv").multiplier == "mul8u_2AC"
    assert model.get_layer("head_dense").multiplier == load_library("evoapproxlib8u").exact.name
    with pytest.raises(UserError, match="no multiplier for gene 1"):
        build_model(graph, [multipliers[0]])


def test_mixed_widths_and_the_weight_scheme_reach_every_approximate_layer():
    """A network on 8x2, 8x4 and the exact 8x8 of evoapproxlib8xNu, per channel: every layer has
    its node's multiplier, the campaign's scheme and its multiplier's weight width; the model
    runs and its inference output changes with the scheme (same weights)."""
    lib = load_library("evoapproxlib8xNu")
    spec = CGPSpec(rows=1, columns=2, levels_back=2, n_multipliers=2)
    graph = decode(genome(spec, [node(spec, "conv2d", params=(1, 0, 1, 0, 1), multiplier=1),
                                 node(spec, "depthwise_conv2d", (1, 0), multiplier=0)],
                          output=2), spec, (8, 8, 1), 3)
    mults = [lib["mul8x2u_106"], lib["mul8x4u_3Y3"]]
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype(np.float32)
    outputs = {}
    for scheme in ("per_tensor", "per_channel"):
        model = build_model(graph, mults, seed=3, weight_quantization=scheme)
        layers = {name: model.get_layer(name) for name in
                  ("node0_conv", "node1_dwconv", "head_dense")}
        assert [(la.multiplier, la.weight_bits, la.weight_quantization)
                for la in layers.values()] == [("mul8x4u_3Y3", 4, scheme),
                                               ("mul8x2u_106", 2, scheme),
                                               ("mul8u_1JFF", 8, scheme)]
        model(x, training=True)
        outputs[scheme] = model.predict(x, verbose=0)
    assert np.all(np.isfinite(outputs["per_channel"]))
    assert not np.allclose(outputs["per_tensor"], outputs["per_channel"])
    assert build_model(graph, mults).get_layer("node0_conv").weight_quantization == "per_tensor"
