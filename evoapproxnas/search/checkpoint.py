"""Per-generation checkpoints: a pickle of the engine (its RNG included) and the loop state,
written atomically so a kill leaves either the previous or the new checkpoint."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from evoapproxnas.atomic import write_bytes

CHECKPOINT_FILE = "checkpoint.pkl"
FORMAT = "evoapproxnas-checkpoint-1"


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (engine, generation, history ...) to ``run_dir/checkpoint.pkl``."""
    payload = {"format": FORMAT, **state}
    write_bytes(Path(run_dir) / CHECKPOINT_FILE, pickle.dumps(payload, protocol=4))


def load_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The last checkpoint, or ``None`` if the run has not finished a generation yet."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        state = pickle.load(fh)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {state.get('format')!r}")
    return state
