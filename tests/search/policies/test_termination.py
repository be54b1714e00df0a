"""The wall-clock budget (``search.time_budget_s``): when a search ends early, what the run
then is, and that a resume keeps the decision (no training: a stand-in pool on a fake
clock)."""

import json
from pathlib import Path

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.search import campaign
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.policies import termination as budget
from evoapproxnas.search.policies.termination import over_budget, repricing_estimate
from evoapproxnas.search.reporting import ConsoleReporter, SilentReporter
from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.study.checkpoint import load_checkpoint
from evoapproxnas.search.tasks import TrainOutcome

TINY = Path(__file__).parents[1] / "tiny.toml"
REPRICE = ["training.epochs=3", "training.table_epochs=1", "fidelity.rungs=[1]", "fidelity.eta=2",
           "search.population=6", "fidelity.inherit_epochs=1", "fidelity.final_repricing=1",
           "fidelity.final_repricing_epochs=2", "cgp.uniform_multiplier_rate=0.0"]


class FakeTime:
    """``time.perf_counter`` of the budget and the campaign: only training advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class SlowWorkers:
    """Each training "takes" ``seconds`` of the fake clock; accuracy a function of the hash
    and the epochs."""

    def __init__(self, clock: FakeTime, seconds: float) -> None:
        self.clock, self.seconds, self.done, self.heir_epochs = clock, seconds, 0, []

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        results = []
        for i, payload in enumerate(payloads):
            self.clock.now += self.seconds
            h = int(payload.hash[:6], 16)
            acc = 0.3 + 0.4 * (h % 997) / 997 + 0.1 * payload.epochs * ((h >> 8) % 7) / 7
            results.append(TrainOutcome(status="ok", reason=None, val_accuracy=acc,
                            val_accuracy_exact=acc, train_seconds=self.seconds,
                            eval_seconds=0.0))
            self.done += 1
            if payload.inherit_from:
                self.heir_epochs.append(payload.inherit_epochs)
            if on_result:
                on_result(i, results[-1])
        return results


@pytest.fixture
def clock(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(budget, "time", fake)
    monkeypatch.setattr(campaign, "time", fake)
    return fake


def archived(run) -> list[dict]:
    return sorted((r.without_timings() for r in read_records(run.path / "archive.jsonl")),
                  key=lambda r: r["hash"])


def test_over_budget_counts_the_mean_generation_and_the_reserve():
    assert over_budget(100.0, 50.0, [20.0, 30.0], 25.0) is None  # 50 + 25 + 25 = 100
    why = over_budget(100.0, 50.0, [20.0, 30.0], 26.0)
    assert why is not None and "100 s" in why and "25 s" in why
    assert over_budget(0.0, 1e9, [1e9], 1e9) is None  # no budget
    assert over_budget(1.0, 1e9, [], 0.0) is None  # the first generation always runs
    assert repricing_estimate(3, 6, [40.0, 80.0]) == pytest.approx(30.0)
    assert repricing_estimate(0, 6, [40.0]) == 0.0 and repricing_estimate(3, 6, []) == 0.0


def test_a_budget_ends_the_search_with_the_run_of_fewer_generations(tmp_path, clock, capsys):
    overrides = [*REPRICE, "search.generations=10", "search.time_budget_s=300"]
    run = create_run(TINY, tmp_path / "budget", overrides)
    workers = SlowWorkers(clock, 10.0)
    run_campaign(run.path, reporter=ConsoleReporter(), evaluate_test=False, pool=workers)
    history = run.history()
    done = len(history) - 1  # the last entry is the re-pricing
    assert 1 <= done < 10 and [h.generation for h in history] == list(range(done + 1))
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "finished"
    assert f"after {done} of 10 generations" in meta["ended_early"]
    assert meta["ended_early"] in capsys.readouterr().err
    # within the budget by the estimate it was made with: the re-pricing fine-tunes with
    # final_repricing_epochs even in a run the budget shortened
    assert clock.now <= 300 and workers.heir_epochs and set(workers.heir_epochs) == {2}
    # the same run as one asked for that many generations and no budget
    plain = create_run(TINY, tmp_path / "plain", [*REPRICE, f"search.generations={done}"])
    run_campaign(plain.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=SlowWorkers(clock, 10.0))
    assert archived(run) == archived(plain)
    assert [m.record.hash for m in run.front().members] == [
        m.record.hash for m in plain.front().members]
    # a resume keeps the decision: nothing more is trained, whatever the clock says, even
    # when both checkpoints are lost (the search is replayed against the archive)
    clock.now = 0.0
    again = SlowWorkers(clock, 10.0)
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=again)
    assert again.done == 0 and archived(run) == archived(plain)
    for name in ("checkpoint.pkl", "checkpoint.prev.pkl"):
        (run.path / name).unlink()
    replayed = SlowWorkers(clock, 10.0)
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=replayed)
    assert replayed.done == 0 and archived(run) == archived(plain)
    assert [h.generation for h in run.history()] == list(range(done + 1))


def test_a_generous_budget_changes_nothing(tmp_path, clock):
    budgeted = create_run(TINY, tmp_path / "a", [*REPRICE, "search.generations=3",
                                                 "search.time_budget_s=100000"])
    run_campaign(budgeted.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=SlowWorkers(clock, 10.0))
    plain = create_run(TINY, tmp_path / "b", [*REPRICE, "search.generations=3"])
    run_campaign(plain.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=SlowWorkers(clock, 10.0))
    assert archived(budgeted) == archived(plain)
    assert "ended_early" not in json.loads((budgeted.path / "run.json").read_text())


def test_the_clock_counts_every_invocation_of_a_run(tmp_path, clock):
    run = create_run(TINY, tmp_path / "run", [*REPRICE, "search.generations=2",
                                              "search.time_budget_s=100000"])

    class Killed(Exception):
        pass

    class DiesInGenerationTwo(SlowWorkers):
        def map(self, fn, payloads, timeout_s=None, on_result=None):
            if load_checkpoint(run.path) is not None:
                raise Killed
            return super().map(fn, payloads, timeout_s, on_result)

    with pytest.raises(Killed):
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=DiesInGenerationTwo(clock, 10.0))
    spent = load_checkpoint(run.path).elapsed_s
    assert spent > 0 and load_checkpoint(run.path).generation_s == [spent]
    clock.now = 0.0  # a new process: its own clock starts from zero
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=SlowWorkers(clock, 10.0))
    state = load_checkpoint(run.path)
    assert state.elapsed_s == pytest.approx(spent + clock.now)


@pytest.mark.parametrize("value, allowed", [("-1", ">= 0"), ("'soon'", "must be a number")])
def test_a_bad_budget_is_a_clear_error(tmp_path, value, allowed):
    with pytest.raises(UserError, match=allowed):
        create_run(TINY, tmp_path / "run", [f"search.time_budget_s={value}"])
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="generational mode only"):
        create_run(TINY, tmp_path / "run", ["search.time_budget_s=60",
                                            "search.mode=asynchronous",
                                            "executor.kind=dask"])
