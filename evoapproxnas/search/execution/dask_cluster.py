"""Candidates as tasks on a Dask ``distributed`` cluster (the ``[dask]`` extra).

``DaskPool`` has the interface of ``executor.WorkerPool`` (``map``, ``close``) and adds
``submit`` / ``next_done`` for the asynchronous (steady-state) campaign loop. Every task runs
``fn(state, payload)`` where ``state = initializer(*initargs)`` is built once per Dask worker
process and cached there (the dataset is loaded once per worker, never shipped with tasks).

Faults: a task that raises is that task's ``TaskFailure``. A worker that dies in the middle
of a task (killed, out of memory) is restarted by its nanny and Dask runs the task again on a
worker; after ``retries`` deaths the scheduler gives up (``KilledWorker``) and the candidate
is recorded as failed with that reason. On a ``"local"`` cluster the bound is set here; an
external scheduler applies its own ``distributed.scheduler.allowed-failures`` (start it with
``distributed.scheduler.worker-saturation: 1.0`` too, so that a dying worker holds no queued
candidate).

A worker whose ``initializer`` raises (it cannot see the run directory or the dataset, say)
fails no candidate: ``next_done`` (and so ``map``) raises ``WorkerStartError`` with the
worker's one-line reason and cancels the tasks in flight. The failed state is not cached, so
a worker tries to start again with its next task.

Workers must see the run directory at the same path (a shared filesystem on a real
cluster): they read its config and write trained weights into ``models/``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.search.execution.pool import (
    TaskFailure,
    WorkerStartError,
    start_error,
    task_error,
)

LOCAL_WORKER_SETTINGS = {
    # Dask's defaults wake each worker's event loop (the worker's main thread) some 150
    # times a second: the profiler samples every thread's stack every 10 ms, the tick runs
    # every 20 ms, the memory monitor every 100 ms, the system monitor every 500 ms, and
    # each wake-up takes the GIL from the training thread. On two cores with two workers
    # that loop cost 6% of a candidate's CPU time, and its training threads up to 10% more
    # than in a process-pool worker. No dashboard runs (``dashboard_address=None``):
    # nothing reads the profiles or the system monitor.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    # The nanny puts MALLOC_TRIM_THRESHOLD_=65536 in the worker's environment: glibc then
    # keeps its mmap threshold at 128 KiB, so TensorFlow's larger buffers are fresh mmaps
    # each time (7x a process-pool worker's page faults, 4x its system time).
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}
"""Settings of the workers of a ``"local"`` cluster (``DaskPool``): a Dask candidate then
costs what a process-pool candidate does."""

_STATE: dict[tuple, Any] = {}
_STATE_LOCK = threading.Lock()


def _worker_state(initializer: Callable | None, initargs: tuple) -> Any:
    """``initializer(*initargs)``, computed once per worker process (a cached loader)."""
    key = (initializer, initargs)
    with _STATE_LOCK:
        if key not in _STATE:
            _STATE[key] = initializer(*initargs) if initializer else None
        return _STATE[key]


def _run_task(fn: Callable, payload: Any, initializer: Callable | None, initargs: tuple,
              timeout_s: float | None) -> tuple[str, Any]:
    """The task body on a worker: ("ok", result), ("error", reason) or, when the worker's
    state cannot be built, ("start_error", reason); a task that runs past ``timeout_s`` ends
    its worker process (the only way to stop a stuck thread)."""
    watchdog = None
    if timeout_s:
        watchdog = threading.Timer(timeout_s, os._exit, args=(124,))
        watchdog.daemon = True
        watchdog.start()
    try:
        try:
            state = _worker_state(initializer, initargs)
        except Exception as exc:  # noqa: BLE001 - the worker's, not the task's: WorkerStartError
            return "start_error", start_error(exc)
        return "ok", fn(state, payload)
    except Exception as exc:  # noqa: BLE001 - any error of a task is that task's failure
        return "error", task_error(exc)
    finally:
        if watchdog is not None:
            watchdog.cancel()


def _import_distributed():
    try:
        import distributed
    except ModuleNotFoundError:
        raise UserError("executor.kind = 'dask' needs Dask distributed: pip install "
                        "'evoapproxnas[dask]' (or set executor.kind = 'process')") from None
    return distributed


def connect(scheduler: str, timeout_s: float = 5.0):
    """A ``distributed.Client`` of a running scheduler (``UserError`` if unreachable)."""
    distributed = _import_distributed()
    try:
        return distributed.Client(scheduler, timeout=f"{timeout_s}s",
                                  set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler {scheduler!r} ({reason[:160]}); "
                        "start it with 'dask scheduler' or fix executor.scheduler") from None


def check_scheduler(scheduler: str) -> None:
    """Fail early (before anything is written) when an external scheduler is unreachable."""
    if scheduler != "local":
        connect(scheduler).close()


class DaskPool:
    """Tasks on a Dask cluster: ``scheduler`` = "tcp://HOST:8786" or "local" (a
    ``LocalCluster`` of ``n_workers`` single-threaded processes on the loopback interface)."""

    def __init__(self, n_workers: int, initializer: Callable | None = None,
                 initargs: tuple = (), *, scheduler: str = "local", retries: int = 2,
                 resources: dict | None = None) -> None:
        distributed = _import_distributed()
        import dask

        self._init = (initializer, initargs)
        self._resources = dict(resources or {}) or None
        self._cluster = None
        self._futures: dict[Any, int] = {}
        self._as_completed = None
        if scheduler == "local":
            # One task per worker thread at a time (no tasks queued on a worker): a worker's
            # death then counts only against the candidate it was running, never against an
            # innocent one waiting behind it.
            settings = {"distributed.scheduler.allowed-failures": int(retries),
                        "distributed.scheduler.worker-saturation": 1.0,
                        **LOCAL_WORKER_SETTINGS}
            with dask.config.set(settings):
                # ``config``: each nanny hands these to every worker it starts, restarted
                # ones too (the context above is gone by the time a worker dies); dotted
                # keys, which the worker's ``dask.config.set`` applies one by one
                self._cluster = distributed.LocalCluster(
                    n_workers=max(1, int(n_workers)), threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, silence_logs=40,
                    resources=self._resources, config=dict(LOCAL_WORKER_SETTINGS))
            self.client = distributed.Client(self._cluster, set_as_default=False)
        else:
            self.client = connect(scheduler)
        self._counter = 0

    # ---- one task at a time (asynchronous loop) -------------------------------------------

    def submit(self, fn: Callable, payload: Any, tag: int,
               timeout_s: float | None = None) -> None:
        """Start ``fn(state, payload)``; ``next_done`` will return it with ``tag``."""
        self._counter += 1
        future = self.client.submit(_run_task, fn, payload, *self._init, timeout_s,
                                    key=f"evoapproxnas-{os.getpid()}-{self._counter}",
                                    pure=False, resources=self._resources)
        if not self._futures:  # a fresh completion queue (the last one ran dry)
            from distributed import as_completed

            self._as_completed = as_completed(loop=self.client.loop)
        self._futures[future] = tag
        self._as_completed.add(future)

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def next_done(self) -> tuple[int, Any]:
        """The next finished task, as (tag, result or ``TaskFailure``), in completion order.

        Raises ``WorkerStartError`` when the task's worker could not start (the other tasks
        in flight are cancelled)."""
        future = next(self._as_completed)
        tag = self._futures.pop(future)
        try:
            return tag, _outcome(future)
        except WorkerStartError:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Cancel every task in flight (a worker could not start: the run stops)."""
        if self._futures:
            self.client.cancel(list(self._futures))
        self._futures.clear()
        self._as_completed = None

    # ---- a batch (generational loop) ------------------------------------------------------

    def map(self, fn: Callable, payloads: Sequence[Any], timeout_s: float | None = None,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """Run ``fn`` on every payload; results (or ``TaskFailure``) in payload order
        (``WorkerStartError`` if a worker could not start)."""
        results: list[Any] = [None] * len(payloads)
        for index, payload in enumerate(payloads):
            self.submit(fn, payload, index, timeout_s)
        for _ in payloads:
            index, value = self.next_done()
            results[index] = value
            if on_result:
                on_result(index, value)
        return results

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _outcome(future) -> Any:
    try:
        status, value = future.result()
    except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler, ...
        name = type(exc).__name__
        if name == "KilledWorker":
            return TaskFailure("every worker that ran this candidate died (KilledWorker: out "
                               "of memory, a crash or its time limit)")
        return TaskFailure(f"dask task failed: {name}: {str(exc)[:200]}")
    if status == "start_error":
        raise WorkerStartError(value)
    return value if status == "ok" else TaskFailure(value)
