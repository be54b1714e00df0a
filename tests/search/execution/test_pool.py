"""Worker pool: results in order, each failure isolated, dead workers replaced."""

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import _tasks

from evoapproxnas.search.execution.pool import TaskFailure, WorkerPool


def test_failures_are_isolated_and_results_ordered():
    payloads = [("ok", 1), ("raise", 2), ("crash", 7), ("sleep", 30), ("ok", 5), ("ok", 6)]
    seen = []
    with WorkerPool(2, _tasks.init, (100,)) as pool:
        results = pool.map(_tasks.work, payloads, timeout_s=3.0,
                           on_result=lambda i, r: seen.append(i))
        assert sorted(seen) == list(range(len(payloads)))
        assert results[0][0] == 101 and results[4][0] == 105 and results[5][0] == 106
        assert isinstance(results[1], TaskFailure) and "ValueError: bad payload 2" in \
            results[1].reason
        assert isinstance(results[2], TaskFailure) and "exit code 7" in results[2].reason
        assert isinstance(results[3], TaskFailure) and "time limit of 3 s" in results[3].reason
        # the pool keeps working with replaced workers, and reuses live ones
        again = pool.map(_tasks.work, [("ok", 1)] * 4, timeout_s=10)
        assert [r[0] for r in again] == [101] * 4
        assert len({r[1] for r in again}) <= 2


def test_a_task_that_crashed_runs_once_more_in_the_retry_environment():
    payloads = [("signal", signal.SIGSEGV), ("ok", 1), ("signal_always", signal.SIGABRT),
                ("crash", 7), ("signal", signal.SIGABRT)]
    with WorkerPool(2, _tasks.init, (100,), crash_retry_env={"TASKS_SAFE": "1"}) as pool:
        results = pool.map(_tasks.work, payloads, timeout_s=30)
        # a native crash: the task ran again, in a process with the retry environment
        assert results[0][0] == 100 + signal.SIGSEGV and results[0][2] == "1"
        assert results[4][0] == 100 + signal.SIGABRT and results[4][2] == "1"
        assert results[1][0] == 101
        # crashed again: one failure that names both deaths
        assert isinstance(results[2], TaskFailure)
        assert "signal 6 SIGABRT; run again with TASKS_SAFE=1: worker process killed by " \
            "signal 6" in results[2].reason
        # an exit is not a native crash: no second run
        assert isinstance(results[3], TaskFailure) and results[3].reason == \
            "worker process died (exit code 7)"
        # the retry processes served one task each; ordinary workers run the next tasks
        again = pool.map(_tasks.work, [("signal", signal.SIGSEGV), ("ok", 2)], timeout_s=30)
        assert again[0][2] == "1" and again[1][0] == 102


def test_without_a_retry_environment_a_crash_is_the_task_failure():
    with WorkerPool(1, _tasks.init, (100,)) as pool:
        results = pool.map(_tasks.work, [("signal", signal.SIGSEGV), ("ok", 1)], timeout_s=30)
    assert isinstance(results[0], TaskFailure) and "signal 11 SIGSEGV" in results[0].reason
    assert results[1][0] == 101


def test_close_ends_every_worker_without_its_interpreter_teardown(tmp_path):
    # a process that has built many TensorFlow models takes seconds to tear down; its
    # results are sent and its files written, so close() ends it at once (exit code 0)
    pool = WorkerPool(2, _tasks.init_with_teardown, (str(tmp_path),))
    assert [r[0] for r in pool.map(_tasks.work, [("ok", 1), ("ok", 2)])] == [1, 2]
    processes = [w.process for w in pool._workers]
    pool.close()
    assert [p.exitcode for p in processes] == [0, 0]
    assert list(tmp_path.iterdir()) == []
