"""Hardware figures given by the user in a CSV file: a ``name`` column and any of
``power_mw``, ``area_um2``, ``delay_ns``, ``luts`` (other columns are ignored, empty cells mean
unknown). An optional ``source`` column says where a row's figures come from."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.model import FIGURES
from evoapproxnas.paths import check_path

Figures = dict[str, float | int]


def read_metadata_csv(path: str | os.PathLike) -> tuple[dict[str, Figures], dict[str, str]]:
    """Read the CSV; return figures by multiplier name and a source text by name."""
    if not os.fspath(path):
        raise UserError("the metadata CSV name is empty; give a CSV file or leave --metadata out")
    path = check_path(path, "metadata CSV")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read metadata CSV {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    columns = [c.strip() for c in header if c is not None]
    if "name" not in columns:
        raise UserError(f"{path}: metadata CSV needs a 'name' column (found: {', '.join(columns)})")
    present = [f for f in FIGURES if f in columns]
    if not present:
        raise UserError(
            f"{path}: metadata CSV has none of the columns {', '.join(FIGURES)}; "
            "name them exactly so (units are part of the name)"
        )
    figures: dict[str, Figures] = {}
    sources: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name = row.get("name", "")
        if not name:
            raise UserError(f"{path}:{line}: empty 'name'")
        if name in figures:
            raise UserError(f"{path}:{line}: multiplier {name!r} appears twice; keep one row")
        figures[name] = {f: _number(path, line, f, row[f]) for f in present if row.get(f)}
        sources[name] = row.get("source") or f"published (metadata file {path.name})"
    return figures, sources


def _number(path: Path, line: int, column: str, text: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}:{line}: {column} = {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{path}:{line}: {column} = {text!r} must be finite and >= 0")
    if column == "luts":
        if value != int(value):
            raise UserError(f"{path}:{line}: luts = {text!r} must be a whole number")
        return int(value)
    return value


def apply_metadata(
    circuits: list[ImportedCircuit], figures: dict[str, Figures], sources: dict[str, str]
) -> None:
    """Set the figures the CSV gives for each circuit (they replace figures read elsewhere)."""
    for circuit in circuits:
        for key, value in figures.get(circuit.name, {}).items():
            circuit.set_figure(key, value, sources[circuit.name])
