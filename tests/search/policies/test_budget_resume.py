"""A run under a binding ``search.time_budget_s``, killed anywhere inside its generations and
resumed, ends after the generations of the uninterrupted run, with its archive: the clock is
saved with every finished candidate (``clock.json``). No training: the stand-in pool of
``policies/test_termination.py`` on its fake clock, kills simulated by an exception after k candidates."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import test_termination
from test_termination import REPRICE, TINY, SlowWorkers, archived

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.policies.termination import WallClock, checked_snapshot
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.checkpoint import Checkpoint, load_checkpoint

clock = test_termination.clock  # the fake perf_counter of budget and campaign (a fixture)
BUDGETED = [*REPRICE, "search.generations=10", "search.time_budget_s=500"]
SECONDS = 10.0  # fake seconds per training


class Killed(Exception):
    """The process "dies" (the exception leaves run_campaign as a SIGKILL would)."""


class DiesAfter(SlowWorkers):
    """Trains ``k`` candidates (archived and clocked), then the process is killed."""

    def __init__(self, clock, k: int) -> None:
        super().__init__(clock, SECONDS)
        self.k = k

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(index, result):
            if on_result:
                on_result(index, result)
            if self.done >= self.k:
                raise Killed

        return super().map(fn, payloads, timeout_s, done)


def outcome(run) -> dict:
    """What must not depend on kills: the archive, the generations run (history and
    ``run.json``), the clock's figures and the front."""
    state = load_checkpoint(run.path)
    meta = json.loads((run.path / "run.json").read_text())
    return {"archive": archived(run), "history": [h.generation for h in run.history()],
            "ended_early": meta.get("ended_early"), "status": meta["status"],
            "elapsed_s": state.elapsed_s, "generation_s": state.generation_s,
            "front": [m.record.hash for m in run.front().members]}


@pytest.fixture
def reference(tmp_path, clock) -> dict:
    run = create_run(TINY, tmp_path / "reference", BUDGETED)
    workers = SlowWorkers(clock, SECONDS)
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=workers)
    result = outcome(run)
    done = len(result["history"]) - 1  # the last entry is the re-pricing
    assert 1 < done < 10, "the budget must bind after a few generations"
    result["trainings"] = workers.done
    return result


def run_with_kills(run, clock, every: int, lose_checkpoints: bool = False) -> tuple[int, int]:
    """Run ``run`` to its end, killed after every ``every`` trainings; each resume is a new
    process whose clock starts anywhere (downtime is not spent). Returns the invocations and
    the trainings of them all."""
    invocations = trainings = 0
    while True:
        clock.now = 1e6 * invocations  # the new process's perf_counter origin
        invocations += 1
        workers = DiesAfter(clock, every)
        try:
            run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=workers)
            return invocations, trainings + workers.done
        except Killed:
            trainings += workers.done
            if lose_checkpoints:
                for name in ("checkpoint.pkl", "checkpoint.prev.pkl"):
                    (run.path / name).unlink(missing_ok=True)
        assert invocations < 200, "the run does not progress"


@pytest.mark.parametrize("every", [1, 3, 4, 7])
def test_killed_inside_generations_ends_after_the_same_generations(tmp_path, clock, reference,
                                                                   every):
    run = create_run(TINY, tmp_path / "killed", BUDGETED)
    invocations, trainings = run_with_kills(run, clock, every)
    assert invocations >= reference["trainings"] // every  # killed that often
    # nothing is trained twice: a candidate trained while an earlier one of its batch was
    # still training waited in the journal, not only in the killed process
    assert trainings == reference["trainings"]
    result = outcome(run)
    assert result == {k: v for k, v in reference.items() if k != "trainings"}


def test_killed_with_its_checkpoints_lost_ends_after_the_same_generations(tmp_path, clock,
                                                                          reference):
    run = create_run(TINY, tmp_path / "killed", BUDGETED)
    assert run_with_kills(run, clock, 5, lose_checkpoints=True) == (
        -(-reference["trainings"] // 5), reference["trainings"])
    result = outcome(run)
    assert result == {k: v for k, v in reference.items() if k != "trainings"}


def test_the_clock_file_holds_the_seconds_of_the_last_candidate(tmp_path, clock):
    run = create_run(TINY, tmp_path / "run", BUDGETED)
    with pytest.raises(Killed):  # 3 trainings into generation 2 (10 in the first)
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=DiesAfter(clock, 13))
    state = load_checkpoint(run.path)
    assert state.generation == 1 and state.elapsed_s == 10 * SECONDS
    # the checkpoint has the first generation; the clock file the 3 trainings after it, and
    # when the generation they belong to began
    assert json.loads((run.path / "clock.json").read_text()) == {
        "elapsed_s": 13 * SECONDS, "generation_s": [10 * SECONDS], "generation": 1,
        "generation_start_s": 10 * SECONDS}


def test_a_damaged_clock_file_falls_back_on_the_checkpoint():
    state = Checkpoint(engine=None, generation=2, elapsed_s=40.0, generation_s=[20.0, 20.0])
    for bad in (None, [], "x", {"elapsed_s": -1, "generation_s": []},
                {"elapsed_s": float("nan"), "generation_s": []},
                {"elapsed_s": 50.0, "generation_s": ["x"]},
                {"elapsed_s": 50.0, "generation_s": [], "generation": "2",
                 "generation_start_s": 1.0},
                {"elapsed_s": 50.0, "generation_s": [], "generation": 2,
                 "generation_start_s": None}):
        assert checked_snapshot(bad) == {}
        clock = WallClock(replace(state), bad)
        assert clock.durations == [20.0, 20.0] and not clock.begun(2)
        assert 40.0 <= clock.elapsed() < 41.0
    good = {"elapsed_s": 55.0, "generation_s": [20.0, 20.0], "generation": 2,
            "generation_start_s": 41.0}
    clock = WallClock(replace(state), good)
    assert clock.begun(2) and not clock.begun(3) and 55.0 <= clock.elapsed() < 56.0
