"""Scatter of a multiplier library: power (and area) against MAE%, Pareto front marked.

A library mixing operand widths (8xN) draws each width with its own marker and colour; MAE% is
then relative to each multiplier's own output range 2^(8+N).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evoapproxnas.atomic import write_bytes
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.model import Multiplier
from evoapproxnas.paths import check_path

COST_LABELS = {"power_mw": "power [mW]", "area_um2": "area [um^2]"}
WIDTH_STYLES = {2: ("v", "#1f77b4"), 3: ("^", "#ff7f0e"), 4: ("s", "#2ca02c"),
                5: ("D", "#9467bd"), 6: ("P", "#8c564b"), 7: ("X", "#e377c2"),
                8: ("o", "#d62728")}
"""Marker and colour of each weight width N in a library that mixes widths."""


def pareto_front(costs: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``costs`` (all objectives minimised), via pymoo."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    costs = np.asarray(costs, dtype=float)
    if len(costs) == 0:
        return np.zeros(0, dtype=int)
    front = NonDominatedSorting().do(costs, only_non_dominated_front=True)
    return np.sort(np.asarray(front, dtype=int))


def _draw_front(ax, muls: Sequence[Multiplier], mae: np.ndarray, value: np.ndarray) -> list[str]:
    """One library's scatter with its Pareto front (step line, annotated); the front's names."""
    front = pareto_front(np.column_stack([value, mae]))
    ax.scatter(mae, value, s=18, color="#9e9e9e", label="multipliers")
    order = front[np.argsort(mae[front])]
    ax.step(mae[order], value[order], where="post", color="#d62728", lw=1, alpha=0.6)
    ax.scatter(mae[front], value[front], s=30, color="#d62728", label="Pareto front")
    for k, i in enumerate(order):  # alternate above/below so neighbours overlap less
        ax.annotate(muls[i].name, (mae[i], value[i]), fontsize=7,
                    xytext=(4, 3 if k % 2 == 0 else -10), textcoords="offset points")
    return [muls[i].name for i in front]


def _draw_widths(ax, muls: Sequence[Multiplier], mae: np.ndarray, value: np.ndarray,
                 n_of: np.ndarray) -> list[str]:
    """Mixed widths: per width a scatter and its own front; the fronts' names, by width."""
    names: list[str] = []
    for n in sorted(set(n_of.tolist())):
        marker, colour = WIDTH_STYLES[n]
        idx = np.flatnonzero(n_of == n)
        ax.scatter(mae[idx], value[idx], s=16, marker=marker, color=colour, alpha=0.45,
                   label=f"8x{n}")
        front = idx[pareto_front(np.column_stack([value[idx], mae[idx]]))]
        order = front[np.argsort(mae[front], kind="stable")]
        ax.step(mae[order], value[order], where="post", color=colour, lw=1)
        ax.scatter(mae[front], value[front], s=22, marker=marker, color=colour)
        names += [muls[i].name for i in front]
        for i in idx:
            if muls[i].is_exact:
                ax.annotate(f"exact 8x{n}", (mae[i], value[i]), fontsize=7,
                            xytext=(4, -3), textcoords="offset points")
    return names


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

    A library mixing weight widths (``weight_bits``, 8x2 .. 8x8) gets one marker and colour per
    width and one front per width (MAE% of different widths are percentages of different output
    ranges, and the weight quantization error is not in them, so one front over all widths would
    hold only the narrowest ones); the exact circuit of each width is labelled, and the names
    returned are the fronts' members, narrowest width first.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unknown = [c for c in costs if c not in COST_LABELS]
    if unknown or not costs:
        raise UserError(f"cannot plot costs {unknown or list(costs)}; use {list(COST_LABELS)}")
    out = check_path(out, "image file")
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise UserError(f"{out}: unsupported image type; use a .png, .svg or .pdf file name")
    check_writable(out)  # before the drawing
    fronts: dict[str, list[str]] = {}
    bits = sorted({int(getattr(m, "weight_bits", 8)) for m in multipliers})
    mixed = len(bits) > 1
    fig, axes = plt.subplots(1, len(costs), figsize=(6.5 * len(costs), 5.0), squeeze=False)
    for ax, cost in zip(axes[0], costs):
        muls = [m for m in multipliers if getattr(m, cost) is not None]
        if not muls:
            ax.text(0.5, 0.5, f"no {cost} figures", ha="center", transform=ax.transAxes)
            fronts[cost] = []
            continue
        mae = np.array([m.metrics.mae_pct for m in muls])
        value = np.array([getattr(m, cost) for m in muls], dtype=float)
        if mixed:
            n_of = np.array([int(getattr(m, "weight_bits", 8)) for m in muls])
            fronts[cost] = _draw_widths(ax, muls, mae, value, n_of)
        else:
            fronts[cost] = _draw_front(ax, muls, mae, value)
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel("MAE [% of 2^(8+N)]" if mixed else f"MAE [% of 2^{8 + bits[0]}]")
        ax.set_ylabel(COST_LABELS[cost])
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    plt.close(fig)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(out, buf.getvalue())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return fronts


def check_writable(out: Path) -> None:
    """``UserError`` unless ``out`` could be written as a file: not a folder, and the nearest
    existing folder above it is a folder (the missing ones are made)."""
    try:
        if out.is_dir():
            raise UserError(f"cannot write {out}: it is a folder; give an image file name")
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        folder = parent.is_dir()
    except OSError as exc:  # permission denied on the way
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    if not folder:
        raise UserError(f"cannot write {out}: {parent} is not a folder; choose another file name")
