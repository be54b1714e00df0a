"""Random search: the baseline every evolutionary engine is measured against."""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.engines.registry import register_engine
from evoapproxnas.search.spaces import unique_samples


@register_engine("random")
class RandomEngine:
    """The baseline: every generation fresh random candidates never asked before."""

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 n_offspring: int | None = None) -> None:
        self.space, self.pop_size = space, pop_size
        self.n_offspring = n_offspring or pop_size
        """Candidates asked per generation after the first (``keep`` chooses those told)."""
        self.asked = 0
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def ask(self) -> list[np.ndarray]:
        """``pop_size`` random candidates with keys not seen before."""
        first = getattr(self, "asked", 1) == 0  # checkpoints before it are past the first
        self.asked = getattr(self, "asked", 0) + 1
        n = self.pop_size if first else getattr(self, "n_offspring", self.pop_size)
        return unique_samples(self.space, n, self.rng, self.seen)

    def keep(self, indices) -> None:
        """Nothing to remember: random search learns nothing from what it is told."""

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Ignored: random search learns nothing."""
