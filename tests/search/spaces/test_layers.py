"""The layer-list space: decoding against hand-computed shapes and counts, Keras' own
parameter counts over random samples, genes and keys, mutation, re-drawing, decisions, and
NSGA-II (pymoo, DEAP) and random search on it (cheap metrics as objectives, no training)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cgp import count_params, multiply_layers
from evoapproxnas.config import load_config
from evoapproxnas.search.engines import make_engine
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.spaces import SPACES
from evoapproxnas.search.spaces.layers import LayerSpace, LayerSpec
from evoapproxnas.search.spaces.redraw import REPAIR_TRIES

TINY = Path(__file__).parents[1] / "tiny.toml"


def problem_for(*overrides, shape=(8, 8, 1)) -> CampaignProblem:
    cfg = load_config(TINY, ["space.kind=layers", *overrides])
    return CampaignProblem.build(cfg, shape, 3)


def test_the_problem_asks_the_registry_for_its_space():
    assert {"cgp", "layers"} <= set(SPACES)
    problem = problem_for()
    assert isinstance(problem.space, LayerSpace) and problem.spec.n_multipliers == 4
    assert type(CampaignProblem.build(load_config(TINY), (8, 8, 1), 3).space).__name__ == \
        "CGPSpace"


def test_decode_by_hand():
    spec = LayerSpec(min_layers=1, max_layers=3, kernel_sizes=(1, 3), filters=(4, 6),
                     strides=(1, 2), pooling=True, multipliers="per_layer", n_multipliers=3)
    space = LayerSpace(spec, (8, 8, 2), 5)
    # depth 1 + 2 = 3 layers: (kernel, filters, stride, pool, multiplier) each
    x = [2, 1, 0, 1, 0, 2,   0, 1, 0, 1, 1,   1, 1, 1, 0, 0]
    graph = space.decode(x)
    assert [n for n in graph if n != "input"] == ["layer0", "layer1", "pool1", "layer2",
                                                  "head"]
    assert graph.nodes["layer0"]["output_shape"] == (4, 4, 4)   # 3x3, 4 filters, stride 2
    assert graph.nodes["pool1"]["output_shape"] == (2, 2, 6)    # 1x1, 6 filters, pooled
    assert graph.nodes["layer2"]["output_shape"] == (1, 1, 6)   # 3x3, 6 filters, stride 2
    assert [graph.nodes[n]["multiplier"] for n in ("layer0", "layer1", "layer2")] == [2, 1, 0]
    assert graph.nodes["head"]["multiplier"] is None
    # weights + biases: 3*3*2*4+4, 1*1*4*6+6, 3*3*6*6+6, dense 6*5+5
    assert count_params(graph) == 76 + 30 + 330 + 35
    # multiplications: output pixels x kernel x input channels x filters
    assert [m["multiplications"] for m in multiply_layers(graph)] == [
        16 * 9 * 2 * 4, 16 * 1 * 4 * 6, 1 * 9 * 6 * 6, 6 * 5]


def test_stride_and_pooling_on_a_one_pixel_map_are_repaired():
    spec = LayerSpec(min_layers=3, max_layers=3, kernel_sizes=(3,), filters=(4,),
                     strides=(2,), pooling=True, multipliers="shared", n_multipliers=2)
    space = LayerSpace(spec, (2, 2, 1), 3)
    graph = space.decode([0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1])
    assert graph.nodes["layer2"]["params"]["strides"] == 1
    assert graph.nodes["layer2"]["repairs"]
    assert graph.nodes["pool2"]["output_shape"] == (1, 1, 4)
    assert {graph.nodes[n]["multiplier"] for n in ("layer0", "layer1", "layer2")} == {1}


def test_genes_keys_decisions_and_repricing():
    problem = problem_for()
    space = problem.space
    rng = np.random.default_rng(0)
    x = space.sample(rng)
    assert space.validate(x).tolist() == x.tolist()
    decisions = space.decisions()
    assert len(decisions) == space.n_var and decisions[0].name == "depth"
    assert [d.n_options for d in decisions] == (space.upper + 1).astype(int).tolist()
    assert np.array_equal(space.compose(x), x)
    # genes of layers beyond the depth do not change the network
    y = x.copy()
    y[0] = 0  # two layers
    z = y.copy()
    z[-5:] = (z[-5:] + 1) % space.counts[-5:]
    assert space.key(y) == space.key(z) and space.key(x) != space.key(y)
    priced = space.priced_with(x, 3)
    assert {problem.decode(priced).nodes[n]["multiplier"]
            for n in problem.decode(priced) if n.startswith("layer")} == {3}
    assert space.network_key(priced) == space.network_key(x)
    with pytest.raises(ValueError, match="gene 1"):
        space.validate([0, 9] + [0] * (space.n_var - 2))
    with pytest.raises(ValueError, match="genes"):
        space.validate([0, 1])


def test_mutation_changes_the_network_and_stays_in_bounds():
    space = problem_for().space
    rng = np.random.default_rng(1)
    for _ in range(50):
        x = space.sample(rng)
        child = space.mutate(x, rng)
        space.validate(child)
        assert not np.array_equal(child[space.active(x)], x[space.active(x)])


def test_draws_that_break_a_cheap_constraint_are_redrawn_and_pickled_without_filter():
    problem = problem_for("search.constraints=['params <= 60000']")
    space = problem.space
    rng = np.random.default_rng(2)
    drawn = [space.sample(rng) for _ in range(20)]
    assert all(problem.price(x)["params"] <= 60000 for x in drawn)
    rejected = space.take_rejected()
    assert rejected and all(problem.price(x)["params"] > 60000 for x in rejected)
    restored = pickle.loads(pickle.dumps(space))
    assert restored.feasible is None and restored.rejected == []
    impossible = problem_for("search.constraints=['params <= 10']").space
    impossible.sample(rng)
    assert len(impossible.take_rejected()) == REPAIR_TRIES - 1


@pytest.mark.parametrize("engine", ["pymoo", "deap", "random", "reinforce"])
def test_engines_search_the_layer_list(engine):
    """Cheap objectives (params, power_rel) with a params limit: every engine runs; the
    NSGA-II engines end with a better best-params than their first generation."""
    problem = problem_for("search.constraints=['params <= 60000']")
    space = problem.space
    run = make_engine(engine, space, 2, 8, 3)
    best = []
    for _ in range(6):
        X = run.ask()
        space.take_rejected()
        metrics = [problem.price(x) for x in X]
        F = np.array([[m["params"] / 1e6, m["power_rel"]] for m in metrics])
        cv = np.array([problem.violation(m) for m in metrics])
        run.tell(F, cv)
        for x in X:
            space.validate(x)
        best.append(F[:, 0].min())
    assert len(best) == 6
    if engine in ("pymoo", "deap"):
        assert best[-1] <= best[0]


@pytest.mark.slow
@pytest.mark.tf
def test_keras_parameter_counts_equal_the_graph_counts_over_random_samples():
    from evoapproxnas.nn import build_model

    problem = problem_for("space.max_layers=4", shape=(12, 12, 3))
    rng = np.random.default_rng(4)
    for _ in range(5):
        graph = problem.decode(problem.space.sample(rng))
        model = build_model(graph, problem.multipliers, seed=0)
        # each approximate layer adds 3 floats of activation range (docs/architecture.md)
        assert model.count_params() == count_params(graph) + 3 * len(multiply_layers(graph))
        plain = build_model(graph, None, seed=0)
        assert plain.count_params() == count_params(graph)
        assert tuple(model.output_shape) == (None, 3)
