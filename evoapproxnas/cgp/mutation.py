"""Point mutation with the CGP-CNN rule "mutate until an active gene changes"."""

from __future__ import annotations

import numpy as np

from evoapproxnas.cgp.genome import (
    active_gene_indices,
    active_nodes,
    multiplier_gene_indices,
    priced_with,
    random_gene,
    uniform_multiplier,
    validate_genome,
)
from evoapproxnas.cgp.spec import CGPSpec
from evoapproxnas.cgp.variation import is_multiplier_gene, neighbour_gene

MAX_NEUTRAL_ROUNDS = 1000


def point_mutation(genome: np.ndarray, spec: CGPSpec, rng: np.random.Generator) -> np.ndarray:
    """Redraw each gene with probability ``spec.mutation_rate`` to a different valid value."""
    child = genome.copy()
    for index in np.flatnonzero(rng.random(child.size) < spec.mutation_rate).tolist():
        child[index] = _different_value(spec, index, int(child[index]), rng)
    return child


def _different_value(spec: CGPSpec, index: int, current: int, rng: np.random.Generator) -> int:
    if spec.multiplier_mutation == "neighbour" and is_multiplier_gene(spec, index):
        return neighbour_gene(spec, current, rng)
    for _ in range(64):
        value = random_gene(spec, index, rng)
        if value != current:
            return value
    return current  # the gene has a single valid value


def mutate(genome, spec: CGPSpec, rng: np.random.Generator) -> np.ndarray:
    """Return a mutated copy of ``genome`` (the input is not modified).

    Point mutations accumulate (neutral drift is kept) until the child has at least
    ``spec.min_active_nodes`` active nodes and, with ``spec.mutate_until_active``, at least
    one gene that was active in the parent has changed. After ``MAX_NEUTRAL_ROUNDS`` rounds
    without that, one active gene of the parent is forced to change.

    With probability ``spec.uniform_multiplier_rate`` the child is instead the parent's
    network with one new multiplier on every multiplying node (``uniform_multiplier``; not
    the one all its multiplying layers already share), when that changes an active gene.
    With ``spec.multiplier_mutation = "neighbour"`` a changed multiplier gene, and the one
    multiplier of a re-priced network that shared one, moves mostly to a neighbour in the
    power order (``cgp.variation.neighbour_gene``).
    """
    parent = validate_genome(genome, spec)
    if spec.uniform_multiplier_rate and rng.random() < spec.uniform_multiplier_rate:
        child = _repriced(parent, spec, rng)
        if child is not None:
            return child
    active = active_gene_indices(parent, spec) if spec.mutate_until_active else None
    child = point_mutation(parent, spec, rng)
    for _ in range(MAX_NEUTRAL_ROUNDS):
        changed = active is None or bool(np.any(child[active] != parent[active]))
        if changed and len(active_nodes(child, spec)) >= spec.required_active:
            return child
        child = point_mutation(child, spec, rng)
    child = parent.copy()
    for index in rng.permutation(active_gene_indices(parent, spec)).tolist():
        value = _different_value(spec, index, int(parent[index]), rng)
        if value != parent[index]:
            child[index] = value
            return child
    return child


def _repriced(parent: np.ndarray, spec: CGPSpec, rng: np.random.Generator) -> np.ndarray | None:
    """``uniform_multiplier`` of ``parent``, or ``None`` when no active multiplier gene would
    change (a single multiplier, or a network without multiplying layers)."""
    genes = set(multiplier_gene_indices(spec))
    used = [i for i in active_gene_indices(parent, spec) if i in genes]
    if spec.n_multipliers < 2 or not used:
        return None
    shared = {int(parent[i]) for i in used}
    if spec.multiplier_mutation == "neighbour" and len(shared) == 1:
        return priced_with(parent, spec, neighbour_gene(spec, shared.pop(), rng))
    # excluding the one multiplier they share (if they share one) makes the child differ
    return uniform_multiplier(parent, spec, rng,
                              exclude=shared.pop() if len(shared) == 1 else None)
