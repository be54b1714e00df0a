"""The asynchronous (steady-state) campaign loop: no generation barrier.

As soon as a worker frees up, the engine (``SteadyStateEngine``) is told the finished
candidate and asked for a new one, so ``executor.workers`` candidates are always training
until the budget (``population x generations`` candidates asked) is spent. The archive is
appended in completion order, and that order is all the engine's state depends on: a resumed
run replays the archive (every archived candidate a cache hit, completions in archive order)
and continues from exactly where the killed run was, with no checkpoint needed.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.search.engines import make_engine
from evoapproxnas.search.evaluation import Evaluator
from evoapproxnas.search.reporting import ConsoleReporter, Reporter
from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.study.results import history_entry, vectors
from evoapproxnas.search.worker import train_task


def run_asynchronous(cfg, run, evaluator: Evaluator,
                     reporter: Reporter | None = None) -> list[dict]:
    """Run the steady-state search of ``run`` to its budget; returns its history entries.
    ``reporter``: where its lines and bar go (``None``: a ``ConsoleReporter``)."""
    reporter = ConsoleReporter() if reporter is None else reporter
    s = cfg.search
    space, pool = evaluator.problem.space, evaluator.pool
    engine = make_engine(s.engine, space, len(s.objectives), s.population, s.seed,
                         asynchronous=True)
    budget = s.population * s.generations
    archived = evaluator.archive.records()
    by_key = {r.hash: r for r in archived}
    replay = deque(archived)
    told: dict[str, EvaluationRecord] = {}  # finished, in the order the engine heard of them
    waiting: dict[str, list[np.ndarray]] = {}  # in flight: key -> the asks it answers
    asked_as: dict[str, tuple[np.ndarray, int]] = {}  # key -> (genome, ask number)
    pending: dict[str, EvaluationRecord] = {}  # submitted to the pool
    simulated: set[str] = set()  # in flight in the replayed past
    window: list[EvaluationRecord] = []
    history: list[dict] = []
    asked = 0
    start = time.perf_counter()
    if archived:
        reporter.log(f"resuming {run.path}: replaying {len(archived)} archived evaluations")

    def tell(x: np.ndarray, record: EvaluationRecord) -> None:
        F, cv = vectors([record], s.objectives)
        engine.tell_one(x, F[0], float(cv[0]))
        window.append(record)
        if len(window) == s.population:
            generation = len(history)
            entry = history_entry(cfg, generation, list(told.values()), list(window))
            history.append(entry)
            window.clear()
            run.write_history(history)
            reporter.log(f"gen {generation + 1}/{s.generations} (asynchronous): "
                         f"{entry.evaluations} evaluated, front {entry.front_size}, "
                         f"HV {entry.hypervolume:.4f} [{time.perf_counter() - start:.0f} s]")

    def finish(key: str, record: EvaluationRecord) -> None:
        told[key] = record
        for x in waiting.pop(key):
            tell(x, record)

    def settle(key: str, record: EvaluationRecord) -> None:
        """A new final record: archived (completion order), cached, told."""
        evaluator.archive.append(record)
        evaluator.cache[key] = record
        finish(key, record)

    def launch(key: str, record: EvaluationRecord) -> None:
        """Train a prepared candidate, or settle it if it needs no training."""
        if not record.pending:
            settle(key, record)
            return
        pending[key] = record
        pool.submit(train_task, evaluator.payload(record), key, evaluator.task_timeout_s)

    def ask() -> None:
        nonlocal asked
        x = engine.ask_one()
        space.take_rejected()  # re-drawn candidates: not archived here, the archive is the
        key, number = space.key(x), asked  # completion order the replay follows
        asked += 1
        if key in told:
            tell(x, told[key])
            return
        if key in waiting:
            waiting[key].append(x)
            return
        waiting[key] = [x]
        asked_as[key] = (x, number)
        record = evaluator.prepare(x, key, *divmod(number, s.population))
        old = by_key.get(key)
        if old is None:
            launch(key, record)
        elif record.pending:  # archived by the earlier run: it completes where the
            simulated.add(key)        # archive says
        else:
            finish(key, old)  # final when asked (infeasible, or not priceable)

    def fill() -> None:
        while len(waiting) < cfg.executor.workers and asked < budget:
            ask()

    bar = reporter.progress(budget, "asynchronous search")
    fill()
    while waiting:
        if replay:
            record = replay.popleft()
            if record.hash in told and record.hash not in simulated:
                continue  # was final when asked, replayed then
            if record.hash not in simulated:
                raise UserError(f"{run.path}: the archive does not replay (candidate "
                                f"{record.hash} was never asked); was it written by another "
                                "config or seed?")
            simulated.discard(record.hash)
            finish(record.hash, record)
        else:
            for key in sorted(simulated, key=lambda k: asked_as[k][1]):
                x, number = asked_as[key]  # in flight when the earlier run stopped: run now
                launch(key, evaluator.prepare(x, key, *divmod(number, s.population)))
            simulated.clear()
            if not pending:
                break
            key, result = pool.next_done()
            settle(key, evaluator.complete(pending.pop(key), result))
        if bar is not None:
            bar.n = len(told)
            bar.refresh()
        fill()
    if bar is not None:
        bar.close()
    if window:
        history.append(history_entry(cfg, len(history), list(told.values()), list(window)))
        run.write_history(history)
    return history

