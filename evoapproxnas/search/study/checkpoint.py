"""Per-generation checkpoints of the engine (its RNG included) and the generation counter.

A checkpoint is a pickle: only the process that writes a run directory reads it back
(``resume``); viewers of a run (report, plot, export) never unpickle anything. It is written
atomically after every generation, and the one before it is kept as ``checkpoint.prev.pkl``,
so a damaged latest checkpoint falls back to the previous one. A run whose checkpoints are
all unreadable is still recoverable: the engine is deterministic given its seed, so
replaying it from the start against the archive (every candidate a cache hit) reaches the
same state.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoapproxnas.atomic import write_bytes
from evoapproxnas.search.study.records import HistoryEntry, RecordError

CHECKPOINT_FILE = "checkpoint.pkl"
PREVIOUS_FILE = "checkpoint.prev.pkl"
FORMAT = "evoapproxnas-checkpoint-1"


_MOVED = {
    "evoapproxnas.search.engines": {
        "PymooEngine": "evoapproxnas.search.engines.nsga2_pymoo",
        "DeapEngine": "evoapproxnas.search.engines.nsga2_deap",
        "_Individual": ("evoapproxnas.search.engines.nsga2_deap", "Individual"),
        "RandomEngine": "evoapproxnas.search.engines.random_search",
        "SteadyStateEngine": "evoapproxnas.search.engines.steady_state",
        **{f"MinFitness{n}": "evoapproxnas.search.engines.nsga2_deap" for n in range(1, 9)},
    },
    "evoapproxnas.search.operators": "evoapproxnas.search.engines.pymoo_operators",
    "evoapproxnas.search.space": "evoapproxnas.search.spaces.cgp",
}
"""Where the classes pickled by earlier versions (before ``search/`` had its rooms) live now:
module -> new module, or module -> {name: new module or (new module, new name)}."""


class _Unpickler(pickle.Unpickler):
    """Reads checkpoints of earlier versions too (``_MOVED``)."""

    def find_class(self, module: str, name: str):
        moved = _MOVED.get(module)
        if isinstance(moved, str):
            module = moved
        elif isinstance(moved, dict) and name in moved:
            target = moved[name]
            module, name = target if isinstance(target, tuple) else (target, name)
        return super().find_class(module, name)


@dataclass
class Checkpoint:
    """The state of a generational search after a generation (DEAP's checkpoint: population
    and random state inside the engine, the generation counter, the logbook). Stored as a
    plain dict of its fields (``history`` as JSON-like dicts) in a pickle."""

    engine: Any
    """The engine, its random generator included (``search.engines``)."""
    generation: int = 0
    """Generations done (the next one to run)."""
    history: list[HistoryEntry] = field(default_factory=list)
    elapsed_s: float = 0.0
    """Seconds spent by the run up to this checkpoint (all invocations)."""
    generation_s: list[float] = field(default_factory=list)
    """Wall-clock seconds of each generation done (index = generation)."""

    def to_state(self) -> dict[str, Any]:
        return {"engine": self.engine, "generation": self.generation,
                "history": [h.to_dict() for h in self.history],
                "elapsed_s": self.elapsed_s, "generation_s": list(self.generation_s)}

    @classmethod
    def from_state(cls, state: dict[str, Any], name: str) -> Checkpoint:
        """From a stored dict (``CheckpointError`` if a field is damaged); keys missing in
        an earlier version's checkpoint take their defaults."""
        try:
            history = [h if isinstance(h, HistoryEntry) else HistoryEntry.from_dict(h)
                       for h in state.get("history", [])]
            generation = state.get("generation", 0)
            elapsed = float(state.get("elapsed_s", 0.0))
            lengths = [float(v) for v in state.get("generation_s", [])]
        except (RecordError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{name} is damaged ({exc})") from None
        if "engine" not in state or not isinstance(generation, int) or generation < 0:
            raise CheckpointError(f"{name} is damaged (no engine or generation)")
        return cls(state["engine"], generation, history, elapsed, lengths)


class CheckpointError(Exception):
    """A checkpoint file that cannot be read back."""


def save_checkpoint(run_dir: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` atomically; the old one becomes the previous."""
    run_dir = Path(run_dir)
    payload = pickle.dumps({"format": FORMAT, **checkpoint.to_state()}, protocol=4)
    current = run_dir / CHECKPOINT_FILE
    if current.exists():
        os.replace(current, run_dir / PREVIOUS_FILE)
    write_bytes(current, payload)


def read_checkpoint(path: Path) -> Checkpoint:
    """One checkpoint file; ``CheckpointError`` if it is truncated, foreign or corrupt."""
    try:
        with open(path, "rb") as fh:
            state = _Unpickler(fh).load()
    except Exception as exc:  # noqa: BLE001  (unpickling raises many kinds)
        raise CheckpointError(f"{path.name} is unreadable ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an evoapproxnas checkpoint")
    return Checkpoint.from_state(state, path.name)


def load_checkpoint(run_dir: str | os.PathLike, warn=None) -> Checkpoint | None:
    """The newest readable checkpoint, or ``None`` (none yet, or none readable).

    ``warn(message)`` is told, in one line each, about every checkpoint that had to be
    skipped and what happens instead.
    """
    run_dir = Path(run_dir)
    problems = []
    for name in (CHECKPOINT_FILE, PREVIOUS_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        if problems and warn is not None:
            warn(f"{run_dir}: {'; '.join(problems)}; resuming from {name} "
                 f"(generation {state.generation})")
        return state
    if problems and warn is not None:
        warn(f"{run_dir}: {'; '.join(problems)}; replaying the search from its start against "
             "the archive (archived candidates are not trained again)")
    return None
