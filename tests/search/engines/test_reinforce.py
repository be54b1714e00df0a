"""The REINFORCE controller: its policy's probabilities and gradients against brute force
and finite differences, the reward against hand-computed values, learning on a toy space
with a known optimum, exact restore from a pickle, and tiny campaigns (no training: the
``InstantWorkers`` stand-in) that are killed mid-batch and resumed to the same archive,
front and controller state, on the layer-list and on the CGP space: killed by an exception
in-process, and by a real SIGKILL of a campaign process."""

from __future__ import annotations

import itertools
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _fakes import InstantWorkers

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.engines import make_engine
from evoapproxnas.search.engines.controller import GRUPolicy
from evoapproxnas.search.engines.reinforce import ControllerConfig, ReinforceEngine, Reward
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.spaces.registry import Decision
from evoapproxnas.search.study.checkpoint import load_checkpoint

TINY = Path(__file__).parents[1] / "tiny.toml"
SIZES = [4, 3, 5, 2, 4, 3, 6, 2, 4, 4]
TARGET = np.array([3, 0, 4, 1, 2, 2, 5, 0, 1, 3])


class ToyDecisions:
    """Ten categorical decisions; the best candidate is ``TARGET``."""

    def decisions(self):
        return [Decision(f"d{i}", n) for i, n in enumerate(SIZES)]

    def compose(self, options):
        return np.asarray(options, dtype=np.int64)


def toy_objectives(X) -> np.ndarray:
    """(share of decisions off target, 0): the reward is minus the first."""
    X = np.asarray(X)
    return np.c_[(X != TARGET).mean(axis=1), np.zeros(len(X))]


def test_policy_probabilities_sum_to_one_and_match_sampling():
    rng = np.random.default_rng(0)
    policy = GRUPolicy([3, 2, 4], 5, 3, rng)
    every = np.array(list(itertools.product(range(3), range(2), range(4))))
    p = np.exp(policy.log_probs(every))
    assert p.sum() == pytest.approx(1.0, abs=1e-12)  # brute force over all 24 sequences
    drawn = policy.sample(20000, np.random.default_rng(1))
    index = {tuple(row): i for i, row in enumerate(every)}
    freq = np.bincount([index[tuple(r)] for r in drawn], minlength=len(every)) / len(drawn)
    assert np.abs(freq - p).max() < 0.015  # ~4 standard errors at p = 1/24


@pytest.mark.parametrize("entropy_weight", [0.0, 0.3])
def test_policy_gradient_equals_finite_differences(entropy_weight):
    rng = np.random.default_rng(2)
    policy = GRUPolicy([3, 2, 4, 3], 5, 3, rng)
    actions = policy.sample(6, rng)
    adv = rng.normal(size=6)
    _, grads = policy.loss_and_grads(actions, adv, entropy_weight)

    def loss() -> float:
        if entropy_weight == 0:  # independent of the backward pass: the forward only
            return float(-(adv * policy.log_probs(actions)).mean())
        return policy.loss_and_grads(actions, adv, entropy_weight)[0]

    eps = 1e-6
    for name, value in policy.params.items():
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + eps
            up = loss()
            value[i] = keep - eps
            down = loss()
            value[i] = keep
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_reward_by_hand():
    reward = Reward(weights=(1.0, 0.5), scales=(1.0, 1e6), violation_penalty=2.0)
    F = np.array([[0.2, 4e5], [0.1, 0.0], [0.2, 4e5], [0.3, 1e5]])
    cv = np.array([0.0, 0.0, 0.25, 1000.0])
    # feasible: -(0.2 + 0.5 * 0.4) = -0.4 and -0.1; infeasible: -(1 + 0.5) - 2 * (1 + cv)
    np.testing.assert_allclose(reward(F, cv), [-0.4, -0.1, -1.5 - 2.5, -1.5 - 4.0])


def toy_run(seed: int, generations: int, restore_every: bool = False):
    engine = ReinforceEngine(ToyDecisions(), 2, 16, seed,
                             reward=Reward((1.0, 0.0), (1.0, 1.0)))
    asked = []
    for _ in range(generations):
        X = engine.ask()
        asked.append(np.array(X))
        engine.tell(toy_objectives(X), np.zeros(len(X)))
        if restore_every:
            engine = pickle.loads(pickle.dumps(engine))
    return engine, asked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_controller_raises_the_reward_towards_the_known_optimum(seed):
    engine, asked = toy_run(seed, 60)
    first = -toy_objectives(asked[0])[:, 0].mean()
    last = -np.mean([toy_objectives(X)[:, 0].mean() for X in asked[-5:]])
    assert first < -0.5  # a random policy is off target on ~70 % of the decisions
    assert last > -0.15, (first, last)
    greedy = np.array([np.argmax(p) for p in engine.probabilities()])
    assert (greedy == TARGET).mean() >= 0.8


def test_same_seed_same_candidates_and_exact_restore():
    engine, first = toy_run(5, 8)
    restored, again = toy_run(5, 8, restore_every=True)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    for name, value in engine.policy.params.items():
        assert np.array_equal(value, restored.policy.params[name])
    assert engine.optimizer.steps == restored.optimizer.steps == 8
    _, other = toy_run(6, 8)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_config_options_reach_the_engine():
    from evoapproxnas.config import load_config

    cfg = load_config(TINY, ["search.engine=reinforce", "space.kind=layers",
                             "controller.hidden_units=7", "controller.reward_weights={params=0}",
                             "search.hv_reference={params=2e5}"])
    from evoapproxnas.search.problem import CampaignProblem

    problem = CampaignProblem.build(cfg, (8, 8, 1), 3)
    engine = make_engine("reinforce", problem.space, 3, 3, 1, config=cfg)
    assert engine.policy.params["Uh"].shape == (7, 7)
    assert engine.reward.weights == (1.0, 1.0, 0.0)
    assert engine.reward.scales == (1.0, 1.0, 2e5)
    assert isinstance(engine.config, ControllerConfig)


class Killed(Exception):
    """The process "dies" (the exception leaves run_campaign as a SIGKILL would)."""


class DiesAfter(InstantWorkers):
    """Trains ``k`` candidates (each archived as it finishes), then the process dies."""

    def __init__(self, k: int) -> None:
        self.k, self.done = k, 0

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(index, result):
            if on_result:
                on_result(index, result)
            self.done += 1
            if self.done >= self.k:
                raise Killed

        return super().map(fn, payloads, timeout_s, done)


def outcome(run_dir: Path):
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(run_dir)
    records = [(r.hash, r.generation, r.index, r.status.value, r.genome, r.objectives)
               for r in run.records()]
    engine = load_checkpoint(run_dir).engine
    return records, [m.record.hash for m in run.front().members], engine


@pytest.mark.parametrize("kind", ["layers", "cgp"])
def test_campaign_killed_mid_batch_resumes_exactly(tmp_path, kind):
    overrides = ["search.engine=reinforce", f"space.kind={kind}", "search.population=4",
                 "search.generations=4", "search.constraints=['params <= 100000']"]
    ref = create_run(TINY, tmp_path / "reference", overrides)
    run_campaign(ref.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=InstantWorkers())
    records, front, engine = outcome(ref.path)
    assert {r[1] for r in records} == {0, 1, 2, 3} and front
    assert len(engine.updates) == 4
    if kind == "layers":  # the constraint prunes some candidates before any training
        assert any(r[3] == "infeasible" for r in records)

    killed = create_run(TINY, tmp_path / "killed", overrides)
    invocations = 0
    while True:
        invocations += 1
        try:
            run_campaign(killed.path, reporter=SilentReporter(), evaluate_test=False,
                         pool=DiesAfter(3))
            break
        except Killed:
            assert invocations < 50
    assert invocations > 2  # killed inside batches, not only between them
    again, front_again, engine_again = outcome(killed.path)
    assert again == records and front_again == front
    assert engine_again.updates == engine.updates
    for name, value in engine.policy.params.items():
        assert np.array_equal(value, engine_again.policy.params[name])
    assert engine_again.baseline == engine.baseline
    assert np.array_equal(engine_again.rng.random(3), engine.rng.random(3))


SIGKILLED = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])  # tests/: _fakes
from _fakes import InstantWorkers
from evoapproxnas.search.campaign import run_campaign
from evoapproxnas.search.reporting import SilentReporter


class KilledAfter(InstantWorkers):
    # SIGKILLs its own process when the k-th candidate has trained: after archiving it
    # ("after") or before ("before": it is lost and trained again on resume)
    def __init__(self, k, when):
        self.k, self.when, self.done = k, when, 0

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(index, result):
            self.done += 1
            if self.done >= self.k and self.when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            if on_result:
                on_result(index, result)
            if self.done >= self.k:
                os.kill(os.getpid(), signal.SIGKILL)

        return super().map(fn, payloads, timeout_s, done)


run_campaign(sys.argv[2], reporter=SilentReporter(), evaluate_test=False,
             pool=KilledAfter(int(sys.argv[3]), sys.argv[4]))
"""
"""A campaign process that SIGKILLs itself at a chosen candidate: no exception handler,
``finally`` block or ``atexit`` of it runs, as when the machine's OOM killer strikes."""


def test_campaign_sigkilled_mid_batch_resumes_exactly(tmp_path):
    overrides = ["search.engine=reinforce", "space.kind=layers", "search.population=4",
                 "search.generations=3", "search.constraints=['params <= 100000']"]
    ref = create_run(TINY, tmp_path / "reference", overrides)
    run_campaign(ref.path, reporter=SilentReporter(), evaluate_test=False,
                 pool=InstantWorkers())
    records, front, engine = outcome(ref.path)
    assert {r[1] for r in records} == {0, 1, 2} and front

    killed = create_run(TINY, tmp_path / "killed", overrides)
    kills = itertools.cycle([(3, "after"), (2, "before"), (5, "after")])
    statuses = []
    while not statuses or statuses[-1] != 0:
        k, when = next(kills)
        proc = subprocess.run([sys.executable, "-c", SIGKILLED, str(Path(__file__).parents[2]),
                               str(killed.path), str(k), when], capture_output=True, text=True,
                              timeout=120)
        statuses.append(proc.returncode)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
        assert len(statuses) < 20, "the run does not progress"
    assert statuses.count(-signal.SIGKILL) >= 2
    again, front_again, engine_again = outcome(killed.path)
    assert again == records and front_again == front
    assert engine_again.updates == engine.updates
    for name, value in engine.policy.params.items():
        assert np.array_equal(value, engine_again.policy.params[name])
    for moments in ("m", "v"):  # Adam's state
        for name, value in getattr(engine.optimizer, moments).items():
            assert np.array_equal(value, getattr(engine_again.optimizer, moments)[name])
    assert engine_again.optimizer.steps == engine.optimizer.steps
    assert engine_again.baseline == engine.baseline
    assert engine_again.rng.bit_generator.state == engine.rng.bit_generator.state
