"""Search quality at equal wall-clock time: pymoo NSGA-II, DEAP NSGA-II and random search.

Run: python benchmarks/search_quality.py [--seeds 1 2 3 4 5] [--wall-s 150]
Every variant runs the quickstart's search space (``experiments/quickstart.toml``) on a small
Fashion-MNIST setting for each seed and the same wall-clock budget (no generation starts
after ``--wall-s`` seconds, ``run_campaign(stop_after_s=...)``), one run after another on
this machine. Printed, measured in this one run: the final hypervolume (validation error,
relative multiplication power, parameters; the campaign's reference point) of every run,
per variant the mean and standard deviation over seeds, the ratio of its mean to random
search's, and on how many seeds it is ahead of random search. Variants: ``pymoo``, ``deap``,
``random`` and ``pymoo-full`` (pymoo without successive halving: every candidate at the full
budget), so the same table measures what multi-fidelity evaluation buys per CPU-hour.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from evoapproxnas.search.campaign import create_run, run_campaign

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "quickstart.toml"
VARIANTS = {"pymoo": ["search.engine=pymoo"], "deap": ["search.engine=deap"],
            "random": ["search.engine=random"],
            "pymoo-full": ["search.engine=pymoo", "search.rungs=[]"]}


def one_run(out: Path, variant: str, seed: int, args) -> dict:
    overrides = [*VARIANTS[variant], f"search.seed={seed}", "search.generations=1000",
                 f"search.population={args.population}", f"search.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}"]
    run = create_run(CONFIG, out / f"{variant}-{seed}", overrides)
    start = time.perf_counter()
    run_campaign(run.path, quiet=True, evaluate_test=False, stop_after_s=args.wall_s)
    wall = time.perf_counter() - start
    history = run.history()
    trained = sum(r.fidelity is not None for r in run.records())
    return {"variant": variant, "seed": seed, "wall_s": round(wall, 1),
            "generations": len(history), "trainings": trained,
            "hypervolume": history[-1]["hypervolume"] if history else 0.0,
            "front": history[-1]["front_size"] if history else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--variants", nargs="+", default=["pymoo", "deap", "random"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--wall-s", type=float, default=150.0)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=3000)
    parser.add_argument("--val-samples", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="evoapproxnas-quality-"))
    rows = []
    for seed in args.seeds:
        for variant in args.variants:
            rows.append(one_run(out, variant, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nsetting: quickstart space, Fashion-MNIST {args.train_samples} training / "
          f"{args.val_samples} validation images, population {args.population}, "
          f"{args.workers} workers, {args.wall_s:.0f} s per run; runs in {out}")
    hv = {(r["variant"], r["seed"]): r["hypervolume"] for r in rows}
    print(f"{'variant':>11} " + " ".join(f"{'seed ' + str(s):>8}" for s in args.seeds)
          + f" {'mean':>8} {'std':>7} {'vs random':>9} {'wins':>5}")
    base = {s: hv.get(("random", s)) for s in args.seeds}
    for variant in args.variants:
        values = [hv[(variant, s)] for s in args.seeds]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        line = (f"{variant:>11} " + " ".join(f"{v:8.4f}" for v in values)
                + f" {statistics.mean(values):8.4f} {std:7.4f}")
        if "random" in args.variants and variant != "random":
            mean_random = statistics.mean(base.values())
            wins = sum(hv[(variant, s)] > base[s] for s in args.seeds)
            line += f" {statistics.mean(values) / mean_random:9.3f} {wins:>3}/{len(args.seeds)}"
        print(line)


if __name__ == "__main__":
    main()
