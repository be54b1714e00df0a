"""A pool of reusable worker processes where each task is isolated.

A task that raises, crashes its process (segfault, ``os._exit``, out-of-memory kill) or runs
past its time limit fails alone: the caller gets ``TaskFailure(reason)`` for it, the dead or
stuck worker is replaced and the other tasks go on. Workers are started with ``spawn`` and
kept for the whole pool's life (TensorFlow's import costs seconds per process).

A task whose process dies of a native crash (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE: a
fault in compiled code, not an out-of-memory SIGKILL or a time-out) can run once more in a
fresh process started with other environment variables (``crash_retry_env``, e.g. a library's
safer kernels); that process serves only the retry and is then replaced by an ordinary one.

A worker whose ``initializer`` raises cannot run any task: that is not the task's failure
but the pool's. The worker answers every task with its start error and ``map`` raises
``WorkerStartError`` (the worker's one-line reason); the pool's busy workers are stopped and
replaced when the pool is used again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from evoapproxnas.errors import UserError


@dataclass(frozen=True)
class TaskFailure:
    """A task that did not return: ``reason`` says why (exception, crash, time-out)."""

    reason: str


class WorkerStartError(Exception):
    """A worker process could not start (its ``initializer`` raised): no task can run there.

    ``reason`` is the worker's one-line account (a ``UserError``'s message as it is, any
    other exception's type and message). Raised by ``map`` (and ``next_done`` of the Dask
    pool) instead of failing the tasks: the cause is the campaign's, not a candidate's.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def task_error(exc: Exception) -> str:
    """The reason recorded for a task that raised: its exception's last line, bounded."""
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return f"raised {last}"[:300]


def start_error(exc: Exception) -> str:
    """The reason of a worker whose initializer raised ``exc``: one line, bounded; a
    ``UserError`` (say, a dataset the worker cannot find) keeps its own message."""
    if isinstance(exc, UserError):
        text = str(exc)
    else:
        text = traceback.format_exception_only(type(exc), exc)[-1]
    return " ".join(text.split())[:400] or type(exc).__name__


CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL,
                           signal.SIGFPE})
"""Deaths that are faults of compiled code (retried with ``crash_retry_env``)."""


def _exit_now() -> None:
    """End a worker process at once: its results are sent and its files written, so the
    interpreter's teardown (seconds for a process that has built many TensorFlow models) is
    skipped; only the standard streams are flushed."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _worker_main(conn, initializer, initargs, env) -> None:
    os.environ.update(env)
    state, refusal = None, None
    try:
        state = initializer(*initargs) if initializer else None
    except Exception as exc:  # noqa: BLE001 - reported with every task: WorkerStartError
        refusal = start_error(exc)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            _exit_now()
        if message is None:
            _exit_now()
        fn, payload = message
        if refusal is not None:
            result = ("start_error", refusal)
        else:
            try:
                result = ("ok", fn(state, payload))
            except Exception as exc:  # noqa: BLE001 - any error of a task is that task's failure
                result = ("error", task_error(exc))
        try:
            conn.send(result)
        except OSError:  # the pool's process is gone (killed): nothing left to report to
            return


class _Worker:
    def __init__(self, ctx, initializer, initargs, env: dict[str, str] | None = None) -> None:
        self.conn, child = ctx.Pipe()
        self.env = dict(env or {})  # non-empty: a crash-retry worker
        self.process = ctx.Process(target=_worker_main,
                                   args=(child, initializer, initargs, self.env), daemon=True)
        self.process.start()
        child.close()
        self.task: int | None = None
        self.deadline = float("inf")

    def signal_stop(self) -> None:
        """Ask the process to exit once it is idle (``reap`` waits for it)."""
        try:
            self.conn.send(None)
        except OSError:
            pass

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            self.signal_stop()
        self.reap()

    def reap(self) -> None:
        """Wait for the process to end (killing it after 10 s) and close its pipe."""
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool:
    """``n_workers`` processes running ``fn(state, payload)``; ``state = initializer(*initargs)``.

    ``initializer`` and every ``fn`` must be importable top-level functions. With
    ``crash_retry_env``, a task whose process crashes (``CRASH_SIGNALS``) runs once more in a
    process started with those environment variables (module docstring).
    """

    def __init__(self, n_workers: int, initializer: Callable | None = None,
                 initargs: tuple = (), start_method: str = "spawn",
                 crash_retry_env: dict[str, str] | None = None) -> None:
        self._ctx = mp.get_context(start_method)
        self._init = (initializer, initargs)
        self._retry_env = dict(crash_retry_env or {})
        self._workers = [self._spawn() for _ in range(max(1, int(n_workers)))]

    def _spawn(self, env: dict[str, str] | None = None) -> _Worker:
        return _Worker(self._ctx, *self._init, env)

    def map(self, fn: Callable, payloads: Sequence[Any], timeout_s: float | None = None,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """Run ``fn`` on every payload; results (or ``TaskFailure``) in payload order.

        ``on_result(index, result)`` is called as each task ends (in completion order).
        ``timeout_s`` bounds each task's wall time from the moment a worker takes it.
        Raises ``WorkerStartError`` as soon as a worker reports that it could not start
        (the tasks still running are abandoned; those done were reported).
        """
        results: list[Any] = [None] * len(payloads)
        pending = list(range(len(payloads)))[::-1]
        running = 0
        first_death: dict[int, str] = {}  # tasks running again after a crash: why

        def finish(worker: _Worker, value: Any) -> None:
            nonlocal running
            index, worker.task, worker.deadline = worker.task, None, float("inf")
            running -= 1
            if index in first_death and isinstance(value, TaskFailure):
                value = TaskFailure(f"{first_death[index]}; run again with "
                                    f"{_env_text(worker.env)}: {value.reason}")
            results[index] = value
            if on_result:
                on_result(index, value)

        def start(worker: _Worker, index: int) -> None:
            worker.conn.send((fn, payloads[index]))
            worker.task = index
            worker.deadline = (time.monotonic() + timeout_s) if timeout_s else float("inf")

        while pending or running:
            for i, worker in enumerate(self._workers):
                if worker.task is None and pending:
                    index = pending.pop()
                    try:
                        start(worker, index)
                    except OSError:  # died while idle: replace and retry
                        worker.stop(kill=True)
                        self._workers[i] = worker = self._spawn()
                        start(worker, index)
                    running += 1
            busy = [w for w in self._workers if w.task is not None]
            nearest = min(w.deadline for w in busy)
            wait_s = None if nearest == float("inf") else max(0.0, nearest - time.monotonic())
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], wait_s)
            for i, worker in enumerate(self._workers):
                if worker.task is None:
                    continue
                if worker.conn in ready:
                    try:
                        status, value = worker.conn.recv()
                    except (EOFError, OSError):
                        status, value = "dead", None
                    if status == "start_error":
                        self._abandon()
                        raise WorkerStartError(value)
                    if status in ("ok", "error"):
                        finish(worker, value if status == "ok" else TaskFailure(value))
                        if worker.env:  # a crash-retry worker serves one task
                            worker.stop()
                            self._workers[i] = self._spawn()
                        continue
                if worker.process.sentinel in ready or not worker.process.is_alive() or (
                        worker.conn in ready):
                    worker.process.join(timeout=5)
                    code = worker.process.exitcode
                    if (self._retry_env and not worker.env and code is not None
                            and -code in CRASH_SIGNALS):
                        # run the task again in a process with the retry environment
                        index = worker.task
                        first_death[index] = _death_reason(code)
                        worker.stop(kill=True)
                        self._workers[i] = retry = self._spawn(self._retry_env)
                        start(retry, index)
                        continue
                    finish(worker, TaskFailure(_death_reason(code)))
                elif time.monotonic() >= worker.deadline:
                    finish(worker, TaskFailure(f"time limit of {timeout_s:g} s exceeded"))
                else:
                    continue
                worker.stop(kill=True)
                self._workers[i] = self._spawn()
        return results

    def _abandon(self) -> None:
        """Stop every busy worker (their tasks are dropped): a later ``map`` finds each one's
        pipe closed and starts a fresh process in its place, so a worker that could not start
        tries again there."""
        for worker in self._workers:
            if worker.task is not None:
                worker.stop(kill=True)
                worker.task, worker.deadline = None, float("inf")

    def close(self) -> None:
        for worker in self._workers:  # all at once: each then exits in parallel
            worker.signal_stop()
        for worker in self._workers:
            worker.reap()
        self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _env_text(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(env.items())) or "the same environment"


def _death_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = {-9: "SIGKILL (out of memory?)", -11: "SIGSEGV", -6: "SIGABRT"}.get(code)
        return f"worker process killed by signal {-code}" + (f" {name}" if name else "")
    return f"worker process died (exit code {code})"
