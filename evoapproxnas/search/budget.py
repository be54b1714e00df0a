"""The wall-clock budget of a generational run (``search.time_budget_s``).

The clock counts the seconds of every invocation of a run (``run``, then each ``resume``),
kept in the checkpoint, so a resumed run spends what is left of its budget. The decision is
made between generations only, from figures of this run: a generation after the first
starts if the time spent so far, plus the mean length of the generations done, plus an
estimate of the final re-pricing still to do, stays within the budget. A run that stops
early has done the first generations of the same run without a budget (the same seed
gives the same candidates), and says so in its log and in ``run.json``.
"""

from __future__ import annotations

import time
from statistics import fmean

ELAPSED_KEY = "elapsed_s"
"""Checkpoint key: seconds spent by the run up to its last checkpoint."""
DURATIONS_KEY = "generation_s"
"""Checkpoint key: wall-clock seconds of each generation done (index = generation)."""


class WallClock:
    """Seconds spent by a run: those of earlier invocations (from its checkpoint ``state``)
    plus those since this one started."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.base = float(state.get(ELAPSED_KEY, 0.0))
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.base + time.perf_counter() - self.started

    @property
    def durations(self) -> list[float]:
        """Wall-clock seconds of each generation done, in order."""
        return list(self.state.get(DURATIONS_KEY, []))

    def record(self, generation: int, seconds: float) -> None:
        """Note that ``generation`` took ``seconds``, and the time spent so far, in the state
        (saved with the next checkpoint)."""
        self.state[DURATIONS_KEY] = self.durations[:generation] + [seconds]
        self.state[ELAPSED_KEY] = self.elapsed()


def repricing_estimate(new_candidates: int, population: int, durations: list[float]) -> float:
    """Seconds the final re-pricing of ``new_candidates`` untrained genomes will take,
    estimated as that share of a population's generation (a re-priced copy fine-tunes for
    ``inherit_epochs`` epochs, about what a generation spends per slot with successive
    halving)."""
    if not durations or new_candidates <= 0:
        return 0.0
    return new_candidates / population * fmean(durations)


def over_budget(budget_s: float, elapsed_s: float, durations: list[float],
                reserve_s: float) -> str | None:
    """Why the next generation should not start (one line), or ``None`` if it fits: it
    would end, by the mean of ``durations``, with ``reserve_s`` still to do, past
    ``budget_s``. Never stops before the first generation (no figures yet)."""
    if budget_s <= 0 or not durations:
        return None
    mean = fmean(durations)
    if elapsed_s + mean + reserve_s <= budget_s:
        return None
    return (f"{elapsed_s:.0f} s spent; one more generation (about {mean:.0f} s) and the "
            f"re-pricing (about {reserve_s:.0f} s) would pass the time budget of "
            f"{budget_s:.0f} s")
