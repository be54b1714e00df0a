"""Turn outside files (TFApprox tables, C models, Verilog) into a multiplier library folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.multipliers.importers.c_model import read_c_model
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.importers.metadata import (
    apply_metadata,
    read_metadata_csv,
)
from evoapproxnas.multipliers.importers.tfapprox import read_tfapprox_bin
from evoapproxnas.multipliers.importers.verilog import read_verilog
from evoapproxnas.multipliers.library import write_library
from evoapproxnas.multipliers.model import FIGURES
from evoapproxnas.paths import check_path

FORMATS: dict[str, str] = {
    "tfapprox-bin": "TFApprox .bin product tables",
    "evoapproxlib-c": "EvoApproxLib-style C models",
    "verilog": "Verilog netlists (via yosys)",
}


def _reader(
    fmt: str, signed: bool | None, luts: bool, a_port: str | None,
    weight_bits: int | None = None,
) -> Callable[[Path], ImportedCircuit]:
    if a_port is not None and fmt != "verilog":
        raise UserError(f"--a-port applies to Verilog only, not to format {fmt!r}; drop it")
    if weight_bits is not None and fmt != "evoapproxlib-c" and weight_bits != 8:
        raise UserError(
            f"--weight-bits {weight_bits} applies to C models only (format evoapproxlib-c); "
            f"format {fmt!r} reads 8x8 multipliers"
        )
    if fmt == "tfapprox-bin":
        return lambda p: read_tfapprox_bin(p, signed=bool(signed))
    if fmt == "evoapproxlib-c":
        return lambda p: read_c_model(p, signed=signed, weight_bits=weight_bits)
    if fmt == "verilog":
        return lambda p: read_verilog(p, signed=signed, luts=luts, a_port=a_port)
    raise UserError(
        f"unknown import format {fmt!r}{closest_names(fmt, FORMATS)}; use one of "
        f"{', '.join(FORMATS)}"
    )


def read_circuits(
    fmt: str, files: Sequence[str | os.PathLike], *, signed: bool | None = None,
    luts: bool = True,
    a_port: str | None = None,
    weight_bits: int | None = None,
) -> list[ImportedCircuit]:
    """Read every file with the importer of ``fmt``; refuse missing files and duplicate names.

    ``weight_bits`` (C models only) makes every file an 8xN multiplier; by default each C
    model's N comes from its name (``mul8x<N>u_...``, else 8).
    """
    reader = _reader(fmt, signed, luts, a_port, weight_bits)
    paths = [check_path(f, "input file") for f in files]
    if not paths:
        raise UserError("no input files given; name at least one file to import")
    for path, text in zip(paths, files):
        if not os.fspath(text):
            raise UserError("an input file name is empty; name the files to import")
        if path.is_dir():
            raise UserError(f"{path} is a folder; name the files to import, one per multiplier")
        if not path.is_file():
            raise UserError(f"no such file: {path}")
    circuits: list[ImportedCircuit] = []
    seen: dict[str, Path] = {}
    for path in paths:
        circuit = reader(path)
        if circuit.name in seen:
            raise UserError(
                f"duplicate multiplier name {circuit.name!r} from {seen[circuit.name]} and "
                f"{path}; names must be unique within a library (rename one file or function)"
            )
        seen[circuit.name] = path
        circuits.append(circuit)
    return circuits


def readme_text(name: str, fmt: str, circuits: Sequence[ImportedCircuit]) -> str:
    """A README saying where the library's tables and figures come from."""
    lines = [
        f"# {name}",
        "",
        (f"Imported by `evoapproxnas multipliers import --format {fmt}` from "
        f"{len(circuits)} {FORMATS[fmt]}."),
        "",
        "| multiplier | file | " + " | ".join(FIGURES) + " |",
        "| --- | --- | " + " | ".join("---" for _ in FIGURES) + " |",
    ]
    sources: set[str] = set()
    for c in circuits:
        cells = [str(c.figures.get(f, "unknown")) for f in FIGURES]
        lines.append(f"| {c.name} | {c.origin.name} | " + " | ".join(cells) + " |")
        sources.update(c.sources.get(f, "unknown") for f in FIGURES if f in c.figures)
    lines += ["", "Sources of the hardware figures:", ""]
    lines += [f"- {s}" for s in sorted(sources)] or ["- none given (all unknown)"]
    return "\n".join(lines) + "\n"


def import_library(
    fmt: str,
    files: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    name: str | None = None,
    metadata: str | os.PathLike | None = None,
    signed: bool | None = None,
    luts: bool = True,
    a_port: str | None = None,
    weight_bits: int | None = None,
) -> Path:
    """Import ``files`` of format ``fmt`` into a new library folder ``out`` (atomically).

    ``name`` defaults to the folder name; ``metadata`` is a CSV of hardware figures by name
    (they replace figures read from the files); ``signed``, ``luts``, ``a_port`` and
    ``weight_bits`` as for each importer. The files may mix widths (8xN C models). Returns the folder. Raises :class:`UserError` on bad input; nothing is written then.
    """
    if not os.fspath(out):
        raise UserError("the library folder to create (--out) is empty; give a new folder")
    out = check_path(out, "library folder")
    if out.exists() or out.is_symlink():
        raise UserError(f"{out} already exists; choose a new folder or remove it first")
    name = name or out.name
    _reader(fmt, signed, luts, a_port, weight_bits)  # check the options before any slow work
    figures, sources = read_metadata_csv(metadata) if metadata is not None else ({}, {})
    circuits = read_circuits(fmt, files, signed=signed, luts=luts, a_port=a_port,
                             weight_bits=weight_bits)
    apply_metadata(circuits, figures, sources)
    multipliers = [c.to_multiplier(library=name) for c in circuits]
    return write_library(
        out,
        name,
        multipliers,
        description=f"imported from {len(circuits)} {FORMATS[fmt]}",
        readme_text=readme_text(name, fmt, circuits),
    )
