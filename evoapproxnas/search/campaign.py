"""Campaign orchestration: create or resume a run directory and run the generation loop.

The run directory itself (its files, its lock) belongs to ``search.rundir``. A resumed run
reloads the checkpoint, rebuilds the cache from the archive and repeats the interrupted
generation; its already-archived candidates come from the cache, so the archive and the
front equal those of an uninterrupted run with the same seed (on the same machine type).

Before anything is archived, the main process checks what the workers need (the dataset
loads and is the run's, ``models/`` is a writable folder): a missing piece is a one-line
``UserError``. A worker that cannot start all the same (a Dask worker that does not see the
run directory) stops the run the same way (``WorkerStartError``), with no candidate archived
as failed for it, so a ``resume`` after the fix trains them as an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import os
import time

from evoapproxnas.config import config_from_dict, load_config
from evoapproxnas.errors import UserError
from evoapproxnas.search.engines.assisted import make_search_engine
from evoapproxnas.search.evaluation import Evaluator
from evoapproxnas.search.execution.pool import TaskFailure, WorkerPool, WorkerStartError
from evoapproxnas.search.policies.termination import WallClock, over_budget, repricing_estimate
from evoapproxnas.search.problem import CampaignProblem, load_data
from evoapproxnas.search.reporting import ConsoleReporter, Reporter
from evoapproxnas.search.study.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from evoapproxnas.search.study.records import EvaluationRecord, FrontMember, HistoryEntry
from evoapproxnas.search.study.results import at_full_fidelity, history_entry, pareto_front, vectors
from evoapproxnas.search.study.rundir import RunDir, RunFront
from evoapproxnas.search.tasks import TestTask


def create_run(config_path, out, overrides=(), overwrite: bool = False) -> RunDir:
    """Validate everything (config, dataset, multipliers, CGP spec, the Dask scheduler), then
    create ``out``."""
    cfg = load_config(config_path, list(overrides))
    dataset = load_data(cfg)
    CampaignProblem.build(cfg, dataset.input_shape, dataset.n_classes)  # bad names -> UserError
    if cfg.executor.kind == "dask":
        from evoapproxnas.search.execution.dask_cluster import check_scheduler

        check_scheduler(cfg.executor.scheduler)
    return RunDir.create(out, cfg, dataset.input_shape, dataset.n_classes, str(config_path),
                         overwrite)


def run_campaign(run_dir, *, reporter: Reporter | None = None, evaluate_test: bool = True,
                 pool=None, scheduler: str | None = None,
                 stop_after_s: float | None = None) -> RunFront:
    """Run (or continue) the campaign of ``run_dir`` to its end; returns its front.

    Holds the directory's writer lock throughout (a second writer gets ``UserError``).
    ``reporter`` receives the progress lines, bars and notes (``None``: a
    ``ConsoleReporter``; ``SilentReporter()`` for the notes only).
    ``evaluate_test=False`` skips the final test-set evaluation of the front (benchmarks).
    ``pool`` replaces the executor of ``executor.kind`` (an object with ``map``, and
    ``submit``/``next_done`` for the asynchronous mode); the caller then closes it.
    ``scheduler`` moves a Dask run to another cluster (results do not depend on it).
    ``stop_after_s`` (generational mode) starts no generation after that many seconds and
    ends the run with the generations done (equal-wall-time comparisons, ``benchmarks/``).
    """
    reporter = ConsoleReporter() if reporter is None else reporter
    run = RunDir(run_dir)
    cfg = run.config
    if scheduler is not None:
        if cfg.executor.kind != "dask":
            raise UserError(f"{run.path} runs on the process executor; --scheduler applies to "
                            "runs with executor.kind = 'dask'")
        raw = cfg.to_dict()
        raw["executor"]["scheduler"] = scheduler
        cfg = config_from_dict(raw, f"{run.path / 'config.json'} (--scheduler)")
        from evoapproxnas.search.execution.dask_cluster import check_scheduler

        check_scheduler(cfg.executor.scheduler)
    with run.writer():
        check_worker_needs(run, cfg)
        try:
            return _run_locked(run, cfg, reporter, evaluate_test, pool, stop_after_s)
        except WorkerStartError as exc:
            raise UserError(f"a worker of {run.path} could not start: {exc.reason}; fix that "
                            f"and continue with 'evoapproxnas resume {run.path}'") from None


def check_worker_needs(run: RunDir, cfg) -> None:
    """``UserError`` (one line, before anything is archived) when workers could not start:
    the dataset does not load, is not the one the run was created with (``shape.json``),
    or the run's ``models/`` is not a writable folder. A remote worker that sees neither
    stops the run as it starts (``WorkerStartError``)."""
    try:
        dataset = load_data(cfg)
    except (UserError, OSError) as exc:
        reason = (f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError)
                  and exc.filename and exc.strerror else str(exc))
        raise UserError(f"{run.path}: the workers cannot load the dataset ({reason}); restore "
                        f"it where the run's config.json says, then resume") from None
    shape, n_classes = run.shape
    if (tuple(dataset.input_shape), dataset.n_classes) != (tuple(shape), n_classes):
        raise UserError(f"{run.path}: the dataset now has inputs {tuple(dataset.input_shape)} "
                        f"and {dataset.n_classes} classes, the run was created with "
                        f"{tuple(shape)} and {n_classes} (shape.json); restore the run's "
                        "dataset, then resume")
    models = run.models_dir
    if not models.is_dir() or not os.access(models, os.W_OK | os.X_OK):
        raise UserError(f"{models} is missing or not writable (the workers save trained "
                        f"weights there); restore it (mkdir {models}), then resume")


def _run_locked(run: RunDir, cfg, reporter: Reporter, evaluate_test: bool, given=None,
                stop_after_s: float | None = None) -> RunFront:
    s = cfg.search
    problem = run.problem
    archive = run.archive
    cache = {r.hash: r for r in archive.records()}
    changes = run.version_changes() if cache else []
    if changes:  # a note, shown even when quiet: why a resumed run may not repeat itself
        reporter.note(f"note: {run.path} was started with other package versions "
                      f"({'; '.join(changes)}): the rest of the run may differ from an "
                      "uninterrupted one")
    if s.mode == "asynchronous":
        from evoapproxnas.search.asynchronous import run_asynchronous

        pool = given or make_pool(cfg, run)
        try:
            evaluator = Evaluator(problem, archive, cache, pool)
            history = run_asynchronous(cfg, run, evaluator, reporter)
            return _finalize(cfg, run, cache, pool, history, reporter, evaluate_test)
        finally:
            if given is None:
                pool.close()
    state = load_checkpoint(run.path, warn=reporter.note)
    if state is None:
        engine = make_search_engine(cfg, problem.space)  # search.predictor wraps it
        state = Checkpoint(engine)
    engine = state.engine
    if not hasattr(engine, "space"):  # a pymoo engine checkpointed before engines kept it
        engine.space = engine.problem.space
    engine.space.set_filter(problem.meets_cheap_constraints)  # not in checkpoints
    if cache:
        reporter.log(f"resuming {run.path} at generation {state.generation} "
                     f"({len(cache)} archived evaluations)")
    clock = WallClock(state, run.read_clock(), run.write_clock)
    # fewer than search.generations when the time budget ended the search (run.json keeps
    # that, so a replay without checkpoints ends there too)
    generations = run.meta.get("search_generations", s.generations)
    pool = given or make_pool(cfg, run)
    try:
        evaluator = Evaluator(problem, archive, cache, _ClockedPool(pool, clock), run.journal)
        deadline = None if stop_after_s is None else time.perf_counter() + stop_after_s
        while state.generation < generations:
            if deadline is not None and time.perf_counter() >= deadline:
                break
            why = _budget_spent(cfg, state, clock, problem, cache)
            if why is not None:
                generations = _end_search(cfg, state, run, why, reporter)
                break
            _generation(cfg, state, evaluator, cache, run, reporter, clock)
        evaluator.generations = generations
        if cfg.fidelity.final_repricing and state.generation == evaluator.generations:
            _repricing(cfg, state, evaluator, cache, run, reporter, clock)
        return _finalize(cfg, run, cache, pool, state.history, reporter, evaluate_test)
    finally:
        if given is None:
            pool.close()


def make_pool(cfg, run: RunDir):
    """The executor of ``executor.kind``: local worker processes or a Dask cluster."""
    s = cfg.executor
    local = s.kind == "process" or s.scheduler == "local"
    # TensorFlow threads per worker: this machine's cores shared by its workers; on a remote
    # cluster each worker uses its own machine's default.
    threads = max(1, (os.cpu_count() or 1) // s.workers) if local else 0
    if s.kind == "dask":
        from evoapproxnas.search.execution.dask_cluster import DaskPool

        return DaskPool(s.workers, _init, (str(run.path), threads), scheduler=s.scheduler,
                        retries=s.retries, resources=dict(s.resources))
    from evoapproxnas.search.worker import CRASH_RETRY_ENV

    return WorkerPool(s.workers, _init, (str(run.path), threads),
                      crash_retry_env=CRASH_RETRY_ENV)


class _ClockedPool:
    """``pool`` whose every finished task also saves the run's clock (after the evaluator
    has archived it), so a run killed inside a generation keeps the seconds up to its last
    finished candidate (``budget.WallClock.tick``)."""

    def __init__(self, pool, clock: WallClock) -> None:
        self.pool, self.clock = pool, clock

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(index, result) -> None:
            if on_result is not None:
                on_result(index, result)
            self.clock.tick()

        return self.pool.map(fn, payloads, timeout_s=timeout_s, on_result=done)

    def __getattr__(self, name):
        return getattr(self.pool, name)


def _init(run_dir, threads):
    from evoapproxnas.search.worker import init_worker

    return init_worker(run_dir, threads)


def _budget_spent(cfg, state, clock: WallClock, problem: CampaignProblem,
                  cache: dict[str, EvaluationRecord]) -> str | None:
    """Why ``search.time_budget_s`` allows no further generation, or ``None``."""
    s = cfg.search
    durations = clock.durations
    if not s.time_budget_s or not durations or clock.begun(state.generation):
        return None  # a generation an earlier invocation began was decided then: it goes on
    reserve = 0.0
    if cfg.fidelity.final_repricing:
        done = [r for r in cache.values() if r.generation < state.generation]
        new = {problem.space.key(g) for g in repricing_genomes(cfg, problem, done)} - set(cache)
        reserve = repricing_estimate(len(new), s.population, durations)
    return over_budget(s.time_budget_s, clock.elapsed(), durations, reserve)


def _end_search(cfg, state, run: RunDir, why: str, reporter: Reporter) -> int:
    """End the search early (the time budget) after the generations done, recorded in
    ``run.json``; returns their number. From here on the run is the one with
    ``search.generations`` = that number (its final re-pricing is that generation)."""
    done = state.generation
    why = f"the search ended after {done} of {cfg.search.generations} generations: {why}"
    run.record_search_end(done, why)
    reporter.log(why)
    return done


def _generation(cfg, state, evaluator: Evaluator, cache: dict[str, EvaluationRecord],
                run: RunDir, reporter: Reporter, clock: WallClock) -> None:
    s, gen = cfg.search, state.generation
    engine = state.engine
    start = time.perf_counter()
    clock.start(gen)
    if hasattr(engine, "learn"):  # the predictor refits on the archive before this generation
        engine.learn(evaluator.problem, [r for r in run.records() if r.generation < gen], gen)
    genomes = engine.ask()
    evaluator.record_redrawn(engine.space.take_rejected(), gen)
    records = _evaluate_batch(evaluator, genomes, gen,
                              f"generation {gen + 1}/{s.generations}", reporter)
    F, cv = vectors(records, s.objectives)
    engine.tell(F, cv)
    # Everything evaluated up to this generation (a replay after a lost checkpoint finds later
    # generations in the cache too; they do not count yet).
    so_far = [r for r in cache.values() if r.generation <= gen]
    clock.finish(gen)
    entry = _close_generation(cfg, state, run, so_far, records)
    floor = f", {entry.below_floor} below the accuracy floor" if s.min_accuracy > 0 else ""
    reporter.log(f"gen {gen + 1}/{s.generations}: {entry.evaluations} evaluated "
                 f"({entry.new} new), {entry.failed} failed, {entry.infeasible} infeasible"
                 f"{floor}, {entry.pruned} pruned before training, front {entry.front_size}, HV {entry.hypervolume:.4f}"
                 f"{engine.report(run.records()) if hasattr(engine, 'report') else ''} "
                 f"[{time.perf_counter() - start:.0f} s]")


def _evaluate_batch(evaluator: Evaluator, genomes, gen: int, label: str,
                    reporter: Reporter) -> list[EvaluationRecord]:
    """``evaluator.evaluate`` of one batch behind a progress bar labelled ``label``."""
    bar = reporter.progress(len(genomes), label)
    try:
        return evaluator.evaluate(genomes, gen, progress=bar)
    finally:
        if bar is not None:
            bar.close()


def _close_generation(cfg, state: Checkpoint, run: RunDir, so_far, records) -> HistoryEntry:
    """Record generation ``state.generation`` (evaluated as ``records``; ``so_far``
    everything up to it) in the history and checkpoint the state after it; returns its
    history entry."""
    gen = state.generation
    entry = history_entry(cfg, gen, so_far, records)
    state.history = [h for h in state.history if h.generation < gen] + [entry]
    state.generation = gen + 1
    save_checkpoint(run.path, state)
    run.write_history(state.history)
    return entry


def repricing_genomes(cfg, problem: CampaignProblem, records) -> list:
    """The genomes of the final re-pricing: the ``fidelity.final_repricing`` most accurate
    networks of ``records`` trained at the full budget (by validation accuracy, then archive
    order; one genome per network), each with every allowed multiplier on all its layers,
    in that order. Those already evaluated are among them (the cache answers them)."""
    space = problem.space
    trained = [r for r in at_full_fidelity(records, cfg)
               if r.status == "ok" and r.val_accuracy is not None]
    order = sorted(range(len(trained)), key=lambda i: (-trained[i].val_accuracy, i))
    best: dict[str, EvaluationRecord] = {}  # network key -> its most accurate record
    for i in order:
        if len(best) == cfg.fidelity.final_repricing:
            break
        best.setdefault(space.network_key(trained[i].genome), trained[i])
    return [space.priced_with(record.genome, multiplier) for record in best.values()
            for multiplier in range(space.n_multipliers)]


def _repricing(cfg, state, evaluator: Evaluator, cache: dict[str, EvaluationRecord],
               run: RunDir, reporter: Reporter, clock: WallClock) -> None:
    """The final re-pricing batch (``fidelity.final_repricing``), archived as the generation
    after the search's last; the engine is not told (the search is over)."""
    gen = evaluator.generations
    start = time.perf_counter()
    clock.start(gen)
    before = [r for r in cache.values() if r.generation < gen]
    genomes = repricing_genomes(cfg, evaluator.problem, before)
    records = _evaluate_batch(evaluator, genomes, gen, "re-pricing", reporter)
    clock.finish(gen)
    entry = _close_generation(cfg, state, run, list(cache.values()), records)
    reporter.log(f"re-pricing the {cfg.fidelity.final_repricing} most accurate network(s): "
                 f"{entry.new} new, {entry.failed} failed, front {entry.front_size}, "
                 f"HV {entry.hypervolume:.4f} [{time.perf_counter() - start:.0f} s]")


def _finalize(cfg, run: RunDir, cache: dict[str, EvaluationRecord], pool: WorkerPool,
              history: list[dict], reporter: Reporter, evaluate_test: bool = True) -> RunFront:
    from evoapproxnas.search.worker import test_task

    records = list(cache.values())
    front = pareto_front(at_full_fidelity(records, cfg), cfg.search.objectives)
    if cfg.hardware.evaluator == "learned" and front:  # the front's figures, analytically
        from evoapproxnas.search.learned_check import reprice_front

        front = reprice_front(run.problem, front, reporter.note)
    if cfg.hardware.mode == "sequential":  # the second step: the best design per member
        from evoapproxnas.search.sequential import reprice_front

        front = reprice_front(run.problem, front)
        reporter.log(f"sequential hardware: the front re-priced on the best design of each "
                     f"member, {len(front)} non-dominated")
    bar = None
    results = [None] * len(front)
    if evaluate_test:
        reporter.log(f"re-evaluating the {len(front)} front members on the held-out test set")
        bar = reporter.progress(len(front), "test set", "net")
        results = pool.map(test_task, [TestTask(genome=r.genome, hash=r.hash) for r in front],
                           timeout_s=cfg.executor.time_limit_s + 120,
                           on_result=(lambda i, r: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    members = []
    for r, res in zip(front, results):
        member = FrontMember(r)
        if res is None:
            member.test_reason = "not evaluated (evaluate_test=False)"
        elif isinstance(res, TaskFailure):
            member.test_reason = res.reason
        else:
            member.test_accuracy = res.test_accuracy
            member.val_accuracy_reloaded = res.val_accuracy
        members.append(member)
    summary = RunFront(list(cfg.search.objectives), members, len(records),
                       sum(r.status == "failed" for r in records),
                       [dataclasses.replace(h, population=[]) for h in history])
    run.write_front(summary)
    run.mark_finished()
    return summary

