"""Evaluation pipeline without training: cheap metrics and constraints come first, so an
infeasible candidate never reaches a worker; hardware metrics plug in as objectives."""

from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.config import load_config
from evoapproxnas.search.evaluation import Evaluator
from evoapproxnas.search.problem import CampaignProblem, load_data, training_seed
from evoapproxnas.search.study.archive import Archive
from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.study.results import vectors
from evoapproxnas.search.tasks import TrainOutcome

TINY = Path(__file__).parent / "tiny.toml"


class NoTraining:
    def map(self, *args, **kwargs):
        raise AssertionError("an infeasible candidate was sent to training")


def problem_for(*overrides):
    cfg = load_config(TINY, list(overrides))
    data = load_data(cfg)
    return CampaignProblem.build(cfg, data.input_shape, data.n_classes)


def test_infeasible_candidates_are_recorded_without_training(tmp_path):
    problem = problem_for("search.constraints=['params <= 1']")
    archive = Archive(tmp_path / "archive.jsonl")
    rng = np.random.default_rng(0)
    genomes = [problem.space.sample(rng) for _ in range(4)]
    records = Evaluator(problem, archive, {}, NoTraining()).evaluate(genomes, 0)
    assert [r.status for r in records] == ["infeasible"] * 4
    assert all("violates params <= 1" in r.reason for r in records)
    unique = {r.hash for r in records}
    assert [r.hash for r in archive.records()] == sorted(unique, key=[
        r.hash for r in records].index)
    F, cv = vectors(records, problem.cfg.search.objectives)
    assert np.all(F[:, 0] == 1.0)  # untrained: worst error
    expected = [(r.metrics["params"] - 1) / 1 for r in records]
    assert cv == pytest.approx(expected)


def test_cheap_metrics_match_the_cgp_counts(tmp_path):
    from evoapproxnas.cgp import count_multiplications, count_params

    problem = problem_for()
    genome = problem.space.sample(np.random.default_rng(3))
    graph = problem.decode(genome)
    metrics = problem.cheap_metrics(graph)
    assert metrics["params"] == count_params(graph)
    counts = count_multiplications(graph)
    power = sum(n * (problem.multipliers[g].power_mw if g is not None else 0.391)
                for g, n in counts.items())
    assert metrics["power_mw"] == pytest.approx(power)  # 0.391 mW: mul8u_1JFF, published
    assert metrics["multiplications"] == sum(counts.values())


def test_hardware_metric_as_objective_is_negated_when_maximized(tmp_path):
    problem = problem_for("hardware.model=asic", "search.objectives=['error','fps']",
                          "search.hv_reference.fps=0")
    genome = problem.space.sample(np.random.default_rng(1))
    metrics = problem.cheap_metrics(problem.decode(genome))
    assert metrics["fps"] > 0
    record = EvaluationRecord(hash="h", generation=0, index=0, genome=[], status="ok",
                              reason=None, violation=0.0, metrics=metrics, seed=0,
                              objectives={"error": 0.25, "fps": metrics["fps"]})
    F, cv = vectors([record], ["error", "fps"])
    assert F.tolist() == [[0.25, -metrics["fps"]]] and cv.tolist() == [0.0]


def test_training_seed_depends_on_campaign_seed_and_hash_only():
    assert training_seed(1, "abc") == training_seed(1, "abc")
    assert training_seed(1, "abc") != training_seed(2, "abc")
    assert training_seed(1, "abc") != training_seed(1, "abd")


def test_the_hardware_search_runs_once_per_genome_for_filter_and_evaluation(tmp_path):
    problem = problem_for("hardware.model=asic", "search.objectives=['error','fps']",
                          "search.hv_reference.fps=0", "search.constraints=['params <= 1']")
    calls = []
    priced = problem.cheap_metrics
    problem.cheap_metrics = lambda graph: calls.append(graph) or priced(graph)
    genome = problem.space.sample(np.random.default_rng(1))  # re-drawn: every draw is infeasible
    assert not problem.meets_cheap_constraints(genome)
    n_draws = len(calls)
    assert n_draws >= 2
    archive = Archive(tmp_path / "archive.jsonl")
    [record] = Evaluator(problem, archive, {}, NoTraining()).evaluate([genome], 0)
    assert len(calls) == n_draws  # the filter's pricing was reused, not recomputed
    assert record.status == "infeasible" and record.metrics["fps"] > 0
    assert record.metrics == priced(problem.decode(genome))
    record.metrics["multipliers"].clear()  # a record's metrics are its own copy
    assert problem.price(genome)["multipliers"]


class CrashRetriedFirst:
    """Stands in for the worker pool: every candidate trains; the first one's result comes
    from the crash-retry environment (``worker.CRASH_RETRY_ENV``)."""

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        results = []
        for i in range(len(payloads)):
            results.append(TrainOutcome(status="ok", reason=None, val_accuracy=0.5,
                            val_accuracy_exact=0.5, train_seconds=1.0,
                            eval_seconds=1.0, crash_retry=i == 0))
            if on_result:
                on_result(i, results[-1])
        return results


def test_a_candidate_trained_again_after_a_crash_says_so(tmp_path):
    from evoapproxnas.search.worker import CRASH_RETRY_NOTE

    problem = problem_for("fidelity.rungs=[]")
    rng = np.random.default_rng(5)
    genomes = [problem.space.sample(rng) for _ in range(3)]
    records = Evaluator(problem, Archive(tmp_path / "a.jsonl"), {},
                        CrashRetriedFirst()).evaluate(genomes, 0)
    trained = [r for r in records if r.status == "ok"]
    assert len(trained) >= 2
    assert [r.reason for r in trained].count(CRASH_RETRY_NOTE) == 1
    assert [r.reason for r in trained].count(None) == len(trained) - 1
