import numpy as np

from evoapproxnas.cgp import (
    CGPSpec,
    active_gene_indices,
    genome_hash,
    mutate,
    random_genome,
    validate_genome,
)


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
                   mutate_until_active=False)
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
