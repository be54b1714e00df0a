"""Reproduce the EvoApproxNAS survey's ResNet experiment on Fashion-MNIST (docs/byo.md).

Steps, each resumable (a step whose files exist is skipped; the sweeps and the assignment
search continue where they stopped):

1. train ResNet-8, -14, -20, -26 (CIFAR-style, 6n+2 layers, 16/32/64 filters) on
   Fashion-MNIST;
2. float vs 8-bit accuracy table (exact multiplier, batch norm folded, 1000 calibration
   images) on the test set;
3. the sweep of EvoApproxLib 8-bit unsigned multipliers (``evoapproxlib8u``) over all layers
   of each network, without and with one epoch of approximation-aware fine-tuning;
4. one plot of the four fronts; 5. the ALWANN-style assignment search on ResNet-8 (NSGA-II,
   no retraining) against the best uniform multiplier at equal or lower power.

``--quick`` is the two-core scale (see ``SCALES``): about 90 minutes on two cores shared with
other jobs (88.4 min measured on an AVX2-only EPYC, docs/results.md), less on free ones;
the full scale is the survey's: 35 approximate multipliers + the exact one, the whole test
set. Writes ``plots/resnet_multipliers_*.{md,png}`` and keeps its work in ``--work``.

    python experiments/reproduce_resnet_multipliers.py --quick --work runs/resnet_quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = (8, 14, 20, 26)
QUICK_MULTIPLIERS = ("mul8u_1JFF", "mul8u_Y48", "mul8u_125K", "mul8u_GS2", "mul8u_2AC",
                     "mul8u_NGR", "mul8u_L40", "mul8u_12N4", "mul8u_17KS", "mul8u_FTA",
                     "mul8u_JV3", "mul8u_QKX")
"""Twelve multipliers spanning the library's relative power (1.0 down to 0.07)."""
SCALES = {
    "quick": {"epochs": 2, "train_images": 12000, "test_images": 2000, "val_images": 1000,
              "fine_tune_images": 3000, "multipliers": QUICK_MULTIPLIERS,
              "population": 8, "generations": 5, "search_val_images": 500},
    "full": {"epochs": 15, "train_images": 54000, "test_images": 10000, "val_images": 2000,
             "fine_tune_images": 54000, "multipliers": (), "population": 24,
             "generations": 20, "search_val_images": 2000},
}
SEED = 1


def resnet(depth: int, input_shape, n_classes: int):
    """The CIFAR ResNet of He et al. (2016) with ``depth = 6n + 2`` layers."""
    import keras

    n = (depth - 2) // 6
    inp = keras.Input(input_shape)

    def conv_bn(x, filters, strides=1, kernel=3):
        x = keras.layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False,
                                kernel_initializer="he_normal")(x)
        return keras.layers.BatchNormalization()(x)

    x = keras.layers.ReLU()(conv_bn(inp, 16))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(n):
            strides = 2 if stage > 0 and block == 0 else 1
            y = keras.layers.ReLU()(conv_bn(x, filters, strides))
            y = conv_bn(y, filters)
            shortcut = x if strides == 1 else conv_bn(x, filters, strides, kernel=1)
            x = keras.layers.ReLU()(keras.layers.Add()([shortcut, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(n_classes)(x), name=f"resnet{depth}")


def train(work: Path, data, scale: dict, log, depths=DEPTHS) -> dict[int, Path]:
    import keras

    paths = {}
    for depth in depths:
        path = work / f"resnet{depth}.keras"
        paths[depth] = path
        if path.exists():
            continue
        keras.utils.set_random_seed(SEED)
        model = resnet(depth, data.input_shape, data.n_classes)
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        n = scale["train_images"]
        start = time.perf_counter()
        model.fit(data.x_train[:n], data.y_train[:n], epochs=scale["epochs"], batch_size=64,
                  verbose=0)
        model.save(path)
        log(f"trained resnet{depth} in {time.perf_counter() - start:.0f} s")
    return paths


def accuracy_table(work: Path, data, paths, scale: dict, log, name: str = "accuracy.json"
                   ) -> list[dict]:
    import keras

    from evoapproxnas.approx.convert import convert, save_model
    from evoapproxnas.nn.fixed import accuracy

    table_path = work / name
    if table_path.exists():
        return json.loads(table_path.read_text())
    rows = []
    xt, yt = data.x_test[: scale["test_images"]], data.y_test[: scale["test_images"]]
    for depth, path in paths.items():
        model = keras.models.load_model(path)
        conv = convert(model, calibration_images=data.x_train[:1000], fold_batchnorm=True)
        save_model(conv.model, work / f"resnet{depth}_8bit.keras")
        rows.append({"depth": depth, "float": accuracy(model, xt, yt),
                     "int8": accuracy(conv.model, xt, yt)})
        log(f"resnet{depth}: float {rows[-1]['float']:.4f}, 8-bit {rows[-1]['int8']:.4f}")
    table_path.write_text(json.dumps(rows))
    return rows


def sweeps(work: Path, data, scale: dict, log) -> dict[int, dict]:
    from evoapproxnas.approx.convert import load_model
    from evoapproxnas.search.byo.sweep import SweepSettings, run_sweep

    settings = SweepSettings(multipliers=tuple(scale["multipliers"]), fine_tune_epochs=1,
                             fine_tune_images=scale["fine_tune_images"],
                             val_images=scale["val_images"], test_images=scale["test_images"],
                             seed=SEED)
    out = {}
    for depth in DEPTHS:
        model = load_model(work / f"resnet{depth}_8bit.keras")
        start = time.perf_counter()
        result = run_sweep(model, data, work / f"sweep_resnet{depth}", settings,
                           library="evoapproxlib8u", data=("fashion_mnist", ""),
                           source=f"resnet{depth}_8bit.keras", progress=False)
        out[depth] = {"rows": result.rows, "images_per_s": result.images_per_s}
        log(f"sweep resnet{depth}: {len(result.rows)} variants in "
            f"{time.perf_counter() - start:.0f} s, {result.images_per_s:.0f} images/s")
    return out


ASSIGN = """[data]
name = "fashion_mnist"
[space]
kind = "assignment"
model = "resnet8_8bit.keras"
[multipliers]
library = "evoapproxlib8u"
allowed = {allowed}
[training]
val_samples = {val}
[search]
population = {population}
generations = {generations}
seed = {seed}
objectives = ["error", "power_rel"]
[executor]
workers = 2
time_limit_s = 1200
"""


def assignment(work: Path, scale: dict, log):
    from evoapproxnas.multipliers import load_library
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter
    from evoapproxnas.search.study.rundir import RunDir

    allowed = list(scale["multipliers"]) or load_library("evoapproxlib8u").names
    config = work / "assign_resnet8.toml"
    config.write_text(ASSIGN.format(allowed=json.dumps(allowed), val=scale["search_val_images"],
                                    population=scale["population"],
                                    generations=scale["generations"], seed=SEED))
    out = work / "assign_resnet8"
    if not (out / "run.json").exists():
        create_run(config, out)
    run = RunDir(out)
    if run.meta["status"] != "finished":
        start = time.perf_counter()
        run_campaign(out, reporter=SilentReporter())
        log(f"assignment search: {time.perf_counter() - start:.0f} s")
    return RunDir(out).front()


def compare(front, sweep_rows: list[dict]) -> list[dict]:
    """Each assignment front member (test accuracy) against the most accurate uniform
    multiplier (no fine-tuning) whose power is at most the member's."""
    uniform = [r for r in sweep_rows if r["fine_tune_epochs"] == 0]
    out = []
    for member in front.members:
        m = member.record.metrics
        cheaper = [r for r in uniform if r["power_rel"] <= m["power_rel"] + 1e-12]
        best = max(cheaper, key=lambda r: r["test_accuracy"]) if cheaper else None
        out.append({"power_rel": m["power_rel"], "test_accuracy": member.test_accuracy,
                    "uniform": None if best is None else best["multiplier"],
                    "uniform_power_rel": None if best is None else best["power_rel"],
                    "uniform_test_accuracy": None if best is None else best["test_accuracy"]})
    return out


def write_outputs(name: str, table, sweep, comparison, scale_name: str, elapsed: float) -> None:
    from evoapproxnas.plots.byo import plot_sweep

    plots = ROOT / "plots"
    plot_sweep({f"ResNet-{d}": s["rows"] for d, s in sweep.items()},
               plots / f"{name}_sweep.png",
               title=f"Fashion-MNIST ResNets, one multiplier on all layers ({scale_name})")
    lines = [f"# ResNets on Fashion-MNIST with approximate multipliers ({scale_name} scale)", "",
             "| network | float32 test acc | 8-bit (exact multiplier) | cost of 8 bits (points) |",
             "|---|---:|---:|---:|"]
    for r in table:
        lines.append(f"| ResNet-{r['depth']} | {100 * r['float']:.2f} | {100 * r['int8']:.2f} "
                     f"| {100 * (r['float'] - r['int8']):.2f} |")
    lines += ["", "Sweep speed (inference through the tables, images/s): " + ", ".join(
        f"ResNet-{d} {s['images_per_s']:.0f}" for d, s in sweep.items()), "",
        "Assignment search on ResNet-8 (front, test accuracy) against the best uniform "
        "multiplier at equal or lower power:", "",
        "| power_rel | assignment acc | best uniform | its power_rel | its acc |",
        "|---:|---:|---|---:|---:|"]
    for c in comparison:
        acc = "-" if c["test_accuracy"] is None else f"{100 * c['test_accuracy']:.2f}"
        if c["uniform"] is None:
            lines.append(f"| {c['power_rel']:.4f} | {acc} | (none this cheap) | - | - |")
        else:
            lines.append(f"| {c['power_rel']:.4f} | {acc} | {c['uniform']} | "
                         f"{c['uniform_power_rel']:.4f} | "
                         f"{100 * c['uniform_test_accuracy']:.2f} |")
    lines += ["", f"Wall time of this invocation: {elapsed / 60:.1f} min."]
    (plots / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two-core scale (SCALES)")
    parser.add_argument("--work", default="runs/resnet_multipliers",
                        help="folder of the models and run directories (resumable)")
    args = parser.parse_args(argv)
    scale_name = "quick" if args.quick else "full"
    scale = SCALES[scale_name]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {message}", flush=True)

    from evoapproxnas.data import load_dataset

    data = load_dataset("fashion_mnist", None, val_fraction=0.1, seed=SEED)
    paths = train(work, data, scale, log)
    table = accuracy_table(work, data, paths, scale, log)
    sweep = sweeps(work, data, scale, log)
    front = assignment(work, scale, log)
    comparison = compare(front, sweep[8]["rows"])
    name = "resnet_multipliers" + ("_quick" if args.quick else "")
    write_outputs(name, table, sweep, comparison, scale_name, time.perf_counter() - started)
    log(f"wrote plots/{name}.md and plots/{name}_sweep.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
