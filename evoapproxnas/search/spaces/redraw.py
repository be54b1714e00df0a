"""Re-drawing candidates that break the campaign's cheap constraints (shared by the spaces)."""

from __future__ import annotations

import numpy as np

REPAIR_TRIES = 20
"""Draws per slot (a sample, or a mutation of the same parent) before a candidate that breaks
a cheap constraint is accepted anyway (it is then recorded ``infeasible``)."""


class Redrawing:
    """Mixin of a space whose ``sample`` and ``mutate`` re-draw a candidate that breaks a
    cheap constraint: with a ``feasible`` predicate (``set_filter``), ``redrawn(draw)``
    draws up to ``REPAIR_TRIES`` times and keeps the rejected draws in ``rejected`` until
    the campaign archives them (``take_rejected``). Deterministic given the generator
    ``draw`` uses. The predicate is not pickled with the space (a checkpoint): the campaign
    sets it again after loading one."""

    feasible = None
    rejected: list

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["feasible"], state["rejected"] = None, []
        return state

    def set_filter(self, feasible) -> None:
        """``feasible(candidate) -> bool`` decides which draws may take a slot (``None``:
        all)."""
        self.feasible = feasible

    def take_rejected(self) -> list[np.ndarray]:
        """The draws rejected since the last call (oldest first)."""
        out, self.rejected = list(getattr(self, "rejected", [])), []
        return out

    def redrawn(self, draw) -> np.ndarray:
        """``draw()``, re-drawn while it breaks the filter (at most ``REPAIR_TRIES`` draws)."""
        x = draw()
        if self.feasible is None:
            return x
        self.rejected = getattr(self, "rejected", [])
        for _ in range(REPAIR_TRIES - 1):
            if self.feasible(x):
                return x
            self.rejected.append(x)
            x = draw()
        return x
