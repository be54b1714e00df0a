"""Subcommands ``run``, ``resume``, ``report``, ``plot`` and ``export`` of ``evoapproxnas``."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from evoapproxnas.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="start an evolution campaign from a TOML file")
    p.add_argument("config", help="campaign file (.toml)")
    p.add_argument("--out", required=True, help="run directory to create")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots at the end")
    p.set_defaults(func=_run)

    p = subparsers.add_parser("resume", help="continue a campaign that was interrupted")
    p.add_argument("run_dir")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_resume)

    p = subparsers.add_parser("report", help="print the Pareto front of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_report)

    p = subparsers.add_parser("plot", help="draw the Pareto fronts and convergence of a run")
    p.add_argument("run_dir")
    p.add_argument("--member", type=int, default=0, help="front member to draw (0 = best error)")
    p.set_defaults(func=_plot)

    p = subparsers.add_parser("export", help="save a front member as a .keras model")
    p.add_argument("run_dir")
    p.add_argument("--member", type=int, required=True, help="index in 'report'")
    p.add_argument("--out", required=True, help="output file (.keras)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_export)


def _finish(run_dir: Path, args) -> int:
    from evoapproxnas.search.campaign import log, run_campaign

    summary = run_campaign(run_dir, quiet=args.quiet)
    if not args.no_plots:
        from evoapproxnas.plots.campaign import plot_run

        paths = plot_run(run_dir)
        log(f"plots written to {run_dir / 'plots'}: {', '.join(p.name for p in paths)}")
    if not args.quiet:
        print(format_front(summary))
    return 0


def _run(args) -> int:
    from evoapproxnas.search.campaign import create_run, log

    run_dir = create_run(args.config, args.out, args.overrides, args.overwrite)
    if not args.quiet:
        log(f"run directory {run_dir} (resume with: evoapproxnas resume {run_dir})")
    return _finish(run_dir, args)


def _resume(args) -> int:
    from evoapproxnas.search.campaign import open_run

    open_run(args.run_dir)
    return _finish(Path(args.run_dir), args)


def load_front(run_dir) -> dict:
    """``front.json`` of a finished run, else the front of the archive so far (no test)."""
    from evoapproxnas.search.archive import read_records
    from evoapproxnas.search.campaign import front_member, open_run
    from evoapproxnas.search.results import pareto_front

    cfg = open_run(run_dir)
    path = Path(run_dir) / "front.json"
    if path.is_file():
        return json.loads(path.read_text())
    records = read_records(Path(run_dir) / "archive.jsonl")
    front = pareto_front(records, cfg.search.objectives)
    return {"objectives": list(cfg.search.objectives), "unfinished": True,
            "front": [front_member(r) for r in front], "evaluations": len(records),
            "failed": sum(r["status"] == "failed" for r in records)}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_front(summary: dict) -> str:
    head = (f"Pareto front: {len(summary['front'])} members of {summary['evaluations']} "
            f"evaluations ({summary['failed']} failed); objectives: "
            f"{', '.join(summary['objectives'])}")
    lines = [head]
    if summary.get("unfinished"):
        lines.append("(run not finished: no test-set accuracy yet)")
    lines.append(f"{'#':>3} {'val_acc':>8} {'test_acc':>8} {'power_mW':>10} {'power_rel':>9} "
                 f"{'params':>9}  multipliers (layers)  hash")
    for k, m in enumerate(summary["front"]):
        counts = Counter(m["multipliers"].values())
        muls = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items()))
        lines.append(f"{k:>3} {_fmt(m['val_accuracy'], '8.4f')} "
                     f"{_fmt(m.get('test_accuracy'), '8.4f')} {m['power_mw']:10.2f} "
                     f"{m['power_rel']:9.4f} {m['params']:9d}  {muls}  {m['hash']}")
    return "\n".join(lines)


def _report(args) -> int:
    summary = load_front(args.run_dir)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(format_front(summary))
    return 0


def _plot(args) -> int:
    from evoapproxnas.plots.campaign import plot_run

    paths = plot_run(Path(args.run_dir), member=args.member)
    for path in paths:
        print(path)
    return 0


def _member(summary: dict, k: int) -> dict:
    front = summary["front"]
    if not 0 <= k < len(front):
        raise UserError(f"--member {k} is out of range; the front has {len(front)} members "
                        f"(0..{len(front) - 1}, see 'evoapproxnas report')")
    return front[k]


def _export(args) -> int:
    from evoapproxnas.search.campaign import load_data, open_run
    from evoapproxnas.search.problem import CampaignProblem

    out = Path(args.out)
    if out.suffix != ".keras":
        raise UserError(f"--out {out}: the file name must end with .keras")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; choose another --out or pass --overwrite")
    cfg = open_run(args.run_dir)
    member = _member(load_front(args.run_dir), args.member)
    problem = CampaignProblem.build(cfg, load_data(cfg))
    from evoapproxnas.search.worker import load_trained

    model = load_trained(problem, Path(args.run_dir) / "models", member["genome"],
                         member["hash"])
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    print(out)
    return 0
