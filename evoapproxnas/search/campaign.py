"""Campaign orchestration: create or resume a run directory and run the generation loop.

Run directory::

    run.json          marker + status ("running" / "finished")
    config.json       the resolved config (overrides applied)
    archive.jsonl     every new evaluation, append-only, fsynced per record
    checkpoint.pkl    engine (RNG included) + generation + history, after every generation
    models/           trained weights per candidate hash (<hash>.weights.npz)
    front.json        the final Pareto front, re-evaluated on the test set
    plots/            figures written at the end of the run

A resumed run reloads the checkpoint, rebuilds the cache from the archive and repeats the
interrupted generation; its already-archived candidates come from the cache, so the archive
and the front equal those of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from evoapproxnas.atomic import new_directory, write_json
from evoapproxnas.config import CampaignConfig, config_from_dict, load_config, read_raw
from evoapproxnas.errors import UserError
from evoapproxnas.search.archive import Archive
from evoapproxnas.search.checkpoint import load_checkpoint, save_checkpoint
from evoapproxnas.search.engines import make_engine
from evoapproxnas.search.evaluation import Evaluator, vectors
from evoapproxnas.search.executor import TaskFailure, WorkerPool
from evoapproxnas.search.problem import CampaignProblem, load_data
from evoapproxnas.search.results import hypervolume, pareto_front

RUN_FORMAT = "evoapproxnas-run-1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def create_run(config_path, out, overrides=(), overwrite: bool = False) -> Path:
    """Validate everything, then create ``out`` holding the resolved config."""
    cfg = load_config(config_path, list(overrides))
    dataset = load_data(cfg)
    CampaignProblem.build(cfg, dataset)  # unknown multipliers, bad CGP spec -> UserError
    out = Path(out)
    if out.exists() and not overwrite:
        raise UserError(f"output directory {out} already exists; choose another --out or pass "
                        "--overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file, not a directory; choose another --out")
    old = None
    try:
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        with new_directory(out) as tmp:
            (tmp / "models").mkdir()
            write_json(tmp / "config.json", cfg.to_dict())
            write_json(tmp / "shape.json", {"input_shape": list(dataset.input_shape),
                                            "n_classes": int(dataset.n_classes)})
            write_json(tmp / "run.json", {"format": RUN_FORMAT, "status": "running",
                                          "source": str(config_path),
                                          "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    except OSError as exc:
        if old is not None and not out.exists():
            os.replace(old, out)
        raise UserError(f"cannot create output directory {out}: {exc.strerror or exc}; "
                        "choose a writable --out") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def open_run(run_dir) -> CampaignConfig:
    """The config of an existing run directory (``UserError`` if it is not one)."""
    run_dir = Path(run_dir)
    marker = run_dir / "run.json"
    if not run_dir.is_dir() or not marker.is_file() or not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run directory (no run.json/config.json); give the "
                        "--out folder of 'evoapproxnas run'")
    meta = read_raw(marker)
    if meta.get("format") != RUN_FORMAT:
        raise UserError(f"{marker}: unknown run format {meta.get('format')!r}")
    return config_from_dict(read_raw(run_dir / "config.json"), str(run_dir / "config.json"))


def run_campaign(run_dir, *, quiet: bool = False, evaluate_test: bool = True) -> dict:
    """Run (or continue) the campaign of ``run_dir`` to its end; returns the summary.

    ``evaluate_test=False`` skips the final test-set evaluation of the front (benchmarks).
    """
    run_dir = Path(run_dir)
    cfg = open_run(run_dir)
    s = cfg.search
    dataset = load_data(cfg)
    problem = CampaignProblem.build(cfg, dataset)
    del dataset
    archive = Archive(run_dir / "archive.jsonl")
    cache = {r["hash"]: r for r in archive.records()}
    state = load_checkpoint(run_dir)
    if state is None:
        engine = make_engine(s.engine, problem.space, len(s.objectives), s.population, s.seed)
        state = {"engine": engine, "generation": 0, "history": []}
    elif cache:
        log(f"resuming {run_dir} at generation {state['generation']} "
            f"({len(cache)} archived evaluations)")
    threads = max(1, (os.cpu_count() or 1) // s.workers)
    pool = WorkerPool(s.workers, _init, (cfg.to_dict(), str(run_dir), threads))
    try:
        evaluator = Evaluator(problem, run_dir, archive, cache, pool)
        while state["generation"] < s.generations:
            _generation(cfg, state, evaluator, cache, run_dir, quiet)
        summary = _finalize(cfg, problem, run_dir, cache, pool, quiet, evaluate_test)
    finally:
        pool.close()
    return summary


def _init(config_dict, run_dir, threads):
    from evoapproxnas.search.worker import init_worker

    return init_worker(config_dict, run_dir, threads)


def _generation(cfg, state, evaluator, cache, run_dir, quiet) -> None:
    s, gen = cfg.search, state["generation"]
    engine = state["engine"]
    start = time.perf_counter()
    before = len(cache)
    genomes = engine.ask()
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(genomes), desc=f"generation {gen + 1}/{s.generations}",
                   unit="cand", leave=False, file=sys.stderr, disable=None)
    try:
        records = evaluator.evaluate(genomes, gen, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    F, cv = vectors(records, s.objectives)
    engine.tell(F, cv)
    all_records = list(cache.values())
    entry = {
        "generation": gen,
        "evaluations": len(all_records),
        "new": len(cache) - before,
        "failed": sum(r["status"] == "failed" for r in records),
        "infeasible": sum(r["status"] == "infeasible" for r in records),
        "front_size": len(pareto_front(all_records, s.objectives)),
        "hypervolume": hypervolume(all_records, s.objectives, cfg.hv_reference()),
        "population": [r["hash"] for r in records],
    }
    state["history"].append(entry)
    state["generation"] = gen + 1
    save_checkpoint(run_dir, state)
    if not quiet:
        log(f"gen {gen + 1}/{s.generations}: {entry['evaluations']} evaluated "
            f"({entry['new']} new), {entry['failed']} failed, {entry['infeasible']} infeasible, "
            f"front {entry['front_size']}, HV {entry['hypervolume']:.4f} "
            f"[{time.perf_counter() - start:.0f} s]")


def _finalize(cfg, problem, run_dir, cache, pool, quiet: bool = True,
              evaluate_test: bool = True) -> dict:
    from evoapproxnas.search.worker import test_task

    records = list(cache.values())
    front = pareto_front(records, cfg.search.objectives)
    bar = None
    if not quiet and evaluate_test:
        from tqdm import tqdm

        log(f"re-evaluating the {len(front)} front members on the held-out test set")
        bar = tqdm(total=len(front), desc="test set", unit="net", leave=False, file=sys.stderr,
                   disable=None)
    results = [None] * len(front)
    if evaluate_test:
        results = pool.map(test_task, [{"genome": r["genome"], "hash": r["hash"]}
                                       for r in front],
                           timeout_s=cfg.search.time_limit_s + 120,
                           on_result=(lambda i, r: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    members = []
    for r, res in zip(front, results):
        member = front_member(r)
        if res is None:
            member["test_reason"] = "not evaluated (evaluate_test=False)"
        elif isinstance(res, TaskFailure):
            member["test_reason"] = res.reason
        else:
            member["test_accuracy"] = res["test_accuracy"]
            member["val_accuracy_reloaded"] = res["val_accuracy"]
        members.append(member)
    state = load_checkpoint(run_dir) or {"history": []}
    summary = {"objectives": list(cfg.search.objectives), "front": members,
               "evaluations": len(records),
               "failed": sum(r["status"] == "failed" for r in records),
               "history": [{k: v for k, v in h.items() if k != "population"}
                           for h in state["history"]]}
    write_json(Path(run_dir) / "front.json", summary)
    meta = read_raw(Path(run_dir) / "run.json")
    write_json(Path(run_dir) / "run.json", {**meta, "status": "finished"})
    return summary


def front_member(record: dict) -> dict:
    m = record["metrics"]
    return {"hash": record["hash"], "genome": record["genome"],
            "objectives": record["objectives"], "val_accuracy": m.get("val_accuracy"),
            "val_accuracy_exact": m.get("val_accuracy_exact"), "test_accuracy": None,
            "power_mw": m["power_mw"], "power_rel": m["power_rel"], "params": m["params"],
            "multipliers": m["multipliers"]}
