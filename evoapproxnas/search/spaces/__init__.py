"""Search spaces: what engines need to know about candidates (sample, mutate, identify).

``cgp.CGPSpace`` wraps the CGP genome functions; tests may pass any object with the same
methods (``SearchSpace`` protocol), so engines run without the CGP package or TensorFlow.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SearchSpace(Protocol):
    """Candidates as integer vectors within ``lower``..``upper``; ``key`` identifies one."""

    n_var: int
    lower: np.ndarray
    upper: np.ndarray

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def key(self, x: np.ndarray) -> str: ...


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
