"""Multiplier-aware variation (``cgp.variation``): the neighbour mutation stays within the
allowed multipliers and prefers the neighbours in the power order (a binomial test against
the uniform mutation's share); the crossover exchanges multipliers between re-priced copies
of one network only; the campaign's order is by power."""

import dataclasses

import numpy as np
import pytest
from scipy.stats import binomtest

from evoapproxnas.cgp import mutate, random_genome
from evoapproxnas.cgp.genome import multiplier_gene_indices, priced_with
from evoapproxnas.cgp.spec import CGPSpec
from evoapproxnas.cgp.variation import (
    active_multiplier_genes,
    neighbour_gene,
    power_error_order,
    recombine,
)
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library

ORDER = (3, 0, 5, 1, 6, 2, 4)  # gene values from the most to the least power
SPEC = CGPSpec(rows=2, columns=4, n_multipliers=7, multiplier_order=ORDER,
               functions=("conv2d", "max_pooling"), head_multiplier="gene")


def multiplier_steps(spec: CGPSpec, n: int, seed: int) -> list[int]:
    """Distance in ``ORDER`` of every multiplier gene a mutation changed."""
    rng = np.random.default_rng(seed)
    genes = multiplier_gene_indices(spec)
    steps = []
    while len(steps) < n:
        parent = random_genome(spec, rng)
        child = mutate(parent, spec, rng)
        assert child[genes].min() >= 0 and child[genes].max() < spec.n_multipliers
        for i in genes:
            if child[i] != parent[i]:
                steps.append(abs(ORDER.index(child[i]) - ORDER.index(parent[i])))
    return steps


def test_the_neighbour_mutation_stays_allowed_and_prefers_neighbours():
    neighbour = dataclasses.replace(SPEC, multiplier_mutation="neighbour")
    steps = multiplier_steps(neighbour, 600, seed=1)
    ones = sum(s == 1 for s in steps)
    # uniform changes land on a neighbour 2/6 of the time inside the order, 1/6 at its ends:
    # at most a third; one neighbour move is one step 0.8 of the time, but a gene may move
    # twice while the mutation drifts until an active gene changes
    assert binomtest(ones, len(steps), 1 / 3, alternative="greater").pvalue < 1e-6
    assert ones / len(steps) > 0.6
    uniform_steps = multiplier_steps(SPEC, 600, seed=1)
    share = sum(s == 1 for s in uniform_steps) / len(uniform_steps)
    assert share < 0.4  # the default is uniform, as before


def test_neighbour_gene_follows_the_order_and_its_ends():
    rng = np.random.default_rng(2)
    draws = [neighbour_gene(SPEC, 3, rng) for _ in range(400)]  # the first in the order
    assert set(draws) <= set(range(7)) - {3}
    assert draws.count(0) / len(draws) > 0.75  # its only neighbour
    middle = [neighbour_gene(SPEC, 1, rng) for _ in range(400)]  # between 5 and 6
    assert 0.3 < middle.count(5) / 400 < 0.55 and 0.3 < middle.count(6) / 400 < 0.55
    single = dataclasses.replace(SPEC, n_multipliers=1, multiplier_order=())
    assert neighbour_gene(single, 0, rng) == 0


def test_the_repricing_of_a_shared_multiplier_moves_to_a_neighbour():
    spec = dataclasses.replace(SPEC, multiplier_mutation="neighbour",
                               uniform_multiplier_rate=1.0)
    rng = np.random.default_rng(3)
    ones = total = 0
    for _ in range(200):
        parent = priced_with(random_genome(spec, rng), spec, 5)
        child = mutate(parent, spec, rng)
        used = {int(child[i]) for i in active_multiplier_genes(child, spec)}
        assert len(used) == 1 and used != {5}
        total += 1
        ones += abs(ORDER.index(used.pop()) - ORDER.index(5)) == 1
    assert ones / total > 0.7


def test_recombine_exchanges_multipliers_of_one_network_only():
    rng = np.random.default_rng(4)
    a = random_genome(SPEC, rng)
    while len(active_multiplier_genes(a, SPEC)) < 3:
        a = random_genome(SPEC, rng)
    genes = active_multiplier_genes(a, SPEC)
    a = priced_with(a, SPEC, 0)
    b = a.copy()
    b[genes] = [1 + k % 6 for k in range(len(genes))]  # every layer its own multiplier
    for _ in range(50):
        child = recombine(a, b, SPEC, rng)
        assert child is not None
        other = [i for i in range(len(a)) if i not in genes]
        assert np.array_equal(child[other], a[other])  # only active multipliers move
        assert all(child[i] in (a[i], b[i]) for i in genes)
        assert not np.array_equal(child, a) and not np.array_equal(child, b)
    assert recombine(a, priced_with(a, SPEC, 2), SPEC, rng) is not None or len(genes) < 2
    c = a.copy()
    c[genes[0]] = 4  # differs in one gene only: no child new to both
    assert recombine(a, c, SPEC, rng) is None
    other = random_genome(SPEC, np.random.default_rng(99))
    assert recombine(a, other, SPEC, rng) is None  # another network


def test_the_campaign_order_is_by_power_and_bad_settings_are_one_line():
    library = load_library("evoapproxlib8u")
    multipliers = [library[n] for n in ("mul8u_FTA", "mul8u_1JFF", "mul8u_17KS", "mul8u_NGR")]
    order = power_error_order(multipliers)
    powers = [multipliers[i].power_mw for i in order]
    assert order[0] == 1 and powers == sorted(powers, reverse=True)
    for bad in ({"multiplier_mutation": "nearest"}, {"multiplier_crossover": 1.5},
                {"multiplier_order": (0, 0, 1)}):
        with pytest.raises(UserError) as info:
            CGPSpec(n_multipliers=3, **bad)
        assert "\n" not in str(info.value)
