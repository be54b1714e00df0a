import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    active_gene_indices,
    active_nodes,
    genome_hash,
    mutate,
    random_genome,
    uniform_multiplier,
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


def _layer_genes(genome, spec) -> set:
    """The multiplier genes the decoded network's multiplying layers use (the head aside)."""
    from evoapproxnas.cgp import decode, multiply_layers

    graph = decode(genome, spec, (28, 28, 1), 10)
    return {layer["multiplier"] for layer in multiply_layers(graph)
            if not layer["name"].startswith("head")}


def test_uniform_multiplier_keeps_the_network_and_prices_it_with_one_multiplier():
    spec = CGPSpec(rows=2, columns=5, levels_back=2, n_multipliers=7, min_active_nodes=4)
    rng = np.random.default_rng(2)
    for _ in range(30):
        parent = random_genome(spec, rng)
        child = uniform_multiplier(parent, spec, rng)
        structure = np.ones(spec.genome_length, dtype=bool)
        structure[spec.node_length - 1::spec.node_length][:spec.n_nodes] = False
        np.testing.assert_array_equal(child[structure], parent[structure])
        assert len(_layer_genes(child, spec)) == 1
        assert active_nodes(child, spec) == active_nodes(parent, spec)


def test_repricing_mutation_moves_a_uniform_network_to_another_multiplier():
    spec = CGPSpec(rows=2, columns=5, levels_back=2, n_multipliers=5, min_active_nodes=4,
                   uniform_multiplier_rate=1.0)
    rng = np.random.default_rng(8)
    targets = []
    for _ in range(60):
        parent = random_genome(spec, rng)  # rate 1: already one multiplier everywhere
        if not _layer_genes(parent, spec):
            continue  # pooling only: nothing to re-price (a point mutation instead)
        (before,) = _layer_genes(parent, spec)
        child = mutate(parent, spec, rng)
        (after,) = _layer_genes(child, spec)
        assert after != before
        assert genome_hash(child, spec, (28, 28, 1), 10) != genome_hash(parent, spec,
                                                                       (28, 28, 1), 10)
        targets.append(after)
    assert set(targets) == set(range(5))  # every other multiplier is reachable


def test_uniform_multiplier_rate_sets_the_share_of_single_multiplier_genomes():
    spec = CGPSpec(rows=2, columns=5, levels_back=2, n_multipliers=7, min_active_nodes=4,
                   uniform_multiplier_rate=0.5)
    rng = np.random.default_rng(4)
    genomes = [random_genome(spec, rng) for _ in range(300)]
    uniform = [len(set(g[spec.node_length - 1:spec.n_nodes * spec.node_length:
                         spec.node_length].tolist())) == 1 for g in genomes]
    # ten independent per-node draws from 7 multipliers are all equal with p = 7^-9
    assert 0.4 < np.mean(uniform) < 0.6
    children = [mutate(g, spec, rng) for g in genomes[:200]]
    repriced = [len(_layer_genes(c, spec)) == 1 and len(_layer_genes(g, spec)) > 1
                for g, c in zip(genomes, children)]
    mixed = sum(len(_layer_genes(g, spec)) > 1 for g in genomes[:200])
    assert 0.35 * mixed < sum(repriced) < 0.65 * mixed + 5


class _CoinCounter:
    """A generator that counts the scalar ``random()`` draws (the rate's coin) it hands out."""

    def __init__(self, seed: int) -> None:
        self.rng, self.coins = np.random.default_rng(seed), 0

    def random(self, size=None):
        self.coins += size is None
        return self.rng.random(size)

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_without_uniform_multiplier_rate_no_coin_is_drawn():
    # the rate's coin is only tossed when the rate is set: old seeds give the old offspring
    for rate, coins in ((0.0, 0), (0.3, 1)):
        spec = CGPSpec(n_multipliers=4, uniform_multiplier_rate=rate)
        rng = _CoinCounter(0)
        parent = random_genome(spec, rng)
        assert rng.coins == coins
        mutate(parent, spec, rng)
        assert rng.coins == 2 * coins


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_uniform_multiplier_rate_out_of_range_is_a_user_error(rate):
    with pytest.raises(UserError, match="uniform_multiplier_rate must be in"):
        CGPSpec(uniform_multiplier_rate=rate)
