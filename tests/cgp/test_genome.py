import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    active_nodes,
    genome_hash,
    random_genome,
    validate_genome,
)
from evoapproxnas.errors import UserError

from .helpers import genome, node

SPEC = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3)


def test_layout_of_default_spec():
    spec = CGPSpec()
    # 10 functions; conv2d has the most parameters (5): node = function, 2 inputs, 5, multiplier
    assert spec.node_length == 9
    assert spec.genome_length == spec.rows * spec.columns * 9 + 1
    # lcm of the choice counts 2, 3, 4, 5, 7 and 8
    assert spec.param_levels == 840
    assert spec.allowed_inputs(0) == (0,)
    assert spec.allowed_inputs(spec.rows * 3) == (0, *range(1 + spec.rows, 1 + 3 * spec.rows))


def test_random_genomes_are_valid_and_reproducible():
    for seed in range(5):
        a = random_genome(SPEC, np.random.default_rng(seed))
        b = random_genome(SPEC, np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
        validate_genome(a, SPEC)
    assert genome_hash(a, SPEC) == genome_hash(b, SPEC)


def test_random_genes_cover_every_valid_value():
    from evoapproxnas.cgp.genome import _gene_bounds

    spec = CGPSpec(rows=3, columns=5, levels_back=2, n_multipliers=4, min_active_nodes=1)
    genomes = np.array([random_genome(spec, np.random.default_rng(s)) for s in range(2000)])
    for index in range(spec.genome_length):
        low, high = _gene_bounds(spec, index)
        valid = set(high) if isinstance(high, tuple) else set(range(low, high))
        seen = set(genomes[:, index].tolist())
        assert seen <= valid
        if len(valid) <= 20:
            assert seen == valid, index


def test_minimum_active_nodes_is_capped_at_the_columns():
    spec = CGPSpec(rows=4, columns=2, levels_back=1, min_active_nodes=5)
    assert spec.required_active == 2
    for seed in range(20):
        assert len(active_nodes(random_genome(spec, np.random.default_rng(seed)), spec)) >= 2


@pytest.mark.parametrize(
    "index, value, gene",
    [
        (0, 10, "node 0 function"),
        (1, 1, "node 0 input_0"),  # node 0 may only read the input
        (10, 2, "node 1 input_0"),  # node 1 may not read itself
        (3, 840, "node 0 param_0"),
        (8, 3, "node 0 multiplier"),
        (36, 0, "output"),
    ],
)
def test_invalid_gene_is_named(index, value, gene):
    dna = genome(SPEC, [node(SPEC, "conv2d")], output=1)
    dna[index] = value
    with pytest.raises(ValueError, match=gene):
        validate_genome(dna, SPEC)


def test_wrong_length_and_type():
    with pytest.raises(ValueError, match="37 ints"):
        validate_genome([0] * 5, SPEC)
    with pytest.raises(ValueError, match="integers"):
        validate_genome([0.5] * SPEC.genome_length, SPEC)


def test_active_nodes_follow_the_output_backwards():
    dna = genome(SPEC, [
        node(SPEC, "conv2d"),                  # 1 (active)
        node(SPEC, "max_pooling", (0, 0)),     # 2 (inactive)
        node(SPEC, "summation", (1, 0)),       # 3 (active)
        node(SPEC, "batch_norm", (3, 0)),      # 4 (active, output)
    ], output=4)
    assert active_nodes(dna, SPEC) == [1, 3, 4]


def test_hash_ignores_inactive_and_unused_genes():
    dna = genome(SPEC, [node(SPEC, "conv2d", params=(1, 2, 0, 0, 1)),
                        node(SPEC, "batch_norm", (1, 0))], output=2)
    base = genome_hash(dna, SPEC)
    changed = list(dna)
    changed[9 + 2] = 1  # input_1 of batch_norm (arity 1): unused
    changed[9 + 3] = 5  # a parameter gene of batch_norm (no parameters): unused
    changed[9 + 8] = 2  # multiplier gene of batch_norm: does not multiply
    changed[27 + 0] = 4  # node 3 is inactive
    changed[3] = 1 + 2  # kernel gene 3 selects choices[3 % 2] = 3, the same as gene 1
    assert genome_hash(changed, SPEC) == base
    for index, value in [(8, 1), (4, 3), (0, 3), (36, 1)]:
        other = list(dna)
        other[index] = value
        assert genome_hash(other, SPEC) != base, index


def test_hash_ignores_grid_position_and_summation_order():
    a = genome(SPEC, [node(SPEC, "conv2d"), node(SPEC, "max_pooling"),
                      node(SPEC, "summation", (1, 2))], output=3)
    c = genome(SPEC, [node(SPEC, "conv2d"), node(SPEC, "max_pooling"),
                      node(SPEC, "summation", (2, 1))], output=3)
    assert genome_hash(a, SPEC) == genome_hash(c, SPEC)
    d = genome(SPEC, [node(SPEC, "batch_norm"), node(SPEC, "conv2d"), node(SPEC, "max_pooling"),
                      node(SPEC, "summation", (2, 3))], output=4)
    assert genome_hash(a, SPEC) == genome_hash(d, SPEC)


def test_head_multiplier_changes_the_hash():
    dna = random_genome(SPEC, np.random.default_rng(0))
    other = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3, head_multiplier=1)
    assert genome_hash(dna, SPEC) != genome_hash(dna, other)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rows": 0}, "rows"),
        ({"functions": ("conv2d", "conv3d")}, "conv3d"),
        ({"choices": {"conv2d": {"channels": [8]}}}, "no parameter 'channels'"),
        ({"mutation_rate": 0.0}, "mutation_rate"),
        ({"choices": {"conv2d": {"strides": [3]}}}, "1 or 2"),
        ({"choices": {"conv2d": {"activation": ["prelu"]}}}, "relu or elu"),
        ({"choices": {"activation": {"activation": ["swish"]}}}, "swish"),
        ({"choices": {"conv2d": {"filters": [0]}}}, "positive integers"),
        ({"head_multiplier": 2}, "head_multiplier"),
    ],
)
def test_bad_spec_is_a_user_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        CGPSpec(**kwargs)


def test_choice_overrides_and_function_subsets():
    spec = CGPSpec(functions=("conv2d", "max_pooling"), choices={"conv2d": {"filters": [8, 16]}})
    assert spec.node_functions[0].params[1] == ("filters", (8, 16))
    assert spec.param_levels == 2
    assert spec.node_length == 1 + 2 + 5 + 1


def test_validation_agrees_with_the_bounds_of_every_gene():
    from evoapproxnas.cgp.genome import _gene_bounds

    spec = CGPSpec(rows=3, columns=4, levels_back=2, n_multipliers=3, min_active_nodes=1)
    rng = np.random.default_rng(0)
    base = random_genome(spec, rng)
    outcomes = set()
    for _ in range(600):
        index = int(rng.integers(spec.genome_length))
        low, high = _gene_bounds(spec, index)
        valid = set(high) if isinstance(high, tuple) else set(range(low, high))
        value = int(rng.integers(-2, max(valid) + 3))
        dna = base.copy()
        dna[index] = value
        if value in valid:
            np.testing.assert_array_equal(validate_genome(dna, spec), dna)
        else:
            with pytest.raises(ValueError, match=f"gene {index} "):
                validate_genome(dna, spec)
        outcomes.add(value in valid)
    assert outcomes == {True, False}
