"""Figures of a campaign run: Pareto fronts, hypervolume per generation, a front member.

``plot_run(run_dir)`` writes into ``run_dir/plots``:
``front_power.png`` (validation error vs relative multiplication power), ``front_params.png``
(error vs parameters) with every evaluated candidate in grey and the front highlighted,
``hypervolume.png`` (per generation) and ``member_<K>.png`` (drawing of front member K).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError


def _front_axes(ax, records, front, x_key: str, xlabel: str, log_x: bool = False) -> None:
    ok = [r for r in records if r["status"] == "ok"]
    xs = [r["metrics"][x_key] for r in ok]
    ys = [1.0 - r["metrics"]["val_accuracy"] for r in ok]
    ax.scatter(xs, ys, s=18, c="#b0b0b0", label=f"evaluated ({len(ok)})", zorder=1)
    pts = [(m[x_key], 1.0 - m["val_accuracy"]) for m in front]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=40, c="#d62728",
                   edgecolors="black", label=f"Pareto front, all objectives ({len(pts)})",
                   zorder=3)
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        first = NonDominatedSorting().do(np.array(pts, float), only_non_dominated_front=True)
        steps = sorted(pts[i] for i in first)
        ax.step([p[0] for p in steps], [p[1] for p in steps], where="post", c="#d62728",
                lw=1, zorder=2, label=f"front of these two ({len(steps)})")
    for k, m in enumerate(front):
        ax.annotate(str(k), (m[x_key], 1.0 - m["val_accuracy"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation error (approximate multipliers)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)


def plot_run(run_dir, member: int = 0) -> list[Path]:
    """Write the run's figures; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from evoapproxnas.search.archive import read_records
    from evoapproxnas.search.checkpoint import load_checkpoint
    from evoapproxnas.search.cli import load_front

    run_dir = Path(run_dir)
    summary = load_front(run_dir)
    records = read_records(run_dir / "archive.jsonl")
    front = summary["front"]
    if not records:
        raise UserError(f"{run_dir}: no evaluations yet; nothing to plot")
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    paths = []
    for key, label, name, log_x in (
        ("power_rel", "multiplication power relative to the exact multiplier", "front_power",
         False),
        ("params", "parameters", "front_params", True),
    ):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        _front_axes(ax, records, front, key, label, log_x)
        ax.set_title(f"{run_dir.name}: error vs {key}")
        fig.tight_layout()
        paths.append(out / f"{name}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    history = summary.get("history") or (load_checkpoint(run_dir) or {}).get("history", [])
    if history:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([h["generation"] + 1 for h in history], [h["hypervolume"] for h in history],
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
        paths.append(_draw_member(run_dir, summary, member, out))
    return paths


def _draw_member(run_dir: Path, summary: dict, k: int, out: Path) -> Path:
    from evoapproxnas.plots.network import draw_network
    from evoapproxnas.search.campaign import open_run
    from evoapproxnas.search.problem import allowed_multipliers, make_spec

    front = summary["front"]
    if not 0 <= k < len(front):
        raise UserError(f"--member {k} is out of range; the front has {len(front)} members "
                        f"(0..{len(front) - 1})")
    cfg = open_run(run_dir)
    multipliers = allowed_multipliers(cfg)
    spec = make_spec(cfg, len(multipliers))
    from evoapproxnas.cgp import decode

    shape, n_classes = _data_shape(run_dir)
    graph = decode(front[k]["genome"], spec, shape, n_classes)
    return draw_network(graph, out / f"member_{k}.png", [m.name for m in multipliers])


def _data_shape(run_dir: Path) -> tuple[tuple, int]:
    """Input shape and class count recorded by the run (``shape.json``)."""
    import json

    info = json.loads((run_dir / "shape.json").read_text())
    return tuple(info["input_shape"]), int(info["n_classes"])
