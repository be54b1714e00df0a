"""Search quality at equal wall-clock time: pymoo NSGA-II, DEAP NSGA-II and random search.

Run: python benchmarks/search_quality.py [--config experiments/fmnist.toml] [--set KEY=VALUE]
[--seeds 1 2 3 4 5] [--wall-s 150] [--noise 12] [--out DIR]; ``--from-runs DIR`` prints the
tables of the runs an earlier ``--out DIR`` kept.
Every variant runs the search space of ``--config`` (by default the quickstart's,
``experiments/quickstart.toml``; ``experiments/fmnist.toml`` is the larger one, a 2 x 6 grid
with every unsigned multiplier) on a small Fashion-MNIST setting for each seed and the same wall-clock budget (no generation starts
after ``--wall-s`` seconds, ``run_campaign(stop_after_s=...)``), one run after another on
this machine. Variants: ``pymoo``, ``deap``, ``random`` and ``pymoo-full`` (pymoo without
successive halving: every candidate at the full budget), so the same table measures what
multi-fidelity evaluation buys per CPU-hour.

Printed, measured in this one run, three hypervolumes of every run's final front
(full-fidelity results), each with per-variant mean, standard deviation, ratio of its mean to
random search's and the seeds on which it is ahead of random search (then, the same way, the
best validation accuracy at the full budget and the median validation accuracy of the
candidates: how far selection moves the typical candidate away from a random one):

- ``campaign``: the campaign's own indicator (validation error, relative multiplication power,
  parameters; reference point ``search.hv_reference``, error 1.0);
- ``region``: the same three objectives normalized to the region the runs reached: per
  objective, 0 at the best value any run found and 1 at the worst value on the non-dominated
  set of all runs together, reference point 1.1 in every objective (the usual choice when
  algorithms are compared on one problem). The campaign's reference counts every network
  better than chance (error < 1) as a gain, so most of its volume is common to every run and
  its ratios sit near 1 whatever the search does;
- ``region 2-D``: the same normalization on error and power only (the front users plot);
- ``useful``: the campaign's indicator over every full-budget network at or above
  ``--useful-accuracy`` (0.5), whether or not the run had an accuracy floor
  (``search.min_accuracy``), which the other three respect: the yardstick for comparing runs
  with and without a floor. Last, the full-budget trainings spent on networks below it.

``--noise K`` then measures how well this setting's evaluation tells networks apart: K
networks of the first seed's random-search run are trained again from scratch with two other
seeds at the full budget; printed are the spread of their accuracies across networks, the
seed-to-seed noise of one evaluation, and the rank correlation between the two seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.results import (
    at_full_fidelity,
    feasible,
    first_per_hash,
    hypervolume_of,
    pareto_front,
    vectors,
)
from evoapproxnas.search.study.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "quickstart.toml"
VARIANTS = {"pymoo": ["search.engine=pymoo"], "deap": ["search.engine=deap"],
            "random": ["search.engine=random"],
            "pymoo-full": ["search.engine=pymoo", "fidelity.rungs=[]"]}
REGION_REFERENCE = 1.1
"""Reference point of the region hypervolumes, in objectives normalized to [0, 1]."""


def one_run(out: Path, variant: str, seed: int, args) -> tuple[dict, np.ndarray]:
    """Run one variant for one seed: its summary row and final front (``summarize``)."""
    overrides = [*VARIANTS[variant], f"search.seed={seed}", "search.generations=1000",
                 f"search.population={args.population}", f"executor.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}", *args.set]
    run = create_run(args.config, out / f"{variant}-{seed}", overrides)
    start = time.perf_counter()
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, stop_after_s=args.wall_s)
    return summarize(run, variant, seed, time.perf_counter() - start, args.useful_accuracy)


def summarize(run: RunDir, variant: str, seed: int, wall: float | None,
              useful_accuracy: float) -> tuple[dict, np.ndarray]:
    """The summary row of a finished run and the objective vectors (minimization form) of its
    final full-fidelity front.

    Trained candidates below ``search.min_accuracy`` are infeasible and off the front, but
    the median accuracy, the count of full-budget trainings below ``useful_accuracy`` and the
    ``useful`` hypervolume take every trained candidate, so that runs with and without a floor
    are measured with the same yardstick."""
    cfg = run.config
    objectives = cfg.search.objectives
    history = run.history()
    records = run.records()
    full = at_full_fidelity(records, cfg)
    front = pareto_front(full, objectives)
    errors = [r.objectives["error"] for r in feasible(full)]
    trained = [r for r in records if r.status == "ok" and r.fidelity is not None]
    first = [r.objectives["error"] for r in first_per_hash(trained)]  # each candidate's first result
    trained_full = first_per_hash([r for r in trained if r.fidelity >= cfg.training.epochs])
    useful = [r for r in trained_full if 1.0 - r.objectives["error"] >= useful_accuracy]
    row = {"variant": variant, "seed": seed,
           "wall_s": round(wall, 1) if wall is not None else None,
           "generations": len(history), "trainings": len(trained),
           "full_budget": len(trained_full),
           "full_budget_useless": len(trained_full) - len(useful),
           "best_val_accuracy": round(1.0 - min(errors), 4) if errors else None,
           "median_val_accuracy": round(1.0 - statistics.median(first), 4) if first else None,
           "hypervolume": history[-1].hypervolume if history else 0.0,
           "hypervolume_useful": hypervolume_of(useful, objectives, cfg.hv_reference()),
           "front": len(front), "run": str(run.path)}
    F = vectors(front, objectives)[0] if front else np.empty((0, len(objectives)))
    return row, F


def region_hypervolumes(fronts: dict, columns: list[int]) -> dict:
    """Hypervolume of every front on ``columns`` of the objectives, normalized to the region
    all fronts reached (module docstring)."""
    from pymoo.indicators.hv import HV
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    parts = [F[:, columns] for F in fronts.values() if len(F)]
    if not parts:
        return {key: 0.0 for key in fronts}
    union = np.vstack(parts)
    nd = union[NonDominatedSorting().do(union, only_non_dominated_front=True)]
    ideal, nadir = union.min(axis=0), nd.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    indicator = HV(ref_point=np.full(len(columns), REGION_REFERENCE))
    return {key: float(indicator((F[:, columns] - ideal) / span)) if len(F) else 0.0
            for key, F in fronts.items()}


def print_table(title: str, hv: dict, variants: list[str], seeds: list[int],
                compare: bool = True, digits: int = 4) -> None:
    """One row per variant: the value per seed, mean, spread and (with ``compare``) the
    ratio to random search's mean and the seeds on which the value is higher."""
    print(f"\n{title}")
    print(f"{'variant':>11} " + " ".join(f"{'seed ' + str(s):>8}" for s in seeds)
          + f" {'mean':>8} {'std':>7} {'vs random':>9} {'wins':>5}")
    base = {s: hv.get(("random", s)) for s in seeds}
    for variant in variants:
        values = [hv[(variant, s)] for s in seeds]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        line = (f"{variant:>11} " + " ".join(f"{v:8.{digits}f}" for v in values)
                + f" {statistics.mean(values):8.{max(digits, 1)}f} {std:7.{max(digits, 1)}f}")
        if compare and "random" in variants and variant != "random":
            mean_random = statistics.mean(base.values())
            wins = sum(hv[(variant, s)] > base[s] for s in seeds)
            ratio = statistics.mean(values) / mean_random if mean_random else float("nan")
            line += f" {ratio:9.3f} {wins:>3}/{len(seeds)}"
        print(line)


def evaluation_noise(run_path: str, networks: int, workers: int) -> None:
    """Train ``networks`` distinct networks of a run again with two new seeds (module
    docstring) and print signal, noise and rank correlation."""
    from scipy.stats import kendalltau

    from evoapproxnas.search.tasks import TrainTask
    from evoapproxnas.search.worker import init_worker, train_task

    run = RunDir(run_path)
    chosen, seen = [], set()
    for record in run.records():
        if record.status == "ok" and record.hash not in seen and len(chosen) < networks:
            seen.add(record.hash)
            chosen.append(record)
    state = init_worker(run_path, max(1, 2 // workers))
    accuracy = np.zeros((len(chosen), 2))
    start = time.perf_counter()
    for i, record in enumerate(chosen):
        for j, seed in enumerate((101, 202)):
            task = TrainTask(genome=record.genome, hash=f"noise{j}-{record.hash}", seed=seed,
                             epochs=run.config.training.epochs)
            result = train_task(state, task)
            accuracy[i, j] = result.val_accuracy if result.status == "ok" else np.nan
    ok = ~np.isnan(accuracy).any(axis=1)
    a = accuracy[ok]
    noise = float(np.std(a[:, 0] - a[:, 1], ddof=1) / np.sqrt(2.0))
    signal = float(np.std(a.mean(axis=1), ddof=1))
    tau = kendalltau(a[:, 0], a[:, 1]).statistic
    print(f"\nevaluation noise: {len(a)} networks of {run_path}, trained twice from scratch "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"  validation accuracy across networks: mean {a.mean():.4f}, spread (std) "
          f"{signal:.4f}, range {a.mean(axis=1).min():.4f}..{a.mean(axis=1).max():.4f}")
    print(f"  one evaluation's seed noise (std): {noise:.4f}; Kendall tau between the two "
          f"seeds' rankings: {tau:.2f}")
    top = np.sort(a.mean(axis=1))[-3:]
    print(f"  three best networks (mean of both seeds): {', '.join(f'{v:.4f}' for v in top)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--variants", nargs="+", default=["pymoo", "deap", "random"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--config", type=Path, default=CONFIG,
                        help="the experiment whose search space is compared")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run (repeatable)")
    parser.add_argument("--wall-s", type=float, default=150.0)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=3000)
    parser.add_argument("--val-samples", type=int, default=1000)
    parser.add_argument("--noise", type=int, default=0, metavar="K",
                        help="networks to train twice more to measure evaluation noise")
    parser.add_argument("--useful-accuracy", type=float, default=0.5, metavar="A",
                        help="validation accuracy from which a network counts as useful in the "
                             "'useful' hypervolume (default 0.5)")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--from-runs", type=Path, default=None, metavar="DIR",
                        help="print the tables of the runs an earlier --out DIR kept "
                             "(directories VARIANT-SEED), running nothing")
    args = parser.parse_args()
    if not 0.0 <= args.useful_accuracy <= 1.0:
        parser.error(f"--useful-accuracy is a validation accuracy in 0..1, got "
                     f"{args.useful_accuracy}")
    if args.noise and args.noise < 3:
        parser.error(f"--noise needs at least 3 networks (or 0 for none), got {args.noise}")
    out = args.from_runs or args.out or Path(tempfile.mkdtemp(prefix="evoapproxnas-quality-"))
    rows, fronts = [], {}
    for seed in args.seeds:
        for variant in args.variants:
            if args.from_runs:
                path = args.from_runs / f"{variant}-{seed}"
                if not (path / "config.json").is_file():
                    raise SystemExit(f"search_quality: {path} is not a run directory; give "
                                     "the --out folder of an earlier run and its --seeds/--variants")
                row, fronts[(variant, seed)] = summarize(RunDir(path), variant, seed, None,
                                                         args.useful_accuracy)
            else:
                row, fronts[(variant, seed)] = one_run(out, variant, seed, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    cfg = RunDir(rows[0]["run"]).config
    space = "" if args.from_runs else f"the space of {args.config.name}, "
    print(f"\nsetting: {space}Fashion-MNIST {cfg.training.train_samples} training / {cfg.training.val_samples} "
          f"validation images, population {cfg.search.population}, {cfg.executor.workers} "
          f"workers, accuracy floor {cfg.search.min_accuracy}; runs in {out}")
    keys = [(r["variant"], r["seed"]) for r in rows]
    objectives = cfg.search.objectives
    print_table("hypervolume, campaign reference (error 1.0, power 1.0, params):",
                {key: r["hypervolume"] for key, r in zip(keys, rows)}, args.variants, args.seeds)
    print_table(f"hypervolume, region reached (normalized, reference {REGION_REFERENCE}):",
                region_hypervolumes(fronts, list(range(len(objectives)))), args.variants,
                args.seeds)
    print_table("hypervolume, region reached, error and power only:",
                region_hypervolumes(fronts, [objectives.index("error"),
                                                 objectives.index("power_rel")]), args.variants, args.seeds)
    print_table(f"hypervolume, campaign reference, every full-budget network at >= "
                f"{args.useful_accuracy} validation accuracy (with or without a floor):",
                {key: r["hypervolume_useful"] for key, r in zip(keys, rows)}, args.variants,
                args.seeds)
    print_table("best validation accuracy at the full budget:",
                {key: r["best_val_accuracy"] or 0.0 for key, r in zip(keys, rows)},
                args.variants, args.seeds)
    print_table("median validation accuracy of the candidates (each one's first result):",
                {key: r["median_val_accuracy"] or 0.0 for key, r in zip(keys, rows)},
                args.variants, args.seeds)
    print_table(f"full-budget trainings of networks below {args.useful_accuracy} accuracy:",
                {key: float(r["full_budget_useless"]) for key, r in zip(keys, rows)},
                args.variants, args.seeds, compare=False, digits=0)
    if args.noise:
        first = next((r for r in rows if r["variant"] == "random"), rows[0])
        evaluation_noise(first["run"], args.noise, args.workers)


if __name__ == "__main__":
    main()
