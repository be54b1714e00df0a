"""Search spaces: what engines need to know about candidates (sample, mutate, identify).

``CGPSpace`` wraps the CGP genome functions; tests may pass any object with the same
methods (``SearchSpace`` protocol), so engines run without the CGP package or TensorFlow.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SearchSpace(Protocol):
    n_var: int
    lower: np.ndarray
    upper: np.ndarray

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def key(self, x: np.ndarray) -> str: ...


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


def unique_samples(space: SearchSpace, n: int, rng: np.random.Generator, seen: set[str],
                   make=None, max_tries: int = 200) -> list[np.ndarray]:
    """``n`` candidates whose keys are not in ``seen`` (``seen`` is updated).

    ``make(rng)`` draws one candidate (default ``space.sample``); after ``max_tries`` draws
    per slot a duplicate is accepted rather than looping forever on a tiny space.
    """
    make = make or space.sample
    out = []
    for _ in range(n):
        for _attempt in range(max_tries):
            x = make(rng)
            key = space.key(x)
            if key not in seen:
                break
        seen.add(key)
        out.append(np.asarray(x, dtype=np.int64))
    return out
