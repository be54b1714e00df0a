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

With ``--executor-ratio`` it trains the same few fixed candidates in a process pool and on a
local Dask cluster, both started once and warmed, in alternating rounds (process, dask,
process, dask ...), and prints per round and as the median over rounds the Dask / process
ratio of a candidate's worker CPU time (user + system of the worker processes, robust to
other load on the machine) and of its wall time, with the load average at each round.

    python benchmarks/campaign.py --executor-ratio --rounds 4 --candidates 4 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.reporting import SilentReporter

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "quickstart.toml"


def one_run(out: Path, engine: str, seed: int, args) -> dict:
    overrides = [f"search.engine={engine}", f"search.seed={seed}",
                 f"search.population={args.population}",
                 f"search.generations={args.generations}", f"executor.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}"]
    run = create_run(CONFIG, out / f"{engine}-{seed}", overrides)
    start = time.perf_counter()
    front = run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False)
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

    overrides = [f"executor.kind={executor}", f"search.mode={mode}",
                 f"search.seed={args.seeds[0]}", f"search.population={args.population}",
                 f"search.generations={args.generations}", f"executor.workers={args.workers}",
                 f"training.train_samples={args.train_samples}",
                 f"training.val_samples={args.val_samples}",
                 "cgp.choices.conv2d.filters=[8, 16, 48, 96]"]  # uneven candidate costs
    run = create_run(CONFIG, out / f"{executor}-{mode}", overrides)
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False)
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


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _cpu_seconds(pids) -> float:
    """User + system CPU seconds of the processes ``pids`` (Linux ``/proc``)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def executor_ratio(args) -> None:
    """Per-candidate cost on a Dask worker against a process-pool worker, in one run."""
    import multiprocessing as mp

    import numpy as np

    from evoapproxnas.search.campaign import make_pool
    from evoapproxnas.search.tasks import TrainTask
    from evoapproxnas.search.worker import train_task

    out = args.out or Path(tempfile.mkdtemp(prefix="evoapproxnas-bench-"))
    common = [f"executor.workers={args.workers}", f"training.train_samples={args.train_samples}",
              f"training.val_samples={args.val_samples}"]
    runs = {executor: create_run(CONFIG, out / f"ratio-{executor}",
                                 [*common, f"executor.kind={executor}"])
            for executor in ("process", "dask")}
    problem = runs["process"].problem
    rng = np.random.default_rng(args.seeds[0])
    tasks = []
    while len(tasks) < args.candidates:  # fixed candidates that the campaign would train
        genome = problem.space.sample(rng)
        if problem.meets_cheap_constraints(genome):
            tasks.append(TrainTask(genome=[int(g) for g in genome],
                                   hash=problem.space.key(genome), seed=len(tasks), epochs=1))
    environ = dict(os.environ)
    pools = {"process": make_pool(runs["process"].config, runs["process"])}
    pids = {"process": {p.pid for p in mp.active_children()}}
    pools["dask"] = make_pool(runs["dask"].config, runs["dask"])
    pids["dask"] = set(pools["dask"].client.run(os.getpid).values())
    # Dask's nanny writes its pre-spawn environment (OMP_NUM_THREADS=1, ...) into this
    # process's os.environ; undone, so that it cannot reach a process pool started later
    os.environ.clear()
    os.environ.update(environ)
    try:
        for pool in pools.values():  # warm: worker start-up, the first models built
            pool.map(train_task, tasks)
        ratios = []
        print(f"{'round':>5} {'executor':>8} {'wall/cand':>9} {'cpu/cand':>8} "
              f"{'idle pool cpu':>13}  loadavg")
        for round_ in range(args.rounds):
            row = {}
            for name, pool in pools.items():
                other = pids["dask" if name == "process" else "process"]
                load, cpu0, idle0 = _loadavg(), _cpu_seconds(pids[name]), _cpu_seconds(other)
                outcomes = pool.map(train_task, tasks)
                cpu = (_cpu_seconds(pids[name]) - cpu0) / len(tasks)
                idle = _cpu_seconds(other) - idle0
                wall = statistics.mean(o.ended_at - o.started_at for o in outcomes)
                row[name] = (wall, cpu)
                print(f"{round_:5d} {name:>8} {wall:8.2f}s {cpu:7.2f}s {idle:12.2f}s  {load}",
                      flush=True)
            ratios.append((row["dask"][0] / row["process"][0], row["dask"][1] / row["process"][1]))
    finally:
        for pool in pools.values():
            pool.close()
    print(f"\nsetting: Fashion-MNIST, {args.train_samples} training images, {len(tasks)} "
          f"candidates x {args.rounds} rounds, 1 epoch, {args.workers} workers; loadavg now "
          f"{_loadavg()}; runs in {out}")
    for i, label in enumerate(("wall", "CPU")):
        values = [r[i] for r in ratios]
        print(f"dask / process per candidate, {label:>4}: median {statistics.median(values):.3f} "
              f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")


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
    parser.add_argument("--executor-ratio", action="store_true",
                        help="per-candidate Dask / process cost instead (alternating rounds)")
    parser.add_argument("--rounds", type=int, default=4, help="with --executor-ratio")
    parser.add_argument("--candidates", type=int, default=4, help="with --executor-ratio")
    args = parser.parse_args()
    if args.executor_ratio:
        executor_ratio(args)
        return
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
