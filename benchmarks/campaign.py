"""Campaign throughput and search quality on a small Fashion-MNIST setting.

Runs NSGA-II (pymoo) and random search at the same budget (population x generations
evaluations) for several seeds and prints, measured in this one run:
- evaluations per hour (trained candidates / wall time) and the cache hit rate (candidates
  asked for by the engine that were served from the cache instead of being trained);
- the final hypervolume of each run and the NSGA-II / random hypervolume ratio.

With ``--utilisation`` it instead runs one campaign per executor and mode (process /
generational, dask / generational, dask / asynchronous; default 4 workers, candidates of
uneven cost) and prints the worker utilisation, busy time / (workers x wall time of the
search; the span from the first candidate's start to the last one's end on the workers), and
the hypervolume each reached by the same wall time.

    python benchmarks/campaign.py                 # 3 seeds, population 6, 4 generations
    python benchmarks/campaign.py --seeds 1 2 3 4 --generations 6 --engines pymoo deap random
    python benchmarks/campaign.py --utilisation --workers 4
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


def one_run(out: Path, engine: str, seed: int, args) -> dict:
    overrides = [f"search.engine={engine}", f"search.seed={seed}",
                 f"search.population={args.population}",
                 f"search.generations={args.generations}", f"search.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}"]
    run = create_run(CONFIG, out / f"{engine}-{seed}", overrides)
    start = time.perf_counter()
    front = run_campaign(run.path, quiet=True, evaluate_test=False)
    wall = time.perf_counter() - start  # worker start-up included, test set excluded
    history = run.history()
    asked = sum(len(h.population) for h in history)
    trained = sum(h.new for h in history)
    return {"engine": engine, "seed": seed, "wall_s": wall, "asked": asked,
            "trained": trained, "hypervolume": history[-1].hypervolume,
            "front": len(front.members)}


MODES = (("process", "generational"), ("dask", "generational"), ("dask", "asynchronous"))


def utilisation_run(out: Path, executor: str, mode: str, args) -> dict:
    """One campaign; busy time and wall span from the workers' own clocks."""
    from evoapproxnas.search.study.results import hypervolume

    overrides = [f"search.executor={executor}", f"search.mode={mode}",
                 f"search.seed={args.seeds[0]}", f"search.population={args.population}",
                 f"search.generations={args.generations}", f"search.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}",
                 "cgp.choices.conv2d.filters=[8, 16, 48, 96]"]  # uneven candidate costs
    run = create_run(CONFIG, out / f"{executor}-{mode}", overrides)
    run_campaign(run.path, quiet=True, evaluate_test=False)
    records = run.records()
    spans = [(r.timings["start_unix"], r.timings["end_unix"]) for r in records
             if "start_unix" in r.timings]
    t0, t1 = min(a for a, _ in spans), max(b for _, b in spans)
    busy = sum(b - a for a, b in spans)
    cfg = run.config

    def hv_at(t: float) -> float:
        done = [r for r in records if r.timings.get("end_unix", float("inf")) <= t0 + t]
        return hypervolume(done, cfg.search.objectives, cfg.hv_reference())

    return {"executor": executor, "mode": mode, "trained": len(spans), "wall_s": t1 - t0,
            "utilisation": busy / (args.workers * (t1 - t0)), "hv_at": hv_at}


def utilisation(args) -> None:
    out = args.out or Path(tempfile.mkdtemp(prefix="evoapproxnas-bench-"))
    rows = [utilisation_run(out, executor, mode, args) for executor, mode in MODES]
    horizon = min(r["wall_s"] for r in rows)
    print(f"\nsetting: Fashion-MNIST, {args.train_samples} training images, population "
          f"{args.population} x {args.generations}, {args.workers} workers; runs in {out}")
    print(f"{'executor/mode':>22} {'trained':>7} {'wall_s':>7} {'utilisation':>11} "
          f"{'HV at ' + format(horizon, '.0f') + ' s':>12}")
    for r in rows:
        print(f"{r['executor'] + '/' + r['mode']:>22} {r['trained']:7d} {r['wall_s']:7.0f} "
              f"{r['utilisation']:11.1%} {r['hv_at'](horizon):12.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--engines", nargs="+", default=["pymoo", "random"])
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=1000)
    parser.add_argument("--val-samples", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--utilisation", action="store_true",
                        help="worker utilisation per executor and mode instead")
    args = parser.parse_args()
    if args.utilisation:
        utilisation(args)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="evoapproxnas-bench-"))
    rows = []
    for seed in args.seeds:
        for engine in args.engines:
            row = one_run(out, engine, seed, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nsetting: Fashion-MNIST, {args.train_samples} training / {args.val_samples} "
          f"validation images, population {args.population} x {args.generations} generations, "
          f"{args.workers} workers; runs in {out}")
    for engine in args.engines:
        mine = [r for r in rows if r["engine"] == engine]
        hours = sum(r["wall_s"] for r in mine) / 3600
        trained = sum(r["trained"] for r in mine)
        asked = sum(r["asked"] for r in mine)
        hvs = [r["hypervolume"] for r in mine]
        print(f"{engine:>7}: {trained / hours:7.1f} evaluations/hour, cache hit rate "
              f"{(asked - trained) / asked:6.1%}, hypervolume mean {statistics.mean(hvs):.4f} "
              f"(per seed: {', '.join(f'{h:.4f}' for h in hvs)})")
    if "random" in args.engines:
        base = statistics.mean(r["hypervolume"] for r in rows if r["engine"] == "random")
        for engine in args.engines:
            if engine != "random":
                hv = statistics.mean(r["hypervolume"] for r in rows if r["engine"] == engine)
                print(f"hypervolume ratio {engine} / random at equal budget: "
                      f"{hv / base if base else float('inf'):.3f}")


if __name__ == "__main__":
    main()
