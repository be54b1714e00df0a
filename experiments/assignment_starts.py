"""Where should the assignment search start? Random, uniform or sensitivity-guided starts of
the ALWANN-style search on a trained ResNet-8, paired by seed (issue 32, item 4; docs/byo.md).

Everything that decides the outcome was fixed in this docstring before the first run:

- the network: ResNet-8 of ``reproduce_resnet_multipliers.py`` at its quick scale (2 epochs
  on 12,000 Fashion-MNIST images, seed 1), converted to 8 bits (batch norm folded, 1,000
  calibration images); the 12 multipliers of its ``QUICK_MULTIPLIERS``;
- the search: that script's assignment campaign (NSGA-II, population 8 x 5 generations =
  40 evaluations, no retraining, 500 validation images, objectives error and power_rel),
  seeds 1..6, one run per (start, seed); the validation split follows ``search.seed`` (the
  campaign's rule), so for seeds other than 1 some of the 500 validation images were among
  the network's training images: selection is optimistic alike for every start, and every
  indicator is on the test set;
- the starts (shares of the sampled initial population): ``random`` (every gene drawn
  independently), ``uniform`` (``space.uniform_share = 0.5``), ``sensitivity``
  (``space.sensitivity_share = 0.5`` with the map of ``evoapproxnas sensitivity`` on the
  same 500 validation images and 12 multipliers);
- the indicators, on the 10,000 test images (the front re-evaluated as a campaign does):
  ``hv``, the hypervolume of the front in (error, power_rel) with the campaign's reference;
  ``dominated``, how many of the 11 approximate uniform assignments (one multiplier on every
  layer, measured here on the same test images) the front dominates (power at most, test
  accuracy at least, one of them strictly); ``acc@0.5x``, the best test accuracy at or
  below half the power;
- the statistics: per-seed values, medians, wins, and the two-sided Wilcoxon signed-rank p
  of ``sensitivity`` against each other start (scipy; with 6 pairs its smallest p is 0.031).

Resumable: the model, the map, the uniform points and every run directory are kept in
``--out``; a finished run is read, a killed one resumed. Writes
``plots/assignment_starts.md`` and ``plots/assignment_starts.png``.

    python experiments/assignment_starts.py [--out runs/assignment_starts] [--report-only]
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runs import parser, pyplot, run_or_resume, save_figure  # noqa: E402
from reproduce_resnet_multipliers import (  # noqa: E402
    ASSIGN,
    QUICK_MULTIPLIERS,
    SCALES,
    SEED,
    accuracy_table,
    train,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (1, 2, 3, 4, 5, 6)
STARTS = {"random": [], "uniform": ["space.uniform_share=0.5"],
          "sensitivity": ["space.sensitivity=sens/sensitivity.json",
                          "space.sensitivity_share=0.5"]}
LIBRARY = "evoapproxlib8u"


def prepare(out: Path, log) -> dict:
    """The converted ResNet-8, its sensitivity map and the test accuracies of the uniform
    assignments (each step skipped when its file exists)."""
    from evoapproxnas.approx.convert import load_model
    from evoapproxnas.atomic import write_json
    from evoapproxnas.data import load_dataset
    from evoapproxnas.search.byo.sensitivity import run_sensitivity

    scale = SCALES["quick"]
    data = load_dataset("fashion_mnist", None, val_fraction=0.1, seed=SEED)
    paths = train(out, data, scale, log, depths=(8,))
    table = accuracy_table(out, data, paths, scale, log, name="accuracy_resnet8.json")
    if not (out / "sens" / "sensitivity.json").exists():
        start = time.perf_counter()
        run_sensitivity(load_model(out / "resnet8_8bit.keras"), data, out / "sens",
                        library=LIBRARY, multipliers=list(QUICK_MULTIPLIERS),
                        val_images=scale["search_val_images"], progress=False)
        log(f"sensitivity map in {time.perf_counter() - start:.0f} s")
    uniform_path = out / "uniform.json"
    if not uniform_path.exists():
        write_json(uniform_path, uniform_points(out, data))
        log("uniform assignments measured on the test set")
    return {"table": table, "uniform": json.loads(uniform_path.read_text())}


def uniform_points(out: Path, data) -> list[dict]:
    """Test accuracy and relative power of one multiplier on every layer, for each of the
    quick multipliers (the model as the campaign's workers measure a candidate)."""
    from evoapproxnas.approx.convert import load_model
    from evoapproxnas.approx.layers import approx_layers
    from evoapproxnas.multipliers import load_library, relative_power
    from evoapproxnas.nn.fixed import accuracy, assign

    lib = load_library(LIBRARY)
    model = load_model(out / "resnet8_8bit.keras")
    names = [layer.name for layer in approx_layers(model)]
    rows = []
    for name in QUICK_MULTIPLIERS:
        assign(model, {layer: lib[name] for layer in names}, lib.exact)
        rows.append({"multiplier": name, "power_rel": relative_power(lib[name], lib.exact),
                     "test_accuracy": accuracy(model, data.x_test, data.y_test)})
    return rows


def campaign_file(out: Path) -> Path:
    """The assignment campaign of the reproduction script at the quick scale (its seed is
    overridden per run)."""
    scale = SCALES["quick"]
    path = out / "assign.toml"
    path.write_text(ASSIGN.format(allowed=json.dumps(list(QUICK_MULTIPLIERS)),
                                  val=scale["search_val_images"],
                                  population=scale["population"],
                                  generations=scale["generations"], seed=SEED))
    return path


def indicators(run_path: Path, uniform: list[dict]) -> dict:
    """The docstring's indicators of one finished run (test set)."""
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(run_path)
    members = [(m.record.metrics["power_rel"], m.test_accuracy) for m in run.front().members
               if m.test_accuracy is not None]
    return {**front_indicators(members, run.config.hv_reference(), uniform),
            "evaluations": len(run.records())}


def front_indicators(members: list[tuple[float, float]], reference, uniform: list[dict]
                     ) -> dict:
    """``hv``, ``dominated`` and ``acc@0.5x`` of front ``members`` ((power_rel, test
    accuracy) pairs) against the ``uniform`` points, ``reference`` in (error, power_rel)."""
    import numpy as np
    from pymoo.indicators.hv import HV

    points = [[1.0 - acc, power] for power, acc in members]
    hv = float(HV(ref_point=np.array(reference))(np.array(points))) if points else 0.0
    approximate = [u for u in uniform if u["power_rel"] < 1.0 - 1e-12]

    def dominates(power, acc, u) -> bool:
        return (power <= u["power_rel"] + 1e-12 and acc >= u["test_accuracy"]
                and (power < u["power_rel"] - 1e-12 or acc > u["test_accuracy"]))

    dominated = sum(any(dominates(p, a, u) for p, a in members) for u in approximate)
    cheap = [a for p, a in members if p <= 0.5 + 1e-12]
    return {"hv": hv, "dominated": dominated, "acc@0.5x": max(cheap) if cheap else 0.0,
            "front": [list(m) for m in members]}


def statistics(values: dict, name: str) -> list[str]:
    """Markdown rows of one indicator: per seed, median, wins of sensitivity, Wilcoxon p."""
    import numpy as np
    from scipy.stats import wilcoxon

    rows = []
    for start in STARTS:
        per_seed = [values[(start, s)][name] for s in SEEDS if (start, s) in values]
        if not per_seed:
            rows.append(f"| {name} | {start} | | |")
            continue
        text = " ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in per_seed)
        rows.append(f"| {name} | {start} | {text} | {np.median(per_seed):.4f} |")
    for other in ("random", "uniform"):
        seeds = [s for s in SEEDS if ("sensitivity", s) in values and (other, s) in values]
        if not seeds:
            continue
        a = np.array([values[("sensitivity", s)][name] for s in seeds], dtype=float)
        b = np.array([values[(other, s)][name] for s in seeds], dtype=float)
        diff = a - b
        p = wilcoxon(a, b).pvalue if np.any(diff != 0) else math.nan
        rows.append(f"| {name} | sensitivity vs {other} | wins {int(np.sum(diff > 0))}, "
                    f"losses {int(np.sum(diff < 0))} of {len(seeds)} | Wilcoxon p "
                    f"{p:.3f} |")
    return rows


def report(out: Path, prepared: dict, values: dict, walls: dict) -> str:
    table = prepared["table"][0]
    lines = ["# Assignment search starts on ResNet-8 (Fashion-MNIST, quick scale)", "",
             f"ResNet-8: float32 {100 * table['float']:.2f} %, 8-bit "
             f"{100 * table['int8']:.2f} % (2,000 test images, reproduce script's table).", "",
             "Uniform assignments (10,000 test images): " + ", ".join(
                 f"{u['multiplier']} {u['power_rel']:.3f} / {100 * u['test_accuracy']:.2f} %"
                 for u in prepared["uniform"]) + ".", "",
             f"Runs finished: {len(values)} of {len(STARTS) * len(SEEDS)}.", "",
             "| indicator | start | per seed (" + ", ".join(map(str, SEEDS)) + ") | median |",
             "|---|---|---|---|"]
    for name in ("hv", "dominated", "acc@0.5x"):
        lines += statistics(values, name)
    lines += ["", "Wall time per run (s): " + "; ".join(
        f"{start}: " + " ".join(f"{walls[(start, s)]:.0f}" for s in SEEDS
                                if (start, s) in walls) for start in STARTS)]
    return "\n".join(lines) + "\n"


def plot(prepared: dict, values: dict, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(STARTS), figsize=(12, 3.8), sharey=True)
    uniform = prepared["uniform"]
    for ax, start in zip(axes, STARTS, strict=True):
        ax.plot([u["power_rel"] for u in uniform], [u["test_accuracy"] for u in uniform],
                "ks", label="uniform multiplier")
        for s in SEEDS:
            if (start, s) in values:
                front = sorted(values[(start, s)]["front"])
                ax.step([p for p, _ in front], [a for _, a in front], where="post",
                        alpha=0.7, label=f"seed {s}")
        ax.set_title(f"start: {start}")
        ax.set_xlabel("relative multiplication power")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


def main(argv=None) -> int:
    args = parser(__doc__, ROOT / "runs" / "assignment_starts").parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {message}", flush=True)

    from evoapproxnas.atomic import write_json

    prepared = prepare(out, log)
    campaign = campaign_file(out)
    values, walls = {}, {}
    for seed in SEEDS:  # seed by seed: each finished seed is a complete triple
        for start, overrides in STARTS.items():
            path = out / f"{start}-{seed}"
            finished = (path / "front.json").exists()
            if not finished and args.report_only:
                continue
            wall_file = path / "wall_s.json"
            if not finished:
                wall, _ = run_or_resume(campaign, path, [f"search.seed={seed}", *overrides])
                write_json(wall_file, wall)
                log(f"{start} seed {seed}: {wall:.0f} s")
            walls[(start, seed)] = json.loads(wall_file.read_text()) if wall_file.exists() \
                else math.nan
            values[(start, seed)] = indicators(path, prepared["uniform"])
    text = report(out, prepared, values, walls)
    (ROOT / "plots").mkdir(exist_ok=True)
    (ROOT / "plots" / "assignment_starts.md").write_text(text)
    plot(prepared, values, ROOT / "plots" / "assignment_starts.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
