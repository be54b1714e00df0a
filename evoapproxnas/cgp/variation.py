"""Multiplier-aware variation: neighbour moves in the library's power/error order and a
crossover of per-layer multiplier assignments.

``cgp.multiplier_mutation = "neighbour"``: a multiplier gene that a point mutation (or a
re-pricing, ``cgp.uniform_multiplier_rate``) changes moves one step up or down the allowed
multipliers ordered by power (most power first; ties by mean absolute error, then name) with
probability ``NEIGHBOUR_SHARE``, else to any other allowed multiplier, uniformly. The order
is ``CGPSpec.multiplier_order`` (a campaign derives it, ``power_error_order``; empty: gene
order). A step from a multiplier changes the network's power a little, so an offspring
explores the power axis near its parent instead of jumping across it.

``recombine`` (``cgp.multiplier_crossover``): two parents that build the same layers from the
same genes (a network and its re-priced copies) exchange multipliers, and bit widths where
the spec has width genes, layer by layer (uniform crossover of their active multiplier and
width genes); the child is new to both.
"""

from __future__ import annotations

import numpy as np

from evoapproxnas.cgp.spec import CGPSpec

NEIGHBOUR_SHARE = 0.8
"""Share of neighbour moves among the changes of a multiplier gene (``"neighbour"``)."""
RECOMBINE_TRIES = 16
"""Uniform-crossover draws before ``recombine`` gives up on a child new to both parents."""


def power_error_order(multipliers) -> tuple[int, ...]:
    """Gene values (indices into ``multipliers``) from the most to the least power (a
    multiplier without a power figure first), ties by mean absolute error, then name."""

    def rank(i: int):
        m = multipliers[i]
        power = m.power_mw if m.power_mw is not None else float("inf")
        return (-power, float(m.metrics.mae_pct), m.name)

    return tuple(sorted(range(len(multipliers)), key=rank))


def gene_order(spec: CGPSpec) -> tuple[int, ...]:
    """The spec's power/error order of multiplier genes (gene order when it has none)."""
    order = tuple(spec.multiplier_order)
    return order if len(order) == spec.n_multipliers else tuple(range(spec.n_multipliers))


def is_multiplier_gene(spec: CGPSpec, index: int) -> bool:
    """True for a node's multiplier gene and the head's own multiplier gene."""
    if index == spec.head_gene_index:
        return True
    return (index < spec.n_nodes * spec.node_length
            and index % spec.node_length == spec.multiplier_offset)


def is_pricing_gene(spec: CGPSpec, index: int) -> bool:
    """True for a multiplier gene and a node's width genes (``CGPSpec.width_genes``): the
    genes that price a layer without changing which layers the network builds."""
    if is_multiplier_gene(spec, index):
        return True
    return (index < spec.n_nodes * spec.node_length
            and index % spec.node_length > spec.multiplier_offset)


def neighbour_gene(spec: CGPSpec, current: int, rng: np.random.Generator) -> int:
    """Another multiplier gene than ``current``: with probability ``NEIGHBOUR_SHARE`` one of
    its neighbours in ``gene_order`` (either side, drawn evenly; at an end the one there
    is), else any other, uniformly (``current`` itself only when it is the only one)."""
    order = gene_order(spec)
    n = len(order)
    if n < 2:
        return current
    rank = order.index(current)
    if rng.random() < NEIGHBOUR_SHARE:
        sides = [r for r in (rank - 1, rank + 1) if 0 <= r < n]
        return order[sides[int(rng.integers(len(sides)))]]
    others = [g for g in order if g != current]
    return others[int(rng.integers(len(others)))]


def active_multiplier_genes(genome: np.ndarray, spec: CGPSpec) -> list[int]:
    """Indices of the multiplier genes the decoded network uses."""
    from evoapproxnas.cgp.genome import active_gene_indices

    return [i for i in active_gene_indices(genome, spec) if is_multiplier_gene(spec, i)]


def recombine(a, b, spec: CGPSpec, rng: np.random.Generator) -> np.ndarray | None:
    """A child of ``a`` whose active multiplier genes (and width genes, where the spec has
    them) each come from ``a`` or ``b`` (even odds), new to both; ``None`` when the parents
    do not build the same layers from the same genes (their active genes other than
    multipliers and widths differ) or differ in fewer than two such genes (no child new to
    both)."""
    from evoapproxnas.cgp.genome import active_gene_indices, validate_genome

    a, b = validate_genome(a, spec), validate_genome(b, spec)
    active = active_gene_indices(a, spec)
    if active != active_gene_indices(b, spec):
        return None
    layout = [i for i in active if not is_pricing_gene(spec, i)]
    if np.any(a[layout] != b[layout]):
        return None
    differ = [i for i in active if is_pricing_gene(spec, i) and a[i] != b[i]]
    if len(differ) < 2:
        return None
    for _ in range(RECOMBINE_TRIES):
        take = rng.random(len(differ)) < 0.5
        if take.any() and not take.all():
            child = a.copy()
            child[np.array(differ)[take]] = b[np.array(differ)[take]]
            return child
    child = a.copy()  # the draws kept taking all or nothing: one gene from b
    child[differ[0]] = b[differ[0]]
    return child
