"""The asynchronous (steady-state) loop without training: workers never wait for a
generation, the archive is written in completion order, and a run stopped at any point
resumes by replaying its archive to exactly the uninterrupted result."""

from pathlib import Path

import pytest

from evoapproxnas.config import load_config
from evoapproxnas.search.asynchronous import run_asynchronous
from evoapproxnas.search.evaluation import Evaluator
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.rundir import RunDir
from evoapproxnas.search.tasks import TrainOutcome

TINY = Path(__file__).parent / "tiny.toml"
SETTINGS = ["executor.kind=dask", "search.mode=asynchronous", "search.population=4",
            "search.generations=5", "executor.workers=3", "search.constraints=['params <= 400']"]


class Stop(Exception):
    pass


class FakeWorkers:
    """Stands in for a cluster: completes the in-flight candidate whose hash is smallest
    (uneven, payload-determined speeds), with an accuracy that is a function of the hash;
    raises ``Stop`` (a killed client) after ``stop_after`` completions."""

    def __init__(self, workers: int, stop_after: int | None = None) -> None:
        self.workers, self.stop_after = workers, stop_after
        self.in_flight: dict[str, dict] = {}
        self.done = 0
        self.most_in_flight = 0

    def submit(self, fn, payload, tag, timeout_s=None) -> None:
        assert tag == payload.hash
        self.in_flight[tag] = payload
        assert len(self.in_flight) <= self.workers, "more tasks than workers"
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))

    def next_done(self):
        if self.stop_after is not None and self.done >= self.stop_after:
            raise Stop
        tag = min(self.in_flight)
        self.in_flight.pop(tag)
        self.done += 1
        acc = int(tag[:4], 16) / 0xFFFF
        return tag, TrainOutcome(status="ok", reason=None, val_accuracy=acc,
                     val_accuracy_exact=acc, train_seconds=1.0, eval_seconds=0.1)


def campaign(run: RunDir, workers: FakeWorkers, redraw: bool = True):
    cache = {r.hash: r for r in run.records()}
    evaluator = Evaluator(run.problem, run.archive, cache, workers)
    if not redraw:  # let candidates that break a constraint through, to see them settled
        evaluator.problem.space.set_filter(None)
    return run_asynchronous(run.config, run, evaluator, reporter=SilentReporter())


def new_run(path: Path) -> RunDir:
    return RunDir.create(path, load_config(TINY, SETTINGS), (8, 8, 1), 3, str(TINY))


def test_workers_stay_busy_and_every_ask_is_answered(tmp_path):
    run = new_run(tmp_path / "run")
    workers = FakeWorkers(3)
    history = campaign(run, workers, redraw=False)
    records = run.records()
    assert workers.most_in_flight == 3
    assert len(records) == len({r.hash for r in records}) <= 4 * 5
    assert {r.status for r in records} >= {"ok", "infeasible"}
    assert len(history) == 5 and sum(len(h.population) for h in history) == 20
    trained = [r for r in records if r.status == "ok"]
    order = [r.hash for r in trained]
    assert order != sorted(order)  # archived in completion order, not ask order


def test_candidates_that_break_a_cheap_constraint_are_redrawn(tmp_path):
    run = new_run(tmp_path / "run")
    campaign(run, FakeWorkers(3))
    records = run.records()
    assert len(records) == 20 and all(r.status == "ok" for r in records)
    assert all(r.metrics["params"] <= 400 for r in records)


@pytest.mark.parametrize("stop_after", [0, 1, 4, 7])
def test_resume_replays_the_archive_to_the_uninterrupted_result(tmp_path, stop_after):
    whole = new_run(tmp_path / "whole")
    campaign(whole, FakeWorkers(3))
    parted = new_run(tmp_path / "parted")
    with pytest.raises(Stop):
        campaign(parted, FakeWorkers(3, stop_after=stop_after))
    assert len(parted.records()) < len(whole.records())
    campaign(parted, FakeWorkers(3))
    a = [r.without_timings() for r in whole.records()]
    b = [r.without_timings() for r in parted.records()]
    assert a == b  # the same records in the same order
    assert whole.history() == parted.history()


def test_an_archive_of_another_search_is_refused(tmp_path):
    run = new_run(tmp_path / "run")
    campaign(run, FakeWorkers(3))
    other = RunDir.create(tmp_path / "other", load_config(TINY, SETTINGS + ["search.seed=99"]),
                          (8, 8, 1), 3, str(TINY))
    (other.path / "archive.jsonl").write_bytes((run.path / "archive.jsonl").read_bytes())
    from evoapproxnas.errors import UserError

    with pytest.raises(UserError, match="does not replay"):
        campaign(other, FakeWorkers(3))
