"""One offspring of two parents, the variation every generational engine shares."""

from __future__ import annotations

import numpy as np


def vary(space, a, b, rng: np.random.Generator) -> np.ndarray:
    """One offspring of parents ``a`` and ``b``: with probability ``space.crossover_rate``
    their recombination (``space.recombine``, where it applies), else a mutation of ``a``.
    No random number is drawn for the choice when the rate is 0 (or the space has none), so
    such a run draws what it drew before crossover existed."""
    rate = getattr(space, "crossover_rate", 0.0)
    if rate and rng.random() < rate:
        child = space.recombine(a, b, rng)
        if child is not None:
            return np.asarray(child, dtype=np.int64)
    return np.asarray(space.mutate(a, rng), dtype=np.int64)
