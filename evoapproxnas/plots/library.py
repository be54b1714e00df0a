"""Scatter of a multiplier library: power (and area) against MAE%, Pareto front marked."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evoapproxnas.atomic import write_bytes
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.model import Multiplier

COST_LABELS = {"power_mw": "power [mW]", "area_um2": "area [um^2]"}


def pareto_front(costs: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``costs`` (all objectives minimised), via pymoo."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    costs = np.asarray(costs, dtype=float)
    if len(costs) == 0:
        return np.zeros(0, dtype=int)
    front = NonDominatedSorting().do(costs, only_non_dominated_front=True)
    return np.sort(np.asarray(front, dtype=int))


def plot_library(
    multipliers: Sequence[Multiplier],
    out: str | Path,
    *,
    title: str = "",
    costs: Sequence[str] = ("power_mw", "area_um2"),
) -> dict[str, list[str]]:
    """Draw one panel per cost (``power_mw``, ``area_um2``) against MAE% and write ``out``.

    Multipliers without the cost figure are left out of that panel. The Pareto front (cost vs
    MAE%) is drawn as a step line and its members are annotated. Returns the front's names per
    cost. The image is written atomically; its format follows the file suffix.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unknown = [c for c in costs if c not in COST_LABELS]
    if unknown or not costs:
        raise UserError(f"cannot plot costs {unknown or list(costs)}; use {list(COST_LABELS)}")
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise UserError(f"{out}: unsupported image type; use a .png, .svg or .pdf file name")
    fronts: dict[str, list[str]] = {}
    fig, axes = plt.subplots(1, len(costs), figsize=(6.5 * len(costs), 5.0), squeeze=False)
    for ax, cost in zip(axes[0], costs):
        muls = [m for m in multipliers if getattr(m, cost) is not None]
        if not muls:
            ax.text(0.5, 0.5, f"no {cost} figures", ha="center", transform=ax.transAxes)
            fronts[cost] = []
            continue
        mae = np.array([m.metrics.mae_pct for m in muls])
        value = np.array([getattr(m, cost) for m in muls], dtype=float)
        front = pareto_front(np.column_stack([value, mae]))
        fronts[cost] = [muls[i].name for i in front]
        ax.scatter(mae, value, s=18, color="#9e9e9e", label="multipliers")
        order = front[np.argsort(mae[front])]
        ax.step(mae[order], value[order], where="post", color="#d62728", lw=1, alpha=0.6)
        ax.scatter(mae[front], value[front], s=30, color="#d62728", label="Pareto front")
        for k, i in enumerate(order):  # alternate above/below so neighbours overlap less
            ax.annotate(muls[i].name, (mae[i], value[i]), fontsize=7,
                        xytext=(4, 3 if k % 2 == 0 else -10), textcoords="offset points")
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel("MAE [% of 2^16]")
        ax.set_ylabel(COST_LABELS[cost])
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(out, buf.getvalue())
    return fronts
