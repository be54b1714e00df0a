#!/usr/bin/env python3
"""Synthesize the exact AxW multipliers (A, W = 2..8) with yosys and write their LUT counts.

Three flows (Xilinx LUT6 ``synth_xilinx -nodsp``, generic ``synth -lut 4``, Cyclone IV E
``synth_intel -family cycloneive``), two operand kinds (unsigned x signed, unsigned x
unsigned); each LUT4 netlist is checked against the exact products on all operand pairs.
The result is ``evoapproxnas/hardware/data/axw_luts.json`` (see
``evoapproxnas.multipliers.importers.axw_luts`` and docs/quantization.md).

Usage: python scripts/synth_axw_luts.py [--out FILE] [--jobs N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.axw_luts import DEFAULT_OUT, write_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--jobs", type=int, default=1, help="yosys runs at once")
    args = parser.parse_args(argv)
    try:
        table = write_table(args.out, args.jobs)
    except UserError as exc:
        print(f"synth_axw_luts: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(table['rows'])} circuits in {table['elapsed_s']} s with "
          f"{args.jobs} job(s) ({table['tool']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
