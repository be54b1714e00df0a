"""Append-only JSON-lines archive of evaluations: one fsynced line per record.

A kill can tear at most the last line; ``read_records`` ignores a torn last line and
``Archive`` cuts it off before appending, so the file always parses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from evoapproxnas.atomic import append_line

TIMING_KEYS = ("timings",)


def read_records(path: str | os.PathLike) -> list[dict]:
    """All complete records of ``path`` (missing file -> []); a torn last line is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # torn by a kill while the last line was written
    records = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {number + 1} is not valid JSON") from None
    return records


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no trailing newline) so the next append starts a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())


class Archive:
    """Records of one run directory, appended in order and fsynced one by one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        _repair_tail(self.path)

    def append(self, record: dict) -> None:
        append_line(self.path, json.dumps(record, sort_keys=True, separators=(",", ":")))

    def records(self) -> list[dict]:
        return read_records(self.path)


def without_timings(record: dict) -> dict:
    """The record minus wall-clock fields (for comparing runs)."""
    return {k: v for k, v in record.items() if k not in TIMING_KEYS}
