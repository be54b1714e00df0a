"""Append-only JSON-lines archive of evaluations: one fsynced line per record.

A kill can tear at most the last line; ``read_records`` ignores a torn last line and
``Archive`` cuts it off before appending, so the file always parses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from evoapproxnas.atomic import append_line
from evoapproxnas.errors import UserError
from evoapproxnas.search.study.records import EvaluationRecord, RecordError


def read_records(path: str | os.PathLike) -> list[EvaluationRecord]:
    """All complete records of ``path`` (missing file -> []); a torn last line is skipped.

    A line that is not a record raises ``RecordError`` (a ``ValueError`` and a ``UserError``)
    naming the line; a file that cannot be read, a ``UserError``.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = _read(path)
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # torn by a kill while the last line was written
    records = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}: line {number + 1}"
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise RecordError(f"{where} is not valid JSON") from None
        records.append(EvaluationRecord.from_dict(data, where))
    return records


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no trailing newline) so the next append starts a fresh line."""
    if not path.exists():
        return
    data = _read(path)
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    try:
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise UserError(f"cannot repair the torn last line of {path}: "
                        f"{exc.strerror or exc}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


class Archive:
    """Records of one run directory, appended in order and fsynced one by one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        _repair_tail(self.path)

    def append(self, record: EvaluationRecord) -> None:
        """Append a final record (a pending one is a programming error: ``ValueError``)."""
        if record.pending:
            raise ValueError(f"record {record.hash} is still pending: only final records are "
                             "stored")
        line = json.dumps(record.to_dict(), sort_keys=True, separators=(",", ":"))
        append_line(self.path, line)

    def records(self) -> list[EvaluationRecord]:
        return read_records(self.path)
