"""The predictor-assisted search (``search.predictor``): the learned accuracy predictor
against a mean predictor on a seeded toy archive, the selection of the offspring to train,
and a run killed with SIGKILL that resumes to the uninterrupted run's archive (no training:
the ``InstantWorkers`` stand-in)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _fakes import InstantWorkers, kill_when

from evoapproxnas.cgp import count_params, multiply_layers
from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.policies import predictor as pp
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.reporting import Reporter, SilentReporter
from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.study.records import EvaluationRecord, Status

TINY = Path(__file__).parents[1] / "tiny.toml"
TESTS = Path(__file__).parents[2]
ASSISTED = ["search.predictor=forest", "search.population=4", "search.generations=4",
            "search.predictor_pool=3", "search.predictor_random=1"]


def toy_accuracy(problem, genome, rng) -> float:
    """A made-up but network-dependent accuracy, computed from the graph directly (not from
    the predictor's features): larger networks learn more, erroneous multipliers in the
    layers that do most multiplications cost accuracy; plus a little noise."""
    graph = problem.decode(genome)
    layers = multiply_layers(graph)
    macs = np.array([layer["multiplications"] for layer in layers], float)
    rel = np.array([problem.choice.resolve(layer["multiplier"]).metrics.mre_pct
                    for layer in layers])
    damage = float(macs @ rel / macs.sum()) if macs.sum() else 0.0
    return float(np.clip(0.25 + 0.12 * np.log10(count_params(graph)) - 0.02 * damage
                         + rng.normal(0, 0.01), 0, 1))


def test_the_predictor_beats_a_mean_predictor_on_a_toy_archive():
    cfg = load_config(TINY)
    problem = CampaignProblem.build(cfg, (8, 8, 1), 3)
    rng = np.random.default_rng(33)
    genomes, seen = [], set()
    while len(genomes) < 90:
        g = problem.space.sample(rng)
        if problem.space.key(g) not in seen:
            seen.add(problem.space.key(g))
            genomes.append(g)
    records = [EvaluationRecord(hash=problem.space.key(g), generation=i // 10, index=i % 10,
                                genome=[int(v) for v in g], status=Status.OK, reason=None,
                                violation=0.0, seed=0, fidelity=1,
                                metrics={"val_accuracy": toy_accuracy(problem, g, rng)})
               for i, g in enumerate(genomes)]
    train, held_out = records[:45], records[45:]
    X, y, hashes = pp.training_set(problem, train)
    assert len(y) == 45 and hashes == [r.hash for r in train]
    Xt, yt, _ = pp.training_set(problem, held_out)
    for kind in ("forest", "ridge"):
        model = pp.AccuracyPredictor(kind, seed=1).fit(X, y)
        error = float(np.mean((model.predict(Xt) - yt) ** 2))
        mean_error = float(np.mean((y.mean() - yt) ** 2))
        assert error < 0.5 * mean_error, (kind, error, mean_error)
        assert pp.kendall_tau(model.predict(Xt), yt) > 0.4
    # deterministic: the same archive and seed give the same model
    a = pp.AccuracyPredictor("forest", 7).fit(X, y).predict(Xt)
    assert np.array_equal(a, pp.AccuracyPredictor("forest", 7).fit(X, y).predict(Xt))
    assert not pp.AccuracyPredictor("forest", 7).fit(X[:3], y[:3]).ready


def test_select_keeps_the_predicted_front_then_random_slots():
    # rows: (predicted error, power); 0, 1, 2 are the non-dominated ones, 5 breaks a constraint
    F = np.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [0.6, 0.6], [0.95, 0.95], [0.0, 0.0]])
    cv = np.array([0, 0, 0, 0, 0, 1.0])
    rng = np.random.default_rng(0)
    chosen = pp.select(F, cv, 3, 0, rng)
    assert chosen.kept == [0, 1, 2] and chosen.random == []
    chosen = pp.select(F, cv, 4, 1, rng)
    assert set(chosen.kept) >= {0, 1, 2} and len(chosen.random) == 1
    assert chosen.random[0] in (3, 4, 5)
    picks = [pp.select(F, cv, 3, 1, np.random.default_rng(s)).random[0] for s in range(60)]
    assert set(picks) == {1, 3, 4, 5}  # the best two by crowding: the extremes 0 and 2
    assert pp.select(F, cv, 9, 2, rng).kept == list(range(6))


class Lines(Reporter):
    def __init__(self) -> None:
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)

    def note(self, message: str) -> None:
        self.lines.append(message)

    def progress(self, total: int, desc: str, unit: str = "cand"):
        return None


def test_an_assisted_run_trains_a_population_per_generation_and_logs_tau(tmp_path):
    run = create_run(TINY, tmp_path / "run", ASSISTED)
    lines = Lines()
    run_campaign(run.path, reporter=lines, evaluate_test=False, pool=InstantWorkers())
    records = read_records(run.path / "archive.jsonl")
    for gen in range(4):
        assert sum(r.generation == gen and r.index >= 0 for r in records) <= 4
    gens = [line for line in lines.lines if line.startswith("gen ")]
    assert len(gens) == 4 and "predictor" not in gens[0]
    assert all("predictor tau" in line for line in gens[1:]), gens


def test_predictor_settings_are_one_line_errors():
    for bad, key in ((["search.predictor=forrest"], "search.predictor"),
                     (["search.predictor=forest", "search.predictor_pool=1"],
                      "search.predictor_pool"),
                     (["search.predictor=forest", "search.predictor_random=3"],
                      "search.predictor_random")):
        with pytest.raises(UserError, match=key) as info:
            load_config(TINY, bad)
        assert "\n" not in str(info.value)


CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from _fakes import InstantWorkers
from evoapproxnas.search.campaign import run_campaign
from evoapproxnas.search.reporting import SilentReporter

class Slow(InstantWorkers):
    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(i, result):
            time.sleep(0.15)
            on_result(i, result)
        return super().map(fn, payloads, timeout_s, done)

run_campaign({run!r}, reporter=SilentReporter(), evaluate_test=False, pool=Slow())
"""


def archived(path: Path) -> list[dict]:
    return [r.without_timings() for r in read_records(path / "archive.jsonl")]


@pytest.mark.slow
def test_an_assisted_run_killed_with_sigkill_resumes_to_the_same_archive(tmp_path):
    options = [*ASSISTED, "cgp.multiplier_mutation=neighbour",
               "cgp.multiplier_crossover=0.5"]
    reference = create_run(TINY, tmp_path / "reference", options)
    run_campaign(reference.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=InstantWorkers())
    run = create_run(TINY, tmp_path / "killed", options)
    code = CHILD.format(tests=str(TESTS), run=str(run.path))
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    archive = run.path / "archive.jsonl"
    kill_when(proc, lambda: archive.exists() and len(archive.read_text().splitlines()) >= 8,
              timeout_s=120, poll_s=0.02)  # inside a predictor-chosen generation
    killed_at = len(read_records(archive))
    assert 0 < killed_at < len(archived(reference.path))
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=InstantWorkers())
    assert archived(run.path) == archived(reference.path)
    assert ([m.record.hash for m in run.front().members]
            == [m.record.hash for m in reference.front().members])
