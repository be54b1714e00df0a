"""Random search: the baseline every evolutionary engine is measured against."""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.engines.registry import register_engine
from evoapproxnas.search.spaces import unique_samples


@register_engine("random")
class RandomEngine:
    """The baseline: every generation fresh random candidates never asked before."""

    def __init__(self, space, n_obj: int, pop_size: int, seed: int) -> None:
        self.space, self.pop_size = space, pop_size
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def ask(self) -> list[np.ndarray]:
        """``pop_size`` random candidates with keys not seen before."""
        return unique_samples(self.space, self.pop_size, self.rng, self.seen)

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Ignored: random search learns nothing."""
