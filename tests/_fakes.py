"""Stand-ins and plain references shared by the tests (importable from every test folder:
tests/conftest.py puts this folder on ``sys.path``)."""

from evoapproxnas.search.tasks import TestOutcome, TestTask, TrainOutcome


class InstantWorkers:
    """A pool that trains and tests in no time: accuracies are functions of the candidate's
    hash (the same candidate, the same accuracy, in every run)."""

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        results = []
        for i, payload in enumerate(payloads):
            acc = int(payload.hash[:4], 16) / 0xFFFF
            if isinstance(payload, TestTask):
                results.append(TestOutcome(test_accuracy=acc, val_accuracy=acc))
            else:
                results.append(TrainOutcome(status="ok", val_accuracy=acc,
                                            val_accuracy_exact=acc))
            if on_result:
                on_result(i, results[-1])
        return results

    def close(self) -> None:
        pass


def require_dask_extra() -> None:
    """scripts/setup.sh installs the [dask] extra: without it a test that needs it fails (the
    rest of the suite still runs); it is not skipped."""
    import pytest

    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"the [dask] extra is not installed (run scripts/setup.sh): {exc}",
                    pytrace=False)


def kill_when(proc, ready, timeout_s: float = 300, poll_s: float = 0.05) -> None:
    """SIGKILL the subprocess ``proc`` as soon as ``ready()`` is true (checked every
    ``poll_s``), then reap it; the test fails if the process ended first (nothing was killed,
    so a resume test would prove nothing)."""
    import signal
    import time

    import pytest

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(poll_s)
    if proc.poll() is not None:
        err = proc.communicate()[1]
        pytest.fail(f"the run ended before it could be killed: {(err or '')[-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def cheapest_within(drops, power, tolerance):
    """Plain-Python reference of the assignment space's sensitivity guide for one tolerance:
    per layer (a row of ``drops``), the cheapest multiplier whose drop is within it (ties:
    smaller drop, then lower gene), or the least harmful one where none is."""
    genes = []
    for row in drops:
        within = [j for j in range(len(row)) if row[j] <= tolerance]
        if not within:
            genes.append(min(range(len(row)), key=lambda j: row[j]))
        else:
            genes.append(min(within, key=lambda j: (power[j], row[j], j)))
    return tuple(genes)
