"""The differentiable co-search (``search.engine = "dance"``): its option tables against the
network the campaign decodes, its TensorFlow cost against the numpy evaluator, the
expected features against brute-force enumeration, the settings' checks, and a tiny
campaign end to end (2 lambdas, 1 supernet step, an untrained evaluator; workers replaced
by ``InstantWorkers``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from _fakes import InstantWorkers

from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import layers_from_graph
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import DatasetSettings
from evoapproxnas.hardware.learned.evaluator import write_folder
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.engines.dance import (
    DanceConfig,
    DanceEngine,
    derived_genome,
    option_tables,
)
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.checkpoint import load_checkpoint
from evoapproxnas.search.study.rundir import RunDir

TINY = Path(__file__).parents[1] / "tiny.toml"
GRID = {"dataflow": ["rs", "ws"], "array": [[8, 8], [16, 16]], "glb_kib": [32.0, 108.0]}
DANCE = ["space.kind='layers'", "space.min_layers=2", "space.max_layers=3",
         "space.kernel_sizes=[1,3]", "space.filters=[4,8]", "search.engine='dance'",
         "search.generations=1", "search.objectives=['error','edap']", "hardware.model='asic'",
         "hardware.search=true", "hardware.evaluator='learned'",
         "search.hv_reference={error=1.0, edap=1e30}", "dance.layers=3", "dance.pool_after=[0]",
         "dance.lambdas=[0.0, 50.0]", "dance.train_samples=16", "dance.batch_size=16",
         "fidelity.final_repricing=0"]


def _evaluator(tmp_path, seed=3, pairs=False):
    from hardware.learned.helpers import random_evaluator

    ev = random_evaluator(DatasetSettings(grid=GRID), seed=seed, hidden=8, pairs=pairs)
    return ev, str(write_folder(tmp_path / "ev", ev.spec, ev.weights))


def _problem(tmp_path, extra=(), pairs=False):
    ev, path = _evaluator(tmp_path, pairs=pairs)
    cfg = load_config(TINY, [*DANCE, f"hardware.evaluator_path='{path}'", *extra])
    return ev, cfg, CampaignProblem.build(cfg, (8, 8, 1), 3)


def _rows_of(problem, genome):
    layers = layers_from_graph(problem.decode(genome), problem.choice)
    return E.NetworkTable.from_layers([layers])


def test_option_tables_are_the_decoded_networks_rows(tmp_path):
    _, cfg, problem = _problem(tmp_path)
    space = problem.space
    t = option_tables(space, cfg.dance, problem.choice)
    rng = np.random.default_rng(0)
    for _ in range(6):
        k, f, m = rng.integers(0, 2, 3), rng.integers(0, 2, 3), rng.integers(0, 4, 3)
        table = _rows_of(problem, derived_genome(space, cfg.dance, k, f, m))
        want = E.layer_features(table)
        assert len(want) == 4  # three convolutions and the head
        for i in range(3):
            p = 0 if i == 0 else f[i - 1]
            np.testing.assert_allclose(t.layer_features[i][k[i], f[i], m[i], p], want[i],
                                       rtol=1e-6)
        np.testing.assert_allclose(t.head_features[f[2]], want[3], rtol=1e-6)


def _tf_cost(tmp_path, pairs=False):
    pytest.importorskip("tensorflow")
    from evoapproxnas.search.engines.dance_supernet import SoftCost

    ev, cfg, problem = _problem(tmp_path, pairs=pairs)
    return ev, cfg, problem, SoftCost(ev, option_tables(problem.space, cfg.dance,
                                                        problem.choice))


@pytest.mark.parametrize("pairs", [False, True])
def test_soft_cost_at_a_one_hot_architecture_is_the_numpy_evaluator(tmp_path, pairs):
    import tensorflow as tf

    ev, cfg, problem, cost = _tf_cost(tmp_path, pairs)
    n_points = len(ev.grid.points)
    for k, f, m in [((0, 1, 1), (1, 0, 1), (0, 3, 2)), ((1, 1, 0), (0, 0, 1), (1, 1, 1))]:
        table = _rows_of(problem, derived_genome(problem.space, cfg.dance, k, f, m))
        want = ev.predict_logs(table, np.zeros(n_points, int), np.arange(n_points))
        hot = (tf.one_hot(k, 2), tf.one_hot(f, 2), tf.one_hot(m, 4))
        rows, net = cost.expected(*hot)
        got = cost.log_costs(rows, net, cost.expected_pairs(*hot)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        probs = cost.point_probs(rows, net).numpy()
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert int(np.argmax(probs)) == int(ev.generate(table)[0])


def test_expected_features_are_the_brute_force_expectation(tmp_path):
    """Soft probabilities: each row is the mean of the enumerated one-hot architectures'
    rows (the option tables, checked above against decoded networks), weighted by their
    probability (all 2^3 x 2^3 x 4^3 architectures)."""
    import tensorflow as tf

    ev, cfg, problem, cost = _tf_cost(tmp_path)
    t = option_tables(problem.space, cfg.dance, problem.choice)
    mean, std = ev._norm["layer"]
    rng = np.random.default_rng(1)
    pk, pf, pm = (rng.dirichlet(np.ones(n), 3).astype(np.float32) for n in (2, 2, 4))
    rows, _ = cost.expected(tf.constant(pk), tf.constant(pf), tf.constant(pm))
    want = np.zeros((4, len(E.LAYER_FEATURES)))
    for k in itertools.product(range(2), repeat=3):
        for f in itertools.product(range(2), repeat=3):
            for m in itertools.product(range(4), repeat=3):
                p = np.prod([pk[i, k[i]] * pf[i, f[i]] * pm[i, m[i]] for i in range(3)])
                one = [t.layer_features[i][k[i], f[i], m[i], 0 if i == 0 else f[i - 1]]
                       for i in range(3)] + [t.head_features[f[2]]]
                want += p * (np.asarray(one) - mean) / std
    np.testing.assert_allclose(rows.numpy(), want, rtol=1e-4, atol=1e-4)


def test_settings_are_checked(tmp_path):
    path = "hardware.evaluator_path='x'"
    with pytest.raises(UserError, match=r"dance.lambdas = \[-1.0\] is not allowed"):
        load_config(TINY, [*DANCE, path, "dance.lambdas=[-1.0]"])
    with pytest.raises(UserError, match="dance.pool_after"):
        load_config(TINY, [*DANCE, path, "dance.pool_after=[3]"])
    with pytest.raises(UserError, match="needs a learned evaluator"):
        load_config(TINY, [o for o in DANCE if not o.startswith("hardware.evaluator")])
    with pytest.raises(UserError, match="within space.min_layers"):
        load_config(TINY, [*DANCE, "hardware.evaluator_path='x'", "dance.layers=4"])
    with pytest.raises(UserError, match="space.kind = 'layers'"):
        load_config(TINY, [*DANCE, "hardware.evaluator_path='x'", "space.kind='cgp'"])
    assert DanceConfig().accelerator == "generated"


def test_campaign_archives_one_derived_candidate_per_lambda(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setattr(DanceEngine, "spawn", False)
    _, path = _evaluator(tmp_path)
    runs = []
    for name in ("a", "b"):
        run = create_run(TINY, tmp_path / name, [*DANCE, f"hardware.evaluator_path='{path}'"])
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=InstantWorkers())
        runs.append(RunDir(run.path))
    records = runs[0].records()
    engine = load_checkpoint(runs[0].path).engine
    assert [r.lam for r in engine.results] == [0.0, 50.0]
    keys = {runs[0].problem.space.key(c) for c in engine.candidates}
    assert {r.hash for r in records} == keys and all(r.status == "ok" for r in records)
    assert all(r.metrics["edap"] > 0 for r in records)
    # the same seed, the same search (deterministic)
    assert load_checkpoint(runs[1].path).engine.results == engine.results or \
        [(r.kernel, r.filters, r.multiplier) for r in load_checkpoint(runs[1].path).engine.results] \
        == [(r.kernel, r.filters, r.multiplier) for r in engine.results]
    assert runs[0].front().members
