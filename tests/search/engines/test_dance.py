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


def _arch(rng, n_ops, skippable, n=3):
    """Random one-hot choices: kernels, filters, multipliers, ops (skip where allowed)."""
    ops = [int(rng.integers(0, n_ops if skippable[i] else n_ops - 1)) for i in range(n)]
    return rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 4, n), ops


def _layout(t, f, ops):
    """Brute force: per supernet layer, kept?, stride index, previous kept filters index and
    stride-2 steps before it (the poolings and stride-2 layers before it, simulated)."""
    out, prev, steps = [], None, 0
    for i in range(len(f)):
        name = t.ops[ops[i]]
        kept = name != "skip"
        out.append((kept, int(name == "stride2"), 0 if prev is None else int(f[prev]), steps))
        if kept:
            prev = i
            steps += int(name == "stride2")
        steps += int(i in t.pool_after)
    return out, prev


@pytest.mark.parametrize("min_layers", [1, 2])
def test_option_tables_are_the_decoded_networks_rows(tmp_path, min_layers):
    """Skips, strides 2 and the map sizes they make: the tables' rows are those of the
    decoded network, layer by layer, and its depth is within space.min/max_layers."""
    _, cfg, problem = _problem(tmp_path, [f"space.min_layers={min_layers}"])
    space = problem.space
    t = option_tables(space, cfg.dance, problem.choice)
    assert t.ops == ("conv", "stride2", "skip")
    assert t.skippable == [False, min_layers == 1, True]  # layer 0 pools: never skipped
    rng = np.random.default_rng(0)
    depths = set()
    for _ in range(12):
        k, f, m, ops = _arch(rng, 3, t.skippable)
        genome = derived_genome(space, cfg.dance, k, f, m, ops)
        want = E.layer_features(_rows_of(problem, genome))
        layout, last = _layout(t, f, ops)
        kept = [i for i in range(3) if layout[i][0]]
        depths.add(len(kept))
        assert space.depth(genome) == len(kept) and len(want) == len(kept) + 1
        for row, i in zip(want, kept, strict=False):
            _, s, p, h = layout[i]
            np.testing.assert_allclose(t.layer_features[i][k[i], f[i], m[i], s, p, h], row,
                                       rtol=1e-6)
        np.testing.assert_allclose(t.head_features[f[last]], want[-1], rtol=1e-6)
    assert depths == set(range(min_layers, 4))


def _tf_cost(tmp_path, pairs=False, extra=()):
    pytest.importorskip("tensorflow")
    from evoapproxnas.search.engines.dance_supernet import SoftCost

    ev, cfg, problem = _problem(tmp_path, extra, pairs=pairs)
    return ev, cfg, problem, SoftCost(ev, option_tables(problem.space, cfg.dance,
                                                        problem.choice))


@pytest.mark.parametrize("pairs", [False, True])
def test_soft_cost_at_a_one_hot_architecture_is_the_numpy_evaluator(tmp_path, pairs):
    import tensorflow as tf

    ev, cfg, problem, cost = _tf_cost(tmp_path, pairs, ["space.min_layers=1"])
    n_points = len(ev.grid.points)
    for k, f, m, ops in [((0, 1, 1), (1, 0, 1), (0, 3, 2), (0, 0, 0)),
                         ((1, 1, 0), (0, 0, 1), (1, 1, 1), (1, 2, 1)),
                         ((1, 0, 0), (0, 1, 1), (2, 3, 1), (0, 1, 2)),
                         ((0, 1, 0), (1, 1, 0), (3, 0, 2), (1, 2, 2))]:
        genome = derived_genome(problem.space, cfg.dance, k, f, m, ops)
        table = _rows_of(problem, genome)
        want = ev.predict_logs(table, np.zeros(n_points, int), np.arange(n_points))
        hot = (tf.one_hot(k, 2), tf.one_hot(f, 2), tf.one_hot(m, 4), tf.one_hot(ops, 3))
        rows, net, row_w = cost.expected(*hot)
        got = cost.log_costs(rows, net, cost.expected_pairs(*hot), row_w).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        probs = cost.point_probs(rows, net, row_w).numpy()
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert int(np.argmax(probs)) == int(ev.generate(table)[0])


def test_expected_features_are_the_brute_force_expectation(tmp_path):
    """Soft probabilities over kernels, filters, multipliers and ops (conv, stride 2, skip):
    each layer's keep probability, its expected row given it is kept, the head's row and
    the network summary (total MACs, MAC-weighted figures, row count) are those of the
    enumerated one-hot architectures (2^3 x 2^3 x 4^3 x 2 x 3 x 3), weighted by their
    probability; the rows are looked up by the brute-force layout (previous kept layer,
    stride-2 steps simulated), the tables being checked against decoded networks above."""
    import tensorflow as tf

    ev, cfg, problem, cost = _tf_cost(tmp_path, extra=["space.min_layers=1"])
    t = option_tables(problem.space, cfg.dance, problem.choice)
    mean, std = ev._norm["layer"]
    rng = np.random.default_rng(1)
    pk, pf, pm, po = (rng.dirichlet(np.ones(n), 3).astype(np.float32) for n in (2, 2, 4, 3))
    po[0] = [0.6, 0.4, 0.0]  # layer 0 may not skip
    rows, net, row_w = cost.expected(*(tf.constant(v) for v in (pk, pf, pm, po)))
    keep, sums = np.zeros(3), np.zeros((4, len(E.LAYER_FEATURES)))
    macs, figm, n_rows = 0.0, np.zeros(3), 0.0
    ms = np.array(list(itertools.product(range(4), repeat=3)))  # all 64 multiplier choices
    p_m = np.prod([pm[i, ms[:, i]] for i in range(3)], axis=0)
    for f in itertools.product(range(2), repeat=3):
        for ops in itertools.product(range(2), range(3), range(3)):
            layout, last = _layout(t, f, ops)
            p_fo = np.prod([pf[i, f[i]] * po[i, ops[i]] for i in range(3)])
            for k in itertools.product(range(2), repeat=3):
                p = p_fo * np.prod([pk[i, k[i]] for i in range(3)]) * p_m  # [64]
                n_rows += p.sum()
                for i, (kept, s, q, h) in enumerate(layout):
                    if kept:
                        at = (k[i], f[i], ms[:, i], s, q, h)
                        keep[i] += p.sum()
                        sums[i] += p @ t.layer_features[i][at]
                        macs += p @ t.layer_macs[i][at]
                        figm += (p * t.layer_macs[i][at]) @ t.layer_figures[i][at]
                        n_rows += p.sum()
                sums[3] += p.sum() * t.head_features[f[last]]
                macs += p.sum() * t.head_macs[f[last]]
                figm += p.sum() * t.head_macs[f[last]] * t.head_figures[f[last]]
    np.testing.assert_allclose(row_w.numpy(), [*keep, 1.0], rtol=1e-5)
    want = (sums / np.array([*keep, 1.0])[:, None] - mean) / std
    np.testing.assert_allclose(rows.numpy(), want, rtol=1e-4, atol=1e-4)
    (nm, ns) = ev._norm["network"]
    raw = np.array([np.log2(macs), *(figm / macs), n_rows / 10.0])
    np.testing.assert_allclose(net.numpy(), (raw - nm) / ns, rtol=1e-4, atol=1e-4)


def test_a_derived_network_with_skips_keeps_the_space_depth_and_builds(tmp_path):
    """Every skippable layer skipped: the network has space.min_layers layers, decodes
    (stride 2 where chosen) and builds into a Keras model of that many convolutions."""
    pytest.importorskip("tensorflow")
    from evoapproxnas.nn.builder import build_model

    _, cfg, problem = _problem(tmp_path)
    space = problem.space
    t = option_tables(space, cfg.dance, problem.choice)
    assert t.skippable == [False, False, True]
    genome = derived_genome(space, cfg.dance, (1, 0, 1), (1, 1, 0), (0, 1, 2), (0, 1, 2))
    assert space.depth(genome) == space.spec.min_layers == 2
    graph = problem.decode(genome)
    convs = [n for n, d in graph.nodes(data=True) if d.get("op") == "conv2d"]
    assert convs == ["layer0", "layer1"]
    assert graph.nodes["layer1"]["params"]["strides"] == 2
    model = build_model(graph, problem.choice)
    assert sum(type(v).__name__ == "ApproxConv2D" for v in model.layers) == 2
    with pytest.raises(ValueError, match="outside space.min_layers"):
        derived_genome(space, cfg.dance, (0,) * 3, (0,) * 3, (0,) * 3, (2, 2, 2))


def test_tables_path_with_a_one_hot_multiplier_is_the_approximate_layer(tmp_path):
    """"tables": the supernet's convolution with a one-hot multiplier choice is that
    multiplier's ApproxConv2D (training mode, through its table) with the same kernel; and
    its gradient reaches the multiplier weights."""
    import tensorflow as tf

    from evoapproxnas.approx.layers import ApproxConv2D
    from evoapproxnas.search.engines.dance_supernet import Supernet
    from evoapproxnas.search.engines.dance_task import SupernetTask

    _, cfg, problem = _problem(tmp_path)
    t = option_tables(problem.space, cfg.dance, problem.choice)
    assert t.exact == [True, False, False, False] and cfg.dance.multiplier_path == "tables"
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(4, 8, 8, 1)).astype(np.float32))
    task = SupernetTask(cfg.dance, t, "", None, np.zeros((1, 8, 8, 1), np.float32),
                        np.zeros(1, np.int64), 0)
    net = Supernet(task)
    kernel = tf.constant(rng.normal(size=(3, 3, 1, 8)).astype(np.float32))
    for m, (name, library) in enumerate(t.multipliers):
        ref = ApproxConv2D(8, 3, padding="same", use_bias=False, multiplier=name,
                           library=library, approx_training=True)
        ref.build((None, 8, 8, 1))
        ref.kernel.assign(kernel)
        want = ref(x, training=True).numpy()
        net.reset()
        got = net.conv(0, x, kernel, tf.one_hot(m, 4)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    wm = tf.Variable(tf.fill([4], 0.25))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(net.conv(0, x, kernel, wm) ** 2)
    assert np.all(np.abs(tape.gradient(out, wm).numpy()) > 0)


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
    with pytest.raises(UserError, match=r"dance.ops = \['skip'\] is not allowed"):
        load_config(TINY, [*DANCE, path, "dance.ops=['skip']"])
    with pytest.raises(UserError, match="dance.multiplier_path"):
        load_config(TINY, [*DANCE, path, "dance.multiplier_path='lut'"])
    with pytest.raises(UserError, match="needs 2 in space.strides"):
        load_config(TINY, [*DANCE, path, "space.strides=[1]"])
    assert load_config(TINY, [*DANCE, path, "space.strides=[1]", "dance.ops=['conv', 'skip']"])


@pytest.mark.parametrize("multiplier_path", ["tables", "noise"])
def test_campaign_archives_one_derived_candidate_per_lambda(tmp_path, monkeypatch,
                                                            multiplier_path):
    pytest.importorskip("tensorflow")
    monkeypatch.setattr(DanceEngine, "spawn", False)
    _, path = _evaluator(tmp_path)
    runs = []
    for name in ("a", "b")[:2 if multiplier_path == "tables" else 1]:
        run = create_run(TINY, tmp_path / name, [*DANCE, f"hardware.evaluator_path='{path}'",
                                                 f"dance.multiplier_path='{multiplier_path}'"])
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=InstantWorkers())
        runs.append(RunDir(run.path))
    records = runs[0].records()
    engine = load_checkpoint(runs[0].path).engine
    assert [r.lam for r in engine.results] == [0.0, 50.0]
    keys = {runs[0].problem.space.key(c) for c in engine.candidates}
    assert {r.hash for r in records} == keys and all(r.status == "ok" for r in records)
    assert all(r.metrics["edap"] > 0 for r in records)
    assert all(len(r.ops) == 3 for r in engine.results)
    if len(runs) < 2:
        return
    # the same seed, the same search (deterministic)
    assert load_checkpoint(runs[1].path).engine.results == engine.results or \
        [(r.kernel, r.filters, r.multiplier) for r in load_checkpoint(runs[1].path).engine.results] \
        == [(r.kernel, r.filters, r.multiplier) for r in engine.results]
    assert runs[0].front().members
