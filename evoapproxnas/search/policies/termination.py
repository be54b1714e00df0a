"""The wall-clock budget of a generational run (``search.time_budget_s``).

The clock counts the seconds of every invocation of a run (``run``, then each ``resume``),
kept in the checkpoint at every generation's end and in the run's clock file
(``RunDir.write_clock``) with every finished candidate, so a resumed run spends what is left
of its budget, even after a kill inside a generation: the interrupted generation keeps the
start it had (its length spans the kill), and it goes on without a new decision (the killed
run had decided to start it). A run killed anywhere and resumed then ends after the
generations of the uninterrupted run, up to the seconds between its last finished candidate
and the kill (lost with the process). The decision is
made between generations only, from figures of this run: a generation after the first
starts if the time spent so far, plus the mean length of the generations done, plus an
estimate of the final re-pricing still to do, stays within the budget. A run that stops
early has done the first generations of the same run without a budget (the same seed
gives the same candidates), and says so in its log and in ``run.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from statistics import fmean

ELAPSED_KEY = "elapsed_s"
"""Clock-file key: seconds spent by the run up to its last finished candidate."""
DURATIONS_KEY = "generation_s"
"""Clock-file key: wall-clock seconds of each generation done (index = generation)."""
OPEN_KEY = "generation"
"""Clock-file key: the generation begun and not finished (``None``: none)."""
OPEN_START_KEY = "generation_start_s"
"""Clock-file key: when that generation began, in seconds of the run (``ELAPSED_KEY``'s)."""


class WallClock:
    """Seconds spent by a run: those of earlier invocations plus those since this one started.

    Earlier invocations' seconds come from the checkpoint ``state`` (at its last generation
    end) or from ``saved`` (the clock file at its last finished candidate, ``snapshot()``),
    whichever is later; ``save(snapshot)`` writes the file (atomically), at each generation's
    start and end and at every ``tick``.
    """

    def __init__(self, state, saved: dict | None = None,
                 save: Callable[[dict], None] | None = None) -> None:
        self.state, self._save = state, save
        saved = checked_snapshot(saved)
        self.base = max(_seconds(state.elapsed_s), saved.get(ELAPSED_KEY, 0.0))
        self.started = time.perf_counter()
        lengths = [float(v) for v in state.generation_s]
        self._lengths = max(lengths, saved.get(DURATIONS_KEY, []), key=len)
        begun = saved.get(OPEN_KEY)
        self._open = None if begun is None else (begun, saved[OPEN_START_KEY])
        """(generation, its start in run seconds): begun, not finished."""

    def elapsed(self) -> float:
        return self.base + time.perf_counter() - self.started

    @property
    def durations(self) -> list[float]:
        """Wall-clock seconds of each generation done, in order."""
        return list(self._lengths)

    def begun(self, generation: int) -> bool:
        """Whether an earlier invocation began (or finished) ``generation``."""
        return generation < len(self._lengths) or (
            self._open is not None and self._open[0] == generation)

    def start(self, generation: int) -> None:
        """Note that ``generation`` begins now, unless an earlier invocation began it (that
        start holds, so its length spans the kill) or finished it (a replay: its length
        is known); saved."""
        if self.begun(generation):
            return
        self._open = (generation, self.elapsed())
        self.tick()

    def finish(self, generation: int) -> None:
        """Note that ``generation`` ended now (a replayed one keeps its known length), and
        the time spent so far, in the state (checkpointed next) and in the clock file."""
        if generation >= len(self._lengths):
            begun = self._open[1] if self.begun(generation) else self.elapsed()
            self._lengths = self._lengths[:generation] + [self.elapsed() - begun]
            self._open = None
        self.state.generation_s = list(self._lengths)
        self.state.elapsed_s = self.elapsed()
        self.tick()

    def snapshot(self) -> dict:
        """The clock as the clock file keeps it (JSON)."""
        return {ELAPSED_KEY: self.elapsed(), DURATIONS_KEY: list(self._lengths),
                OPEN_KEY: None if self._open is None else self._open[0],
                OPEN_START_KEY: None if self._open is None else self._open[1]}

    def tick(self) -> None:
        """Save the clock now (a candidate finished)."""
        if self._save is not None:
            self._save(self.snapshot())


def _seconds(value) -> float:
    """A non-negative finite number of seconds, else 0 (a field of an older checkpoint)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if math.isfinite(value) and value >= 0 else 0.0


def checked_snapshot(saved) -> dict:
    """A clock file's content (``WallClock.snapshot``) if it is well formed, else ``{}`` (the
    checkpoint's figures then stand alone)."""
    if not isinstance(saved, dict):
        return {}
    elapsed, lengths = saved.get(ELAPSED_KEY), saved.get(DURATIONS_KEY)
    begun, begun_at = saved.get(OPEN_KEY), saved.get(OPEN_START_KEY)
    if (_seconds(elapsed) != elapsed or not isinstance(lengths, list)
            or any(_seconds(v) != v for v in lengths)):
        return {}
    if begun is not None and (not isinstance(begun, int) or isinstance(begun, bool)
                              or begun < 0 or _seconds(begun_at) != begun_at):
        return {}
    return {ELAPSED_KEY: float(elapsed), DURATIONS_KEY: [float(v) for v in lengths],
            OPEN_KEY: begun, OPEN_START_KEY: None if begun is None else float(begun_at)}


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
