"""``evoapproxnas multipliers {list,show,plot,import}``: inspect and build multiplier libraries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from evoapproxnas.cli.importers import register_import
from evoapproxnas.multipliers.library import DEFAULT_LIBRARY, load_library
from evoapproxnas.multipliers.model import FIGURES, Multiplier

METRIC_ROWS = (
    ("mae", "MAE"),
    ("mae_pct", "MAE [% of 2^{out}]"),
    ("wce", "WCE"),
    ("wce_pct", "WCE [% of 2^{out}]"),
    ("mre_pct", "MRE [%]"),
    ("wcre_pct", "WCRE [%]"),
    ("ep_pct", "error probability [%]"),
    ("mse", "MSE"),
    ("mean_error", "mean error (bias)"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``multipliers`` command group."""
    group = subparsers.add_parser(
        "multipliers", help="list, show and plot multiplier libraries",
        description="Inspect approximate multiplier libraries (bundled names or folder paths).",
    )
    sub = group.add_subparsers(dest="multipliers_command", required=True, metavar="ACTION")

    def library_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--library", default=DEFAULT_LIBRARY, metavar="NAME_OR_PATH",
                       help=f"bundled library name or library folder (default {DEFAULT_LIBRARY})")

    p = sub.add_parser("list", help="one row per multiplier")
    library_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="all figures, sources and error metrics of one multiplier")
    p.add_argument("name", help="multiplier name")
    library_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("plot", help="power and area vs MAE%% scatter with the Pareto front "
                       "(libraries mixing 8xN widths: one marker per width)")
    library_arg(p)
    p.add_argument("--out", required=True, metavar="FILE.png", help="image file to write")
    p.add_argument("--no-area", action="store_true", help="draw only the power panel")
    p.set_defaults(func=cmd_plot)

    register_import(sub)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def list_row(mul: Multiplier) -> dict[str, Any]:
    """The ``list --json`` object of one multiplier."""
    return {
        "name": mul.name,
        "key": mul.key,
        "table_hash": mul.table_hash,
        "width": mul.width,
        "weight_bits": mul.weight_bits,
        "signed": mul.signed,
        "power_mw": mul.power_mw,
        "area_um2": mul.area_um2,
        "delay_ns": mul.delay_ns,
        "luts": mul.luts,
        "mae_pct": mul.metrics.mae_pct,
        "wce_pct": mul.metrics.wce_pct,
        "library": mul.library,
    }


def cmd_list(args: argparse.Namespace) -> int:
    lib = load_library(args.library)
    rows = [list_row(m) for m in lib]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("name", "width", "signed", "power_mw", "area_um2", "mae_pct", "wce_pct", "hash")
    table = [head] + [
        (r["name"], r["width"], "yes" if r["signed"] else "no", _fmt(r["power_mw"]),
         _fmt(r["area_um2"]), _fmt(r["mae_pct"], 3), _fmt(r["wce_pct"], 3), r["table_hash"][:12])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    exact = next((m for m in lib if m.is_exact), None)
    exact_name = "-" if exact is None else lib.exact.name
    mixed = f", widths {' '.join(lib.widths)}" if len(lib.widths) > 1 else ""
    note = "" if lib.widths == ["8x8"] else "; mae_pct, wce_pct: % of 2^(8+N) for 8xN"
    print(f"# library {lib.identifier}: {len(lib)} multipliers{mixed}, exact = {exact_name}"
          f"{note}")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    lib = load_library(args.library)
    mul = lib[args.name]
    if args.json:
        print(json.dumps(mul.to_dict(), indent=2))
        return 0
    print(f"{mul.name} ({'signed' if mul.signed else 'unsigned'} {mul.width} bit: "
          f"{mul.activation_bits}-bit activation x {mul.weight_bits}-bit weight, "
          f"table {mul.lut.shape[0]}x{mul.lut.shape[1]})")
    print(f"  library      {mul.library}")
    print(f"  table hash   {mul.table_hash}")
    print("hardware figures:")
    for key in FIGURES:
        print(f"  {key:<10} {_fmt(getattr(mul, key)):>10}   source: {mul.sources[key]}")
    published = mul.info.get("published") or {}
    print("error metrics (computed from the table" + (", published beside)" if published else ")"))
    values = mul.metrics.to_dict()
    for key, label in METRIC_ROWS:
        label = label.format(out=mul.output_bits)
        extra = f"   published {_fmt(published[key])}" if key in published else ""
        print(f"  {label:<22} {_fmt(values[key], 6):>12}{extra}")
    other = {k: v for k, v in mul.info.items() if k != "published"}
    for key, value in other.items():
        print(f"  {key}: {value}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from evoapproxnas.plots.library import plot_library

    lib = load_library(args.library)
    costs = ("power_mw",) if args.no_area else ("power_mw", "area_um2")
    if len(lib.widths) == 1:
        fronts = plot_library(list(lib), args.out, title=f"{lib.name}: cost vs MAE", costs=costs)
        print(f"wrote {args.out}; Pareto front (power vs MAE%): {', '.join(fronts['power_mw'])}")
        return 0
    fronts = plot_library(list(lib), args.out, costs=costs,
                          title=f"{lib.name} ({', '.join(lib.widths)}): cost vs MAE, by width")
    by_width: dict[str, list[str]] = {}
    for name in fronts["power_mw"]:
        by_width.setdefault(lib[name].width, []).append(name)
    text = "; ".join(f"{w}: {', '.join(names)}" for w, names in by_width.items())
    print(f"wrote {args.out}; Pareto fronts per width (power vs MAE%): {text}")
    return 0
