#!/usr/bin/env python3
"""Regenerate the bundled ``multipliers/arithsgen8u`` library in one command.

    python scripts/build_arithsgen_library.py [--out DIR] [--replace]

Needs ariths-gen (``pip install -e '.[circuits]'``) and yosys. Every circuit's flat Verilog is
synthesized with yosys (about 3 s each for the Xilinx LUT mapping); the folder is written
atomically, and with ``--replace`` swapped in for the old one only once complete.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.arithsgen import (
    LIBRARY_NAME,
    build_arithsgen_library,
)
from evoapproxnas.multipliers.library import load_library

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "multipliers" / LIBRARY_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--replace", action="store_true", help="replace an existing folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    try:
        if out.exists() and not args.replace:
            raise UserError(f"{out} exists; pass --replace to regenerate it")
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
            staged = build_arithsgen_library(Path(tmp) / out.name)
            if out.exists():
                shutil.rmtree(out)
            staged.rename(out)
    except UserError as exc:
        print(f"build_arithsgen_library: error: {exc}", file=sys.stderr)
        return 2
    lib = load_library(out)
    print(f"wrote {out}: {len(lib)} multipliers, exact = {lib.exact.name}")
    for mul in lib:
        print(f"  {mul.name:<16} power {mul.power_mw:.4f} mW  area {mul.area_um2:7.1f} um2  "
              f"LUTs {mul.luts:4d}  MAE {mul.metrics.mae_pct:8.4f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
