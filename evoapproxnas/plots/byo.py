"""Figures of a brought-your-own network: the sweep front (accuracy against relative power,
one series per network and fine-tuning) and the per-layer sensitivity heat map."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sweep(series: dict[str, list[dict]], out: Path, title: str = "") -> Path:
    """Accuracy against relative multiplication power: for each network (``series`` name ->
    the sweep's rows: ``power_rel``, ``fine_tune_epochs``, ``test_accuracy`` or
    ``val_accuracy``), the variants without fine-tuning (circles) and with it (triangles),
    each with its Pareto front as a step line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, rows) in enumerate(series.items()):
        for tuned in sorted({int(r["fine_tune_epochs"]) for r in rows}):
            pts = [(r["power_rel"], r["test_accuracy"] if r.get("test_accuracy") is not None
                    else r["val_accuracy"]) for r in rows if int(r["fine_tune_epochs"]) == tuned]
            if not pts:
                continue
            xs, ys = np.array(pts).T
            label = f"{name}" + (f", {tuned} fine-tuning epoch(s)" if tuned else "")
            color = colors[k % len(colors)]
            ax.scatter(xs, 100 * ys, s=16, color=color, marker="^" if tuned else "o",
                       alpha=0.8, label=label)
            order = np.argsort(xs)
            best, fx, fy = -1.0, [], []
            for i in order:  # the front: each point more accurate than every cheaper one
                if ys[i] > best:
                    best = ys[i]
                    fx.append(xs[i])
                    fy.append(100 * ys[i])
            ax.step(fx, fy, where="post", color=color, lw=1, ls="--" if tuned else "-")
    ax.set_xlabel("relative power of the multiplications (exact = 1)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "every layer on one multiplier")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_sensitivity(layers: list[str], multipliers: list[str], drop: np.ndarray,
                     out: Path, title: str = "") -> Path:
    """Heat map of accuracy drops (percentage points), layers x multipliers."""
    plt = _pyplot()
    drop = np.asarray(drop, float)
    fig, ax = plt.subplots(figsize=(max(5, 0.3 * len(multipliers) + 3),
                                    max(3, 0.3 * len(layers) + 1.5)))
    image = ax.imshow(100 * drop, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(multipliers)), multipliers, rotation=90, fontsize=6)
    ax.set_yticks(range(len(layers)), layers, fontsize=7)
    ax.set_xlabel("multiplier (this layer only)")
    ax.set_ylabel("layer")
    ax.set_title(title or "accuracy drop per layer and multiplier")
    fig.colorbar(image, ax=ax, label="accuracy drop (points)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
