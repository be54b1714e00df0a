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


class CGPSpace:
    """Genomes of a ``CGPSpec``; the key is the hash of the decoded network (``cgp.canonical``):
    two genomes that build the same layers with the same multipliers share a key, so the
    campaign trains that network once."""

    def __init__(self, spec, input_shape=None, n_classes: int | None = None) -> None:
        self.spec = spec
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.n_classes = n_classes
        self.n_var = spec.genome_length
        self.lower = np.zeros(self.n_var)
        self.upper = np.full(self.n_var, float(max(spec.n_nodes + 1, spec.param_levels,
                                                   len(spec.node_functions),
                                                   spec.n_multipliers)))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import random_genome

        return random_genome(self.spec, rng)

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import mutate

        return mutate(np.asarray(x, dtype=np.int64), self.spec, rng)

    def key(self, x: np.ndarray) -> str:
        from evoapproxnas.cgp import genome_hash

        return genome_hash(np.asarray(x, dtype=np.int64), self.spec, self.input_shape,
                           self.n_classes)


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
