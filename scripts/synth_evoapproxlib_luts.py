#!/usr/bin/env python3
"""Synthesize the bundled EvoApproxLib circuits with yosys and write their Xilinx LUT counts.

For every multiplier of ``multipliers/evoapproxlib8u`` and ``evoapproxlib8s`` it reads the
gate-level Verilog ``<source>/verilog8x8/<name>.v`` through the Verilog importer
(``evoapproxnas.multipliers.importers.verilog``: yosys ``synth -flatten`` + ``abc`` to
tabulate the circuit, and ``synth_xilinx -flatten -nodsp -nowidelut -noiopad`` for the LUT
count, LUT1..LUT6 cells of a 7-series device). EvoApproxLib's Verilog ports are ``A, B -> O``;
the table's operand ``a`` is the first parameter of the circuit's C model: ``B`` for most
unsigned circuits (``mul8u_XXX(B, A)``), ``A`` for the signed ones and a few unsigned ones
(``mul8s_XXX(A, B)``), read from the C signature the library keeps in ``info``. The script
checks that order by requiring the synthesized product table to equal the bundled table for
all 65,536 operand pairs, and fails otherwise.

The result, ``scripts/evoapproxlib_luts.csv`` (name, signed, luts, a_port, tool, flow), is what
``scripts/build_evoapproxlib.py`` puts into the bundled ``library.json`` files (figure ``luts``,
source "estimated by yosys synth_xilinx ...").

Usage: python scripts/synth_evoapproxlib_luts.py [--source DIR] [--out FILE] [--jobs N]
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library
from evoapproxnas.multipliers.importers.verilog import read_verilog
from evoapproxnas.multipliers.importers.yosys import XILINX_FLOW, find_yosys

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "evoapproxlib"
DEFAULT_OUT = REPO / "scripts" / "evoapproxlib_luts.csv"
LIBRARIES = ("evoapproxlib8u", "evoapproxlib8s")
_FIRST_PARAM = re.compile(r"\(\s*(?:const\s+)?\w+\s+(\w+)")


def operand_port(c_signature: str) -> str:
    """The Verilog port of operand ``a``: the C model's first parameter (``A`` or ``B``)."""
    match = _FIRST_PARAM.search(c_signature or "")
    if not match or match.group(1).upper() not in ("A", "B"):
        raise UserError(f"cannot tell the operand order from the C signature {c_signature!r}")
    return match.group(1).upper()


def synth_one(args: tuple[str, bool, str, str]) -> tuple[str, bool, int, str, float]:
    """(name, signed, LUTs, a port, seconds) of one circuit, its table checked."""
    name, signed, verilog, a_port = args
    start = time.perf_counter()
    circuit = read_verilog(verilog, signed=signed, luts=True, a_port=a_port)
    lib = load_library("evoapproxlib8s" if signed else "evoapproxlib8u")
    bundled = next(m for m in lib if m.name == name)
    if not np.array_equal(circuit.lut, bundled.lut.astype(np.int64)):
        swapped = np.array_equal(circuit.lut.T, bundled.lut.astype(np.int64))
        raise UserError(
            f"{verilog}: the synthesized product table differs from the bundled one"
            + (" (it matches with the operands swapped: check a_port)" if swapped else "")
        )
    return name, signed, int(circuit.figures["luts"]), a_port, time.perf_counter() - start


def yosys_version() -> str:
    """``yosys -V``, e.g. "Yosys 0.23 (git sha1 7ce5011c24b)"."""
    out = subprocess.run([find_yosys(), "-V"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "yosys (version unknown)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="EvoApproxLib folder holding verilog8x8/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    parser.add_argument("--jobs", type=int, default=1, help="yosys runs at once")
    args = parser.parse_args(argv)
    try:
        jobs = []
        for lib_name in LIBRARIES:
            lib = load_library(lib_name)
            for m in lib:
                path = args.source / "verilog8x8" / f"{m.name}.v"
                if not path.is_file():
                    raise UserError(f"{path} missing; pass --source DIR")
                jobs.append((m.name, m.signed, str(path),
                             operand_port(m.info.get("c_signature", ""))))
        tool = yosys_version()
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            rows = sorted(pool.map(synth_one, jobs))
        elapsed = time.perf_counter() - start
    except UserError as exc:
        print(f"synth_evoapproxlib_luts: error: {exc}", file=sys.stderr)
        return 2
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name", "signed", "luts", "a_port", "tool", "flow"])
        for name, signed, luts, a_port, _ in rows:
            writer.writerow([name, int(signed), luts, a_port, tool, XILINX_FLOW])
    luts = [r[2] for r in rows]
    print(f"wrote {args.out}: {len(rows)} circuits, {min(luts)}-{max(luts)} LUTs, "
          f"{elapsed:.0f} s with {args.jobs} job(s) ({tool})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
