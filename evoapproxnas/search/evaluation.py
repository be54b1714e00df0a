"""The evaluation pipeline: cache -> decode -> cheap metrics -> constraints -> training.

Infeasible candidates are recorded without training. Training runs in the worker pool, each
candidate isolated. New records are appended to the archive in population order (never in
completion order), so the archive does not depend on worker timing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from evoapproxnas.search.executor import TaskFailure
from evoapproxnas.search.problem import training_seed
from evoapproxnas.search.worker import train_task


class Evaluator:
    def __init__(self, problem, run_dir, archive, cache: dict, pool) -> None:
        self.problem, self.run_dir, self.archive = problem, Path(run_dir), archive
        self.cache, self.pool = cache, pool
        self.cfg = problem.cfg

    def _should_crash(self, key: str) -> bool:
        debug = self.cfg.debug
        return key in debug.fail_hashes or int(key[:8], 16) / 2**32 < debug.fail_fraction

    def evaluate(self, genomes, generation: int, progress=None) -> list[dict]:
        """Records for ``genomes`` (cached ones reused); new ones are archived in order."""
        keys = [self.problem.space.key(g) for g in genomes]
        records: list[dict | None] = [None] * len(genomes)
        fresh: dict[str, int] = {}  # key -> first index evaluated in this batch
        jobs = []
        for i, (genome, key) in enumerate(zip(genomes, keys)):
            if key in self.cache or key in fresh:
                continue
            fresh[key] = i
            start = time.perf_counter()
            graph = self.problem.decode(genome)
            metrics = self.problem.cheap_metrics(graph)
            violation = self.problem.violation(metrics)
            record = {
                "hash": key, "generation": generation, "index": i,
                "genome": [int(v) for v in genome], "status": "infeasible",
                "reason": None, "violation": violation, "metrics": metrics,
                "seed": training_seed(self.cfg.search.seed, key),
                "timings": {"cheap_s": time.perf_counter() - start},
            }
            if violation > 0:
                record["reason"] = "violates " + ", ".join(
                    str(c) for c in self.cfg.parsed_constraints
                    if c.violation(metrics[c.metric]) > 0)
                records[i] = _finish(record, self.cfg.search.objectives)
            else:
                jobs.append((i, record))
        written = 0
        order = sorted(fresh.values())

        def flush() -> None:
            nonlocal written
            while written < len(order) and records[order[written]] is not None:
                self.archive.append(records[order[written]])
                written += 1

        def done(job_index: int, result) -> None:
            i, record = jobs[job_index]
            if isinstance(result, TaskFailure):
                record["status"], record["reason"] = "failed", result.reason
            else:
                record["status"], record["reason"] = result["status"], result["reason"]
                record["metrics"]["val_accuracy"] = result["val_accuracy"]
                record["metrics"]["val_accuracy_exact"] = result["val_accuracy_exact"]
                record["timings"].update(train_s=result["train_seconds"],
                                         eval_s=result["eval_seconds"])
            records[i] = _finish(record, self.cfg.search.objectives)
            flush()
            if progress is not None:
                progress.update(1)

        flush()
        if progress is not None:
            progress.update(len(genomes) - len(jobs))
        payloads = [{"genome": r["genome"], "hash": r["hash"], "seed": r["seed"],
                     "crash": self._should_crash(r["hash"])} for _, r in jobs]
        if payloads:
            self.pool.map(train_task, payloads, timeout_s=self.cfg.search.time_limit_s + 120,
                          on_result=done)
        flush()
        for key, i in fresh.items():
            self.cache[key] = records[i]
        return [self.cache[key] for key in keys]


def _finish(record: dict, objectives) -> dict:
    metrics = record["metrics"]
    acc = metrics.get("val_accuracy")
    values = dict(metrics)
    values["error"] = (1.0 - acc) if record["status"] == "ok" and acc is not None else None
    record["objectives"] = {name: values.get(name) for name in objectives}
    return record


def vectors(records, objectives) -> tuple[np.ndarray, np.ndarray]:
    from evoapproxnas.search.problem import objective_vector, record_cv

    F = np.array([objective_vector(r, objectives) for r in records], dtype=float)
    cv = np.array([record_cv(r) for r in records], dtype=float)
    return F, cv
