"""The evaluation pipeline: cache -> decode -> cheap metrics -> constraints -> training.

Infeasible candidates are recorded without training. Training runs in the worker pool, each
candidate isolated. New records are appended to the archive in population order (never in
completion order), so the archive does not depend on worker timing. A candidate trained
while an earlier one of its batch still trains waits in the journal (``trained.jsonl``), so a
run killed then takes it from there on resume instead of training it again (the same work,
and the same seconds of a time budget, as an uninterrupted run).
"""

from __future__ import annotations

import time

from evoapproxnas.search.execution.pool import TaskFailure, WorkerPool
from evoapproxnas.search.policies import halving
from evoapproxnas.search.policies.inheritance import WeightInheritance
from evoapproxnas.search.problem import CampaignProblem, CandidateFailure, training_seed
from evoapproxnas.search.study.archive import Archive
from evoapproxnas.search.study.records import EvaluationRecord, Status
from evoapproxnas.search.tasks import TrainOutcome, TrainTask
from evoapproxnas.search.worker import CRASH_RETRY_NOTE, train_task


class Evaluator:
    """Turns genomes into ``EvaluationRecord`` objects, each candidate evaluated once.

    ``cache`` maps candidate hashes to records (rebuilt from the archive on resume); a hash
    already in it is never evaluated again. New records are appended to ``archive``; training
    runs in ``pool`` (``train_task`` in a worker process).
    """

    def __init__(self, problem: CampaignProblem, archive: Archive,
                 cache: dict[str, EvaluationRecord], pool: WorkerPool,
                 journal: Archive | None = None) -> None:
        self.problem, self.archive = problem, archive
        self.cache, self.pool = cache, pool
        self.journal = journal
        """Where trained records wait for their turn in the archive (``None``: nowhere)."""
        self._journaled = _journaled(journal, archive)
        self.cfg = problem.cfg
        self.halving = halving.SuccessiveHalving.of(self.cfg)
        self.rungs = self.halving.rungs
        f = self.cfg.fidelity
        self.inheritance = WeightInheritance(f.inherit_epochs, f.final_repricing_epochs,
                                             self.rungs[-1], self._network_key)
        self.generations = self.cfg.search.generations
        """Generations of the search (fewer when a time budget ended it early); the final
        re-pricing batch is generation ``generations``."""
        # (hash, epochs) -> the record of that rung (successive halving; rebuilt on resume)
        self.by_rung: dict[tuple[str, int], EvaluationRecord] = {}
        if self.halving.enabled:
            self.by_rung = {(r.hash, r.fidelity): r for r in archive.records()
                            if r.fidelity is not None}
        self._network_keys: dict[str, str] = {}  # candidate hash -> network key (memo)

    def _should_crash(self, key: str) -> bool:
        debug = self.cfg.debug
        return key in debug.fail_hashes or int(key[:8], 16) / 2**32 < debug.fail_fraction

    @property
    def task_timeout_s(self) -> float:
        """Hard limit of one training task (training stops itself at ``time_limit_s``)."""
        return self.cfg.executor.time_limit_s + 120

    def prepare(self, genome, key: str, generation: int, index: int) -> EvaluationRecord:
        """Decode and price a new candidate: a final record if it breaks a cheap constraint
        (``infeasible``) or cannot be priced (``failed``: a cost-model error, e.g. no FPGA
        design fits; the campaign goes on), else one waiting for training (status ``failed``
        ``Status.PENDING``)."""
        start = time.perf_counter()
        try:
            metrics, failure = self.problem.price(genome), None
        except CandidateFailure as exc:
            metrics, failure = exc.metrics, exc.reason
        violation = 0.0 if failure else self.problem.violation(metrics)
        record = EvaluationRecord(
            hash=key, generation=generation, index=index, genome=[int(v) for v in genome],
            status=Status.INFEASIBLE, reason=None, violation=violation, metrics=metrics,
            seed=training_seed(self.cfg.search.seed, key),
            timings={"cheap_s": time.perf_counter() - start})
        if failure:
            record.status, record.reason = Status.FAILED, failure
            return _finish(record, self.cfg.search.objectives)
        if violation > 0:
            record.reason = "pruned before training: violates " + ", ".join(
                self.problem.violated(metrics))
            return _finish(record, self.cfg.search.objectives)
        record.status, record.reason = Status.PENDING, None
        record.fidelity = self.rungs[0]
        return record

    def payload(self, record: EvaluationRecord) -> TrainTask:
        """What ``train_task`` needs to train the candidate of ``record`` (for
        ``record.fidelity`` epochs in all; a promoted candidate continues from the weights
        of its previous rung)."""
        debug = self.cfg.debug
        level = self.rungs.index(record.fidelity) if record.fidelity in self.rungs else 0
        continues = level > 0 and record.inherited_from is None  # an heir starts elsewhere
        return TrainTask(genome=record.genome, hash=record.hash, seed=record.seed,
                         epochs=record.fidelity,
                         continue_from=self.rungs[level - 1] if continues else None,
                         inherit_from=record.inherited_from,
                         inherit_epochs=self.inheritance.heir_epochs(record,
                                                                    self.generations),
                         crash=self._should_crash(record.hash),
                         die_once=int(record.hash[:8], 16) / 2**32 < debug.die_once_fraction)

    def accuracy_shortfall(self, record: EvaluationRecord) -> float:
        """The violation of ``search.min_accuracy`` by a trained record (0 when it meets
        the floor, has no accuracy, or the floor is off). A trained candidate kept every
        cheap constraint, so this is its whole violation."""
        floor, acc = self.cfg.search.min_accuracy, record.val_accuracy
        if not floor or record.status != "ok" or acc is None or acc >= floor:
            return 0.0
        return (floor - acc) / floor

    def complete(self, record: EvaluationRecord,
                 result: TrainOutcome | TaskFailure) -> EvaluationRecord:
        """``record`` finished with a training result (or a ``TaskFailure``); a final record
        (not pending) stays as it is."""
        if not record.pending:
            return record
        if isinstance(result, TaskFailure):
            record.status, record.reason = Status.FAILED, result.reason
        else:
            record.status, record.reason = Status(result.status), result.reason
            if result.crash_retry and record.status == Status.OK:
                record.reason = CRASH_RETRY_NOTE
            record.metrics["val_accuracy"] = result.val_accuracy
            record.metrics["val_accuracy_exact"] = result.val_accuracy_exact
            record.violation = self.accuracy_shortfall(record)
            if record.violation > 0:
                record.reason = (f"val_accuracy {record.val_accuracy:.4f} below "
                                 f"search.min_accuracy {self.cfg.search.min_accuracy}")
            record.timings.update(train_s=result.train_seconds, eval_s=result.eval_seconds)
            if result.started_at is not None:  # wall-clock span on the worker (utilisation)
                record.timings.update(start_unix=result.started_at, end_unix=result.ended_at)
        return _finish(record, self.cfg.search.objectives)

    def record_redrawn(self, genomes, generation: int) -> None:
        """Archive the draws the space re-drew because they broke a cheap constraint
        (``index`` -1: they took no population slot), each once, in draw order."""
        for genome in genomes:
            key = self.problem.space.key(genome)
            if key in self.cache:
                continue
            record = self.prepare(genome, key, generation, -1)
            if record.pending:  # cannot happen with the campaign's own filter
                continue
            record.reason = f"{record.reason}; re-drawn"
            self.archive.append(record)
            self.cache[key] = record

    def evaluate(self, genomes, generation: int, progress=None) -> list[EvaluationRecord]:
        """Records for ``genomes`` (cached ones reused); new ones are archived in order."""
        keys = [self.problem.space.key(g) for g in genomes]
        records: list[EvaluationRecord | None] = [None] * len(genomes)
        fresh: dict[str, int] = {}  # key -> first index evaluated in this batch
        jobs = []
        donors = self.inheritance.donors(self.cache.values(), generation)
        for i, (genome, key) in enumerate(zip(genomes, keys)):
            if key in self.cache or key in fresh:
                continue
            fresh[key] = i
            record = self.prepare(genome, key, generation, i)
            if not record.pending:
                records[i] = record
                continue
            donor = donors.get(self._network_key(record))
            if donor is not None:
                record.inherited_from, record.fidelity = donor.hash, self.rungs[-1]
            jobs.append((i, record))
        self._train(jobs, records, sorted(fresh.values()), progress)
        for key, i in fresh.items():
            self.cache[key] = records[i]
            self._remember_rung(records[i])
        if progress is not None:
            progress.update(len(genomes) - len(fresh))
        for level in range(1, len(self.rungs)):
            self._next_rung(keys, generation, level, progress)
        later = any(r.generation > generation for r in self._journaled.values())
        if self.journal is not None and not later:  # the batch is archived; a replay of an
            self.journal.path.unlink(missing_ok=True)  # earlier one keeps what waits later
            self._journaled.clear()
        return [self.cache[key] for key in keys]

    def _train(self, jobs, records, order, progress=None) -> None:
        """Train ``jobs`` ((slot, record) pairs) in the pool; archive ``records[order]`` in
        that order as soon as each and all before it are final.

        The most expensive candidates (by multiplications per image) are sent first, so that
        no worker idles at the end of the batch while one trains a large network (the
        longest-first rule); results do not depend on the order."""
        jobs = sorted(jobs, key=lambda job: (-job[1].metrics.get("multiplications", 0), job[0]))
        for i, record in jobs:  # trained before a kill, then waiting in the journal
            records[i] = self._journaled.pop(_job_key(record), None)
        jobs = [(i, record) for i, record in jobs if records[i] is None]
        place = {slot: k for k, slot in enumerate(order)}
        written = 0

        def flush() -> None:
            nonlocal written
            while written < len(order) and records[order[written]] is not None:
                self.archive.append(records[order[written]])
                written += 1

        failed = 0

        def done(job_index: int, result) -> None:
            nonlocal failed
            i, record = jobs[job_index]
            records[i] = self.complete(record, result)
            flush()
            if self.journal is not None and place[i] >= written:  # waits for an earlier one
                self.journal.append(records[i])
            if progress is not None:
                if records[i].status == "failed":
                    failed += 1
                    progress.set_postfix(failed=failed, refresh=False)
                progress.update(1)

        flush()
        if progress is not None:
            progress.update(sum(records[i] is not None for i in order))
        payloads = [self.payload(r) for _, r in jobs]
        if payloads:
            self.pool.map(train_task, payloads, timeout_s=self.task_timeout_s, on_result=done)
        flush()

    def _network_key(self, record: EvaluationRecord) -> str:
        if record.hash not in self._network_keys:
            self._network_keys[record.hash] = self.problem.space.network_key(record.genome)
        return self._network_keys[record.hash]

    def _remember_rung(self, record: EvaluationRecord) -> None:
        if self.halving.enabled and record.fidelity is not None:
            self.by_rung[(record.hash, record.fidelity)] = record

    def _next_rung(self, keys: list[str], generation: int, level: int, progress=None) -> None:
        """Successive halving: train the best of the previous rung for ``rungs[level]``
        (``progress`` grows by the candidates that continue)."""
        previous, epochs = self.rungs[level - 1], self.rungs[level]
        candidates, seen = [], set()
        for key in keys:
            record = self.by_rung.get((key, previous))
            if key in seen or record is None:
                continue
            seen.add(key)
            if record.generation == generation and record.status == "ok":
                candidates.append(record)
        keep = self.halving.survivors(candidates)
        records: list[EvaluationRecord | None] = [None] * len(keep)
        jobs = []
        for i, low in enumerate(keep):
            done = self.by_rung.get((low.hash, epochs))
            if done is not None:
                records[i] = done  # archived before a kill
                continue
            record = EvaluationRecord.from_dict(low.to_dict())
            record.status, record.reason, record.fidelity = Status.PENDING, None, epochs
            record.timings = {}
            jobs.append((i, record))
        if progress is not None and jobs:
            progress.total += len(jobs)
            base = getattr(progress, "desc", "").split(",")[0]  # a disabled bar has none
            progress.set_description(f"{base}, {epochs} epochs")
        self._train(jobs, records, [i for i, _ in jobs], progress)
        for record in records:
            self.cache[record.hash] = record
            self._remember_rung(record)


def _job_key(record: EvaluationRecord) -> tuple:
    """What identifies one training of a batch (a record waiting in the journal is its
    result only if all of it agrees)."""
    return (record.hash, record.generation, record.index, record.fidelity,
            record.inherited_from)


def _journaled(journal: Archive | None, archive: Archive) -> dict[tuple, EvaluationRecord]:
    """The journal's records not archived yet, by ``_job_key`` (a torn or damaged journal
    holds nothing: its candidates train again)."""
    if journal is None or not journal.path.exists():
        return {}
    try:
        waiting = {_job_key(r): r for r in journal.records()}
    except (OSError, ValueError):
        return {}
    archived = {_job_key(r) for r in archive.records()}
    return {key: r for key, r in waiting.items() if key not in archived}


def _finish(record: EvaluationRecord, objectives) -> EvaluationRecord:
    acc = record.val_accuracy
    values = dict(record.metrics)
    values["error"] = (1.0 - acc) if record.status == "ok" and acc is not None else None
    record.objectives = {name: values.get(name) for name in objectives}
    return record
