"""``evoapproxnas build-op``: compile (or find in the cache) the approximate-multiplication op."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``build-op`` subcommand."""
    p = subparsers.add_parser(
        "build-op",
        help="compile the C++ op for approximate multiplication (cached per TensorFlow version)",
        description="Compile the product-table TensorFlow op into the user cache "
        "($EVOAPPROXNAS_OP_DIR overrides the folder) and check that it loads.",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if a cached copy exists")
    p.add_argument(
        "--info", action="store_true",
        help="also print the SIMD kernel the op uses on this CPU and the ones the CPU supports",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from evoapproxnas.approx import build

    path = build.build(force=args.force)
    build.load()
    print(f"approximate-multiplication op ready: {path}")
    if args.info:
        print(build.simd_info().describe())
    return 0
