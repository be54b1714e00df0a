import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    active_gene_indices,
    active_nodes,
    genome_hash,
    mutate,
    random_genome,
    validate_genome,
)
from evoapproxnas.errors import UserError


def test_mutation_changes_an_active_gene_and_stays_valid():
    spec = CGPSpec(rows=2, columns=5, levels_back=2, n_multipliers=4, mutation_rate=0.02)
    rng = np.random.default_rng(3)
    for _ in range(100):
        parent = random_genome(spec, rng)
        before = parent.copy()
        child = mutate(parent, spec, rng)
        np.testing.assert_array_equal(parent, before)  # the parent is not modified
        validate_genome(child, spec)
        active = active_gene_indices(parent, spec)
        assert np.any(child[active] != parent[active])


def test_without_the_active_rule_mutations_can_be_neutral():
    spec = CGPSpec(rows=3, columns=6, levels_back=2, mutation_rate=0.02,
                   mutate_until_active=False)
    rng = np.random.default_rng(5)
    neutral = 0
    for _ in range(100):
        parent = random_genome(spec, rng)
        if genome_hash(mutate(parent, spec, rng), spec) == genome_hash(parent, spec):
            neutral += 1
    assert neutral > 10


def test_mutation_rate_sets_the_expected_number_of_changes():
    spec = CGPSpec(rows=4, columns=10, levels_back=3, mutation_rate=0.1,
                   mutate_until_active=False, min_active_nodes=1)
    rng = np.random.default_rng(11)
    changed = [np.sum(mutate(g, spec, rng) != g) for g in
               (random_genome(spec, rng) for _ in range(200))]
    # each gene is redrawn to a different value with probability 0.1, except genes with one
    # valid value (node 0's connections, the first column's inputs)
    expected = 0.1 * spec.genome_length
    assert 0.8 * expected < np.mean(changed) < 1.05 * expected


def test_same_seed_same_offspring():
    spec = CGPSpec()
    parent = random_genome(spec, np.random.default_rng(0))
    a = mutate(parent, spec, np.random.default_rng(42))
    b = mutate(parent, spec, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)


def test_random_genomes_and_offspring_keep_the_minimum_active_nodes():
    spec = CGPSpec(rows=2, columns=6, levels_back=2, min_active_nodes=4)
    rng = np.random.default_rng(2)
    for _ in range(50):
        parent = random_genome(spec, rng)
        assert len(active_nodes(parent, spec)) >= 4
        assert len(active_nodes(mutate(parent, spec, rng), spec)) >= 4


def test_unreachable_minimum_is_a_user_error():
    # all 30 nodes active needs a chain through the whole grid: about one genome in 30!
    spec = CGPSpec(rows=1, columns=30, levels_back=30, min_active_nodes=30)
    with pytest.raises(UserError, match="min_active_nodes"):
        random_genome(spec, np.random.default_rng(0))
