"""Figures of a campaign run: Pareto fronts, hypervolume per generation, a front member.

``plot_run(run)`` writes into the run directory's ``plots/`` folder:
``front_power.png`` (validation error vs relative multiplication power), ``front_params.png``
(error vs parameters) and ``front_<metric>.png`` for every hardware objective (error vs, e.g.,
``edap`` or ``fps``), with every evaluated candidate in grey and the front highlighted,
``hypervolume.png`` (per generation) and ``member_<K>.png`` (drawing of front member K).
It reads the run's data files only (archive, front, history, config); nothing is executed
from the directory.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.metrics import METRICS
from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.study.rundir import RunDir


def _number(value) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, not a number, NaN, infinite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _point(record: EvaluationRecord, x_key: str) -> tuple[float, float] | None:
    """``(metric x_key, validation error)`` of a trained record, or ``None`` when it lacks
    either (such a record is left out of the panel)."""
    x, acc = _number(record.metrics.get(x_key)), _number(record.val_accuracy)
    return None if x is None or acc is None else (x, 1.0 - acc)


def _front_axes(ax, records: list[EvaluationRecord], front: list[EvaluationRecord], x_key: str,
                xlabel: str, log_x: bool = False) -> None:
    ok = [p for p in (_point(r, x_key) for r in records if r.status == "ok") if p is not None]
    xs = [p[0] for p in ok]
    ys = [p[1] for p in ok]
    ax.scatter(xs, ys, s=18, c="#b0b0b0", label=f"evaluated ({len(ok)})", zorder=1)
    numbered = [(k, _point(r, x_key)) for k, r in enumerate(front)]  # k: as in `report`
    numbered = [(k, p) for k, p in numbered if p is not None]
    pts = [p for _, p in numbered]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=40, c="#d62728",
                   edgecolors="black", label=f"Pareto front, all objectives ({len(pts)})",
                   zorder=3)
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        first = NonDominatedSorting().do(np.array(pts, float), only_non_dominated_front=True)
        steps = sorted(pts[i] for i in first)
        ax.step([p[0] for p in steps], [p[1] for p in steps], where="post", c="#d62728",
                lw=1, zorder=2, label=f"front of these two ({len(steps)})")
    for k, (x, y) in numbered:
        ax.annotate(str(k), (x, y), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    if log_x and all(x > 0 for x in xs + [p[0] for p in pts]):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation error (approximate multipliers)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)


def plot_run(run: RunDir, member: int = 0) -> list[Path]:
    """Write the run's figures; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    run_dir = run.path
    summary = run.front()
    records = run.records()
    front = [m.record for m in summary.members]
    if not records:
        raise UserError(f"{run_dir}: no evaluations yet; nothing to plot")
    out = run.plots_dir
    out.mkdir(exist_ok=True)
    paths = []
    panels = [("power_rel", METRICS["power_rel"].label, "front_power", False),
              ("params", METRICS["params"].label, "front_params", True)]
    for metric in summary.objectives:  # hardware objectives get a panel of their own
        if metric not in ("error", "power_rel", "params"):
            values = [v for r in records if r.status == "ok"
                      and (v := _number(r.metrics.get(metric))) is not None and v != 0]
            wide = bool(values) and min(values) > 0 and max(values) / min(values) > 100
            label = METRICS[metric].label if metric in METRICS else metric
            panels.append((metric, label, f"front_{metric}", wide))
    for key, label, name, log_x in panels:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        _front_axes(ax, records, front, key, label, log_x)
        ax.set_title(f"{run_dir.name}: error vs {key}")
        fig.tight_layout()
        paths.append(out / f"{name}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    history = summary.history
    if history:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([h.generation + 1 for h in history], [h.hypervolume for h in history],
                marker="o")
        ax.set_xlabel("generation")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("hypervolume (normalized objectives)")
        ax.set_title(f"{run_dir.name}: hypervolume per generation")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        paths.append(out / "hypervolume.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if front:
        from evoapproxnas.plots.network import draw_network

        k = member
        graph = run.network(summary.member(k))
        names = [m.name for m in run.problem.multipliers]
        paths.append(draw_network(graph, out / f"member_{k}.png", names))
    return paths
