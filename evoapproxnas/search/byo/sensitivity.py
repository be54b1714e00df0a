"""Per-layer sensitivity: the accuracy drop when one layer at a time takes each multiplier
(the others exact), on a converted, calibrated model. No training."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError


@dataclass
class Sensitivity:
    """Accuracies of one layer at a time on each multiplier."""

    layers: list[str]
    multipliers: list[str]
    power_rel: list[float]
    """Relative power of each multiplier (exact = 1)."""
    base_accuracy: float
    """Accuracy with every layer exact (the 8-bit network)."""
    accuracy: np.ndarray
    """``[layer, multiplier]`` accuracy with that layer alone on that multiplier."""
    seconds: float = 0.0
    paths: list[Path] = field(default_factory=list)

    @property
    def drop(self) -> np.ndarray:
        """Accuracy drop against the exact network (positive: worse)."""
        return self.base_accuracy - self.accuracy

    def table(self) -> str:
        """Markdown: one row per layer, the drop in points for each multiplier."""
        head = "| layer | " + " | ".join(self.multipliers) + " |"
        rule = "|---|" + "---:|" * len(self.multipliers)
        rows = [f"| {name} | " + " | ".join(f"{100 * d:.2f}" for d in self.drop[i]) + " |"
                for i, name in enumerate(self.layers)]
        return "\n".join([f"accuracy with every layer exact: {self.base_accuracy:.4f}; "
                          "drop in points when one layer takes the multiplier:", head, rule,
                          *rows])

    def to_dict(self) -> dict:
        return {"layers": self.layers, "multipliers": self.multipliers,
                "power_rel": self.power_rel, "base_accuracy": self.base_accuracy,
                "accuracy": self.accuracy.tolist(), "seconds": self.seconds}


def measure(model, x: np.ndarray, y: np.ndarray, library: str, names: list[str],
            progress: bool = True) -> Sensitivity:
    """Accuracy of ``model`` on ``x, y`` with each layer alone on each multiplier."""
    from evoapproxnas.approx.layers import approx_layers
    from evoapproxnas.multipliers import load_library, relative_power
    from evoapproxnas.nn.fixed import accuracy, assign
    from evoapproxnas.search.reporting import ConsoleReporter

    lib = load_library(library)
    names = list(names) or list(lib.names)
    mults = [lib[name] for name in names]
    layers = [layer.name for layer in approx_layers(model)]
    start = time.perf_counter()
    assign(model, {}, lib.exact)
    base = accuracy(model, x, y)
    acc = np.zeros((len(layers), len(mults)))
    bar = ConsoleReporter().progress(acc.size, "sensitivity", "eval") if progress else None
    for i, layer in enumerate(layers):
        for j, mult in enumerate(mults):
            assign(model, {layer: mult}, lib.exact)
            acc[i, j] = accuracy(model, x, y)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    assign(model, {}, lib.exact)
    return Sensitivity(layers, names, [relative_power(m, lib.exact) for m in mults], base, acc,
                       time.perf_counter() - start)


def run_sensitivity(model, dataset, out, *, library: str, multipliers: list[str],
                    val_images: int, progress: bool = True) -> Sensitivity:
    """``measure`` on the first ``val_images`` validation images; writes
    ``sensitivity.json`` and ``sensitivity.md`` into the folder ``out`` (created)."""
    from evoapproxnas.atomic import write_bytes, write_json
    from evoapproxnas.paths import check_path

    out = check_path(out, "--out")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None
    x, y = dataset.x_val[:val_images], np.asarray(dataset.y_val[:val_images])
    result = measure(model, x, y, library, multipliers, progress)
    write_json(out / "sensitivity.json", result.to_dict())
    write_bytes(out / "sensitivity.md", (result.table() + "\n").encode())
    result.paths = [out / "sensitivity.json", out / "sensitivity.md"]
    return result
