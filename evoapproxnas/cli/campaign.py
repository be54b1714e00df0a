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
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask runs: continue on this cluster ('local' or tcp://HOST:8786) "
                        "instead of the one the run started on")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_resume)

    p = subparsers.add_parser("report", help="print the Pareto front of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--html", metavar="OUT",
                   help="also write the run as one self-contained interactive page (.html)")
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


def _reporter(args):
    """What ``--quiet`` chooses: the notes only, or every line and bar."""
    from evoapproxnas.search.reporting import ConsoleReporter, SilentReporter

    return SilentReporter() if args.quiet else ConsoleReporter()


def _finish(run_dir: Path, args, reporter) -> int:
    from evoapproxnas.search.campaign import run_campaign
    from evoapproxnas.search.study.rundir import RunDir

    front = run_campaign(run_dir, reporter=reporter,
                         scheduler=getattr(args, "scheduler", None))
    if not args.no_plots:
        from evoapproxnas.plots.campaign import plot_run

        paths = plot_run(RunDir(run_dir))
        reporter.note(f"plots written to {run_dir / 'plots'}: "
                      f"{', '.join(p.name for p in paths)}")
    if not args.quiet:
        print(format_front(front))
    return 0


def _run(args) -> int:
    from evoapproxnas.search.campaign import create_run

    run = create_run(args.config, args.out, args.overrides, args.overwrite)
    reporter = _reporter(args)
    reporter.log(f"run directory {run.path} (resume with: evoapproxnas resume {run.path})")
    return _finish(run.path, args, reporter)


def _resume(args) -> int:
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(args.run_dir)
    for record in run.records():  # a damaged archive, or a config.json not the run's
        run.check_genome(record)
    return _finish(run.path, args, _reporter(args))


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_front(front) -> str:
    """The ``report`` table of a ``RunFront``."""
    head = (f"Pareto front: {len(front.members)} members of {front.evaluations} "
            f"evaluations ({front.failed} failed); objectives: {', '.join(front.objectives)}")
    lines = [head]
    if front.unfinished:
        lines.append("(run not finished: no test-set accuracy yet)")
    lines.append(f"{'#':>3} {'val_acc':>8} {'test_acc':>8} {'power_mW':>10} {'power_rel':>9} "
                 f"{'params':>9}  multipliers (layers)  hash")
    for k, member in enumerate(front.members):
        m = member.record.metrics
        counts = Counter(m.get("multipliers", {}).values())
        muls = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())) or "-"
        lines.append(f"{k:>3} {_fmt(m.get('val_accuracy'), '8.4f')} "
                     f"{_fmt(member.test_accuracy, '8.4f')} {_fmt(m.get('power_mw'), '10.2f')} "
                     f"{_fmt(m.get('power_rel'), '9.4f')} {_fmt(m.get('params'), '9d')}  "
                     f"{muls}  {member.record.hash}")
        if isinstance(m.get("hardware_design"), str):  # the design it was priced on
            lines.append(f"    hardware: {m['hardware_design']}{_hardware_values(m, front)}")
    return "\n".join(lines)


def _hardware_values(metrics: dict, front) -> str:
    """``"; fps 35.5, gops_per_w 1.91"``: the member's hardware objectives (and its
    energy efficiency where the model gives one)."""
    from evoapproxnas.metrics import is_hardware

    names = [n for n in front.objectives if is_hardware(n)]
    names += [n for n in ("gops_per_w",) if n not in names]
    shown = [f"{n} {metrics[n]:.4g}" for n in names
             if isinstance(metrics.get(n), (int, float)) and not isinstance(metrics[n], bool)]
    return "; " + ", ".join(shown) if shown else ""


def _report(args) -> int:
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(args.run_dir)
    front = run.front()
    if args.html:
        from evoapproxnas.plots.html import write_page
        from evoapproxnas.search.reporting import ConsoleReporter

        ConsoleReporter().log(f"HTML report written to {write_page(run, args.html)}")
    if args.json:
        print(json.dumps(front.to_dict(), indent=2, sort_keys=True))
    else:
        print(format_front(front))
    return 0


def _plot(args) -> int:
    from evoapproxnas.plots.campaign import plot_run
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(args.run_dir)
    check_plottable(run, args.member)  # everything is read before anything is drawn
    if run.plots_dir.exists() and not run.plots_dir.is_dir():
        raise UserError(f"{run.plots_dir} is not a folder; move it away so that plot can make "
                        "the folder of the plots")
    target = run.plots_dir if run.plots_dir.exists() else run.path
    if not os.access(target, os.W_OK):
        raise UserError(f"cannot write the plots to {run.plots_dir}: {target} is read-only; "
                        "copy the run directory somewhere writable and plot the copy")
    try:
        paths = plot_run(run, member=args.member)
    except OSError as exc:
        raise UserError(f"cannot write the plots to {run.plots_dir}: "
                        f"{exc.strerror or exc}") from None
    for path in paths:
        print(path)
    return 0


def check_plottable(run, member: int) -> None:
    """``UserError`` unless the run has what ``plot`` draws: its front, its archive, the
    metrics of every trained candidate (validation accuracy, power_rel, params and each
    objective) and the network of front member ``member``."""
    from evoapproxnas.search.study.rundir import DAMAGED

    front = run.front()
    records = run.records()
    needed = ["power_rel", "params"] + [m for m in front.objectives
                                        if m not in ("error", "power_rel", "params")]
    places = [(run.path / "archive.jsonl", r) for r in records]
    places += [(run.path / "front.json", m.record) for m in front.members]
    for path, record in places:
        if record.status != "ok":
            continue
        values = {"val_accuracy": record.val_accuracy,
                  **{name: record.metrics.get(name) for name in needed}}
        for name, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise UserError(f"{path}: trained candidate {record.hash} has no {name} "
                                f"(a number) to plot; {DAMAGED}")
    if front.members:
        run.network(front.member(member))


def _export(args) -> int:
    from evoapproxnas.paths import check_path
    from evoapproxnas.search.study.rundir import RunDir

    out = check_path(args.out, "--out")
    if out.suffix != ".keras":
        raise UserError(f"--out {out}: the file name must end with .keras")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; choose another --out or pass --overwrite")
    if out.is_dir():
        raise UserError(f"cannot write {out}: it is a folder; give a file name ending in .keras")
    folder = out.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {out}: {folder} is not an existing folder; create it or "
                        "choose another --out")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {out}: {folder} is read-only; choose another --out")
    run = RunDir(args.run_dir)
    model = run.load_model(run.front().member(args.member))
    from evoapproxnas.approx.convert import save_model

    save_model(model, out)
    print(out)
    return 0
