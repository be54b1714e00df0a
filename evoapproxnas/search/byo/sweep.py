"""The sweep: every multiplier of a library on all multiplying layers of a trained model, with
and without approximation-aware fine-tuning, into a run directory.

The run directory is an assignment run (``space.kind = "assignment"``, the model's copy in
``network.keras``): each variant is an ``EvaluationRecord`` whose genome gives every layer
the same multiplier gene (the fine-tuned variant's hash ends in ``-ft<N>``, its weights are in
``models/``), so ``report``, ``plot``, ``export`` and ``report --html`` read it as they read a
campaign. A sweep that stops part way continues where it stopped when run again with the
same arguments (each variant is archived as it is measured).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError

MIN_POPULATION = 2


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep measures (the ``sweep`` command's options)."""

    multipliers: tuple = ()
    """Multiplier names (empty: the whole library)."""
    fine_tune_epochs: int = 0
    """Epochs of approximation-aware fine-tuning of a second variant of each (0: none)."""
    fine_tune_images: int = 6000
    """Training images per fine-tuning epoch."""
    val_images: int = 2000
    """Validation images of each variant's ``val_accuracy``."""
    test_images: int = 10000
    """Test images of each variant's test accuracy (0: none)."""
    exact_head: bool = False
    """The last multiplying layer keeps the exact multiplier."""
    seed: int = 1
    """Seed of the validation split and of the fine-tuning order."""

    def check(self) -> None:
        """``UserError`` for a value out of range (one line naming the option)."""
        for name, low in (("fine_tune_epochs", 0), ("fine_tune_images", 1),
                          ("val_images", 1), ("test_images", 0), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                flag = "--" + name.replace("_", "-")
                raise UserError(f"{flag} must be an integer >= {low}, got {value!r}")


@dataclass
class SweepResult:
    """The run directory of a sweep and its rows (one per variant, in order)."""

    path: Path
    rows: list[dict] = field(default_factory=list)
    images_per_s: float = 0.0
    """Images per second through the tables (inference of the sweep's measurements)."""

    def table(self) -> str:
        """A Markdown table: multiplier, relative power, accuracies per variant."""
        lines = ["| multiplier | power_rel | fine-tune epochs | val acc | test acc |",
                 "|---|---:|---:|---:|---:|"]
        for r in self.rows:
            test = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
            lines.append(f"| {r['multiplier']} | {r['power_rel']:.4f} | {r['fine_tune_epochs']} "
                         f"| {r['val_accuracy']:.4f} | {test} |")
        return "\n".join(lines)


def sweep_config(model_path: Path, library: str, names: list[str], data: tuple[str, str],
                 settings: SweepSettings, source: str):
    """The run's ``CampaignConfig``: an assignment space over the swept multipliers,
    objectives error and relative power."""
    from evoapproxnas.config import config_from_dict

    epochs = settings.fine_tune_epochs
    raw = {
        "data": {"name": data[0], "dir": data[1]},
        "multipliers": {"library": library, "allowed": list(names)},
        "search": {"objectives": ["error", "power_rel"], "seed": settings.seed,
                   "population": max(MIN_POPULATION, len(names)),
                   "generations": 2 if epochs else 1},
        "training": {"epochs": max(1, epochs), "table_epochs": epochs,
                     "train_samples": settings.fine_tune_images,
                     "val_samples": settings.val_images},
        "space": {"kind": "assignment", "model": str(model_path), "fine_tune": epochs > 0,
                  "exact_head": settings.exact_head},
    }
    return config_from_dict(raw, source)


def run_sweep(model, dataset, out, settings: SweepSettings, *, library: str,
              data: tuple[str, str], source: str, progress: bool = True) -> SweepResult:
    """Sweep ``settings.multipliers`` of ``library`` over ``model`` (converted, calibrated)
    on ``dataset`` into the run directory ``out`` (created, or continued when it holds the
    same sweep)."""
    from evoapproxnas.approx.convert import save_model
    from evoapproxnas.multipliers import load_library
    from evoapproxnas.paths import check_path
    from evoapproxnas.search.study.rundir import RunDir

    settings.check()
    lib = load_library(library)
    names = list(settings.multipliers) or list(lib.names)
    for name in names:
        _ = lib[name]  # unknown: UserError naming the closest
    if len(set(names)) != len(names):
        raise UserError("--multipliers names a multiplier twice")
    out = check_path(out, "--out")
    with tempfile.TemporaryDirectory() as tmp:
        copy = save_model(model, Path(tmp) / "network.keras")
        cfg = sweep_config(copy, library, names, data, settings, source)
        if (out / "run.json").exists():
            run = RunDir(out)
            if _comparable(run.config.to_dict()) != _comparable(cfg.to_dict()):
                raise UserError(f"{out} holds another run (other model or settings); choose "
                                "another --out")
        else:
            run = RunDir.create(out, cfg, dataset.input_shape, dataset.n_classes, source)
    with run.writer():
        return _sweep_locked(run, dataset, names, settings, progress)


def _comparable(raw: dict) -> dict:
    raw = {**raw, "space": {**raw["space"], "model": ""}}
    return raw


def _sweep_locked(run, dataset, names, settings: SweepSettings, progress: bool) -> SweepResult:
    from evoapproxnas.search.byo.network import candidate_model, save_weights
    from evoapproxnas.search.problem import training_seed
    from evoapproxnas.search.reporting import ConsoleReporter
    from evoapproxnas.search.study.records import EvaluationRecord, FrontMember
    from evoapproxnas.search.study.results import history_entry, pareto_front
    from evoapproxnas.search.study.rundir import RunFront

    cfg, problem = run.config, run.problem
    space = problem.space
    archive = run.archive
    done = {r.hash: r for r in archive.records()}
    epochs_options = [0] + ([settings.fine_tune_epochs] if settings.fine_tune_epochs else [])
    total = len(names) * len(epochs_options)
    bar = ConsoleReporter().progress(total, "sweep", unit="variant") if progress else None
    xv, yv = dataset.x_val[: settings.val_images], dataset.y_val[: settings.val_images]
    xt, yt = dataset.x_test[: settings.test_images], dataset.y_test[: settings.test_images]
    x_ft = dataset.x_train[: settings.fine_tune_images]
    y_ft = dataset.y_train[: settings.fine_tune_images]
    infer_images, infer_s = 0, 0.0
    tests: dict[str, float | None] = {}
    records = []
    for generation, epochs in enumerate(epochs_options):
        for index, _name in enumerate(names):
            genome = space.priced_with(np.zeros(space.n_var, np.int64), index)
            key = space.key(genome) + (f"-ft{epochs}" if epochs else "")
            if key in done:
                records.append(done[key])
                tests[key] = done[key].metrics.get("test_accuracy")
                if bar is not None:
                    bar.update(1)
                continue
            seed = training_seed(cfg.search.seed, key)
            start = time.perf_counter()
            model = candidate_model(problem, genome)
            if epochs:
                from evoapproxnas.nn.fixed import fine_tune

                fine_tune(model, x_ft, y_ft, epochs, seed, cfg.training.batch_size,
                          cfg.training.learning_rate)
                save_weights(model, run.weights_path(key))
            trained = time.perf_counter()
            val, test, seconds = _measure(model, xv, yv, xt, yt)
            infer_images += len(xv) + len(xt)
            infer_s += seconds
            metrics = {**problem.price(genome), "val_accuracy": val, "test_accuracy": test,
                       "fine_tune_epochs": epochs}
            record = EvaluationRecord(
                hash=key, generation=generation, index=index, genome=[int(g) for g in genome],
                status="ok", reason=None, violation=0.0, metrics=metrics, seed=seed,
                timings={"train_s": trained - start, "eval_s": seconds},
                objectives={"error": 1.0 - val, "power_rel": metrics["power_rel"]})
            archive.append(record)
            records.append(record)
            tests[key] = test
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    members = [FrontMember(r, test_accuracy=tests.get(r.hash))
               for r in pareto_front(records, cfg.search.objectives)]
    history = [history_entry(cfg, 0, records, records)]
    run.write_history(history)
    run.write_front(RunFront(list(cfg.search.objectives), members, len(records), 0, history))
    run.mark_finished()
    rows = [{"multiplier": names[r.index], "power_rel": r.metrics["power_rel"],
             "fine_tune_epochs": r.metrics["fine_tune_epochs"],
             "val_accuracy": r.metrics["val_accuracy"], "test_accuracy": tests.get(r.hash)}
            for r in records]
    result = SweepResult(run.path, rows, infer_images / infer_s if infer_s else 0.0)
    _write_outputs(run, result)
    return result


def _measure(model, xv, yv, xt, yt) -> tuple[float, float | None, float]:
    from evoapproxnas.nn.fixed import accuracy

    start = time.perf_counter()
    val = accuracy(model, xv, np.asarray(yv))
    test = accuracy(model, xt, np.asarray(yt)) if len(xt) else None
    return val, test, time.perf_counter() - start


def _write_outputs(run, result: SweepResult) -> None:
    """``sweep.md`` (the table) and ``sweep.json`` (the rows) in the run directory."""
    from evoapproxnas.atomic import write_bytes, write_json

    write_bytes(run.path / "sweep.md", (result.table() + "\n").encode())
    write_json(run.path / "sweep.json", {"rows": result.rows,
                                         "images_per_s": result.images_per_s})
