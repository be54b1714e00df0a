"""The CGP space: genomes of a ``CGPSpec``, sampled, mutated and identified by the hash of
their decoded network."""

from __future__ import annotations

import numpy as np

REPAIR_TRIES = 20
"""Draws per slot (a sample, or a mutation of the same parent) before a candidate that breaks
a cheap constraint is accepted anyway (it is then recorded ``infeasible``)."""


class CGPSpace:
    """Genomes of a ``CGPSpec``; the key is the hash of the decoded network (``cgp.canonical``):
    two genomes that build the same layers with the same multipliers share a key, so the
    campaign trains that network once.

    With a ``feasible`` predicate (the campaign's cheap constraints, see ``set_filter``),
    ``sample`` and ``mutate`` re-draw a candidate that breaks one, up to ``REPAIR_TRIES``
    draws, so that it does not take a population slot; the rejected draws are kept in
    ``rejected`` until the campaign archives them (``take_rejected``). Both are
    deterministic given the generator. The predicate is not pickled with the space (a
    checkpoint): the campaign sets it again after loading one.
    """

    def __init__(self, spec, input_shape=None, n_classes: int | None = None) -> None:
        self.spec = spec
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.n_classes = n_classes
        self.n_var = spec.genome_length
        self.lower = np.zeros(self.n_var)
        self.upper = np.full(self.n_var, float(max(spec.n_nodes + 1, spec.param_levels,
                                                   len(spec.node_functions),
                                                   spec.n_multipliers)))
        self.feasible = None
        self.rejected: list[np.ndarray] = []

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["feasible"], state["rejected"] = None, []
        return state

    def set_filter(self, feasible) -> None:
        """``feasible(genome) -> bool`` decides which draws may take a slot (``None``: all)."""
        self.feasible = feasible

    def take_rejected(self) -> list[np.ndarray]:
        """The draws rejected since the last call (oldest first)."""
        out, self.rejected = self.rejected, []
        return out

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import random_genome

        return self._repaired(lambda: random_genome(self.spec, rng))

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import mutate

        parent = np.asarray(x, dtype=np.int64)
        return self._repaired(lambda: mutate(parent, self.spec, rng))

    def _repaired(self, draw) -> np.ndarray:
        x = draw()
        if self.feasible is None:
            return x
        for _ in range(REPAIR_TRIES - 1):
            if self.feasible(x):
                return x
            self.rejected.append(x)
            x = draw()
        return x

    def key(self, x: np.ndarray) -> str:
        from evoapproxnas.cgp import genome_hash

        return genome_hash(np.asarray(x, dtype=np.int64), self.spec, self.input_shape,
                           self.n_classes)

    def network_key(self, x: np.ndarray) -> str:
        """The key of the network without its multipliers: equal for genomes that build the
        same layers, whatever multipliers price them (their weights are interchangeable)."""
        from evoapproxnas.cgp.genome import priced_with

        return self.key(priced_with(x, self.spec, 0))
