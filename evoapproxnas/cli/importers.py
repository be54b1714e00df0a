"""``evoapproxnas multipliers import``: outside files -> a new library folder."""

from __future__ import annotations

import argparse

from evoapproxnas.multipliers.importers.build import FORMATS, import_library


def register_import(subparsers: argparse._SubParsersAction) -> None:
    """Add ``import`` to the ``multipliers`` command group."""
    p = subparsers.add_parser(
        "import",
        help="build a multiplier library from TFApprox tables, C models or Verilog",
        description="Import multipliers into a new library folder (written atomically). "
        "TFApprox .bin: 65,536 little-endian uint16, index (a << 8) | b, named after the file. "
        "C: EvoApproxLib-style functions, compiled with the system C compiler, 8x8 or 8xN "
        "(mul8x4u_1AV(A, B): A the 8-bit operand, B the N-bit one, N from the name or "
        "--weight-bits). "
        "Verilog: a module with two 8-bit inputs and a 16-bit output, through yosys. "
        "The first operand of each circuit is the table's a (the activation).",
    )
    p.add_argument("--format", required=True, choices=list(FORMATS), dest="import_format",
                   help="input format")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to import, one per multiplier")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="library folder to create (must not exist)")
    p.add_argument("--name", metavar="LIBNAME", help="library name (default: the folder name)")
    p.add_argument("--metadata", metavar="CSV",
                   help="CSV with a 'name' column and any of power_mw, area_um2, delay_ns, luts "
                        "(optional 'source' column); replaces figures read from the files")
    p.add_argument("--signed", action="store_true",
                   help="signed (two's-complement) multipliers; C models with int8_t/uint8_t "
                        "operands and Verilog with 'signed' ports say so themselves")
    p.add_argument("--a-port", metavar="PORT",
                   help="Verilog: the input port that is the table's a (the activation; default "
                        "the first input). Most unsigned EvoApproxLib circuits need --a-port B "
                        "to match their C models and TFApprox tables; the signed ones take A "
                        "(the circuit's C signature says which)")
    p.add_argument("--weight-bits", type=int, metavar="N", choices=range(2, 9),
                   help="C models: the width N (2..8) of the second operand (the weight) of "
                        "every file, an 8xN multiplier (default: from a mul8x<N>u_ name, else 8)")
    p.add_argument("--no-luts", action="store_true",
                   help="Verilog: skip the Xilinx LUT mapping (faster; LUTs unknown)")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    out = import_library(
        args.import_format,
        args.files,
        args.out,
        name=args.name,
        metadata=args.metadata,
        signed=True if args.signed else None,
        luts=not args.no_luts,
        a_port=args.a_port,
        weight_bits=args.weight_bits,
    )
    print(f"wrote library {out} ({len(args.files)} multipliers)")
    return 0
