import keras
import numpy as np

from evoapproxnas.cgp import (
    CGPSpec,
    count_params,
    decode,
    genome_hash,
    graph_primitives,
    random_genome,
)
from evoapproxnas.nn import build_model

from ..cgp.helpers import genome, node

GRIDS = [  # rows, columns, levels_back, seed, genomes
    (1, 6, 6, 0, 80),
    (2, 6, 2, 1, 80),
    (3, 4, 3, 2, 70),
    (4, 8, 8, 3, 70),
]


def test_300_random_genomes_build_run_and_match_keras_parameter_count():
    x = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    built = 0
    for rows, columns, levels_back, seed, n in GRIDS:
        spec = CGPSpec(rows=rows, columns=columns, levels_back=levels_back, n_multipliers=3)
        rng = np.random.default_rng(seed)
        for _ in range(n):
            graph = decode(random_genome(spec, rng), spec, (16, 16, 1), 10)
            model = build_model(graph)
            assert model.count_params() == count_params(graph), graph.graph["genome_hash"]
            assert_shapes_match(model, graph)
            logits = np.asarray(model(x, training=False))
            assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
            keras.backend.clear_session()
            built += 1
    assert built == 300


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
