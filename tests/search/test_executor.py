"""Worker pool: results in order, each failure isolated, dead workers replaced."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _tasks

from evoapproxnas.search.executor import TaskFailure, WorkerPool


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
