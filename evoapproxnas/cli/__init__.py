"""The ``evoapproxnas`` console script: one parser, subcommands registered by each front door.

Every argparse module of the project lives in this package, and nothing outside it imports
from here. Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` which adds its
subcommands and sets ``func`` to a callable ``func(args) -> int | None``. Those modules must
not import TensorFlow at module level, so ``evoapproxnas --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from evoapproxnas import __version__
from evoapproxnas.errors import UserError

COMMAND_MODULES = (
    "evoapproxnas.cli.multipliers",
    "evoapproxnas.cli.approx",
    "evoapproxnas.cli.campaign",
    "evoapproxnas.cli.hardware",
    "evoapproxnas.cli.byo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evoapproxnas",
        description="Evolutionary NAS of CNNs with approximate multipliers and hardware cost.",
    )
    parser.add_argument("--version", action="version", version=f"evoapproxnas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Deprecations of the user's own config as one line; every other warning as Python
    shows it."""
    from evoapproxnas.config import ConfigDeprecationWarning

    if issubclass(category, ConfigDeprecationWarning):
        print(f"evoapproxnas: deprecated: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = args.func(args)
    except UserError as exc:
        print(f"evoapproxnas: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("evoapproxnas: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
