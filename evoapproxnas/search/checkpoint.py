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
from pathlib import Path
from typing import Any

from evoapproxnas.atomic import write_bytes

CHECKPOINT_FILE = "checkpoint.pkl"
PREVIOUS_FILE = "checkpoint.prev.pkl"
FORMAT = "evoapproxnas-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint file that cannot be read back."""


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (engine, generation ...) atomically; the old one becomes the previous."""
    run_dir = Path(run_dir)
    payload = pickle.dumps({"format": FORMAT, **state}, protocol=4)
    current = run_dir / CHECKPOINT_FILE
    if current.exists():
        os.replace(current, run_dir / PREVIOUS_FILE)
    write_bytes(current, payload)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """One checkpoint file; ``CheckpointError`` if it is truncated, foreign or corrupt."""
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001  (unpickling raises many kinds)
        raise CheckpointError(f"{path.name} is unreadable ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an evoapproxnas checkpoint")
    return state


def load_checkpoint(run_dir: str | os.PathLike,
                    warn=None) -> dict[str, Any] | None:
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
                 f"(generation {state.get('generation')})")
        return state
    if problems and warn is not None:
        warn(f"{run_dir}: {'; '.join(problems)}; replaying the search from its start against "
             "the archive (archived candidates are not trained again)")
    return None
