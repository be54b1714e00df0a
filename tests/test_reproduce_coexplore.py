"""experiments/reproduce_coexplore.py, the tight-specification part without training: on a
few sampled networks the shares of valid networks per mode shrink as the fps floor rises,
the joint space reaches every network the fixed design serves, and the shares agree with a
brute force over the joint design genes."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]


def script():
    spec = importlib.util.spec_from_file_location(
        "reproduce_coexplore", ROOT / "experiments" / "reproduce_coexplore.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tight_feasibility_is_monotone_and_joint_covers_fixed():
    co = script()
    sample = co.tight_sample(n=6, seed=3, draws=4)
    ladder = co.tight_ladder(sample["fixed_fps"])
    floors = [f for _, f in ladder]
    assert floors == sorted(floors) and floors[0] == 250
    # floors beyond the sample's highest fixed-design fps leave the fixed mode nothing
    assert floors[-1] > sample["fixed_fps"].max()
    shares = [co.tight_shares(sample, f) for f in floors]
    for mode in co.TIGHT_MODES:  # "only_joint", a difference, need not be monotone
        values = [s[mode] for s in shares]
        assert all(0 <= v <= 1 for v in values)
        assert all(a >= b for a, b in zip(values, values[1:])), (mode, values)
    for s in shares:
        assert s["joint"] >= s["fixed"]
        assert s["joint"] >= s["joint_1fpga"] >= 0 and s["joint"] >= s["joint_random"]
        assert s["sequential"] == s["fixed"]  # gated by the fixed design
        # every network the fixed design serves, some joint design serves too
        assert s["only_joint"] == pytest.approx(s["joint"] - s["fixed"])
    assert shares[-1]["fixed"] == 0
    # the median rung: half the sample (at least) on the fixed design
    assert dict(ladder)["fixed p50"] <= np.median(sample["fixed_fps"])
    text = co.tight_table(sample, ladder)
    assert text.count("\n| ") >= 2 * len(ladder)


def test_one_fpga_reach_matches_brute_force_and_bounds_joint():
    """``one_fps`` (``optimize`` over one device) against every one-FPGA design of the
    genes; the two-FPGA reach at least that and every random design that fits; the fixed
    design's fps the campaign's pricing of the same network."""
    co = script()
    from evoapproxnas.config import load_config
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.search.problem import CampaignProblem

    sample = co.tight_sample(n=1, seed=5, draws=8)
    cfg = load_config(co.CAMPAIGN, ["search.constraints=[]", "hardware.mode='sequential'",
                                    "hardware.max_fpgas=2"])
    problem = CampaignProblem.build(cfg, *co.FMNIST_INPUT)
    space = problem.space
    space.set_filter(None)
    x = space.sample(np.random.default_rng(5))  # the sample's first network
    layers = layers_from_graph(problem.decode(x), problem.choice)
    assert problem.price(x)["fps"] == sample["fixed_fps"][0]
    ds = cfg.hardware.design_space
    names = [d.name for d in ds.decisions]
    stage0 = [names.index(g) for g in ("tm0", "tn0", "tr0", "tc0")]
    best = 0.0
    for values in itertools.product(*(range(ds.decisions[i].n) for i in stage0)):
        genes = [0] * len(names)  # fpgas gene 0: one FPGA
        for i, v in zip(stage0, values):
            genes[i] = v
        m = ds.evaluate(layers, genes)
        if m["fits"]:
            best = max(best, m["fps"])
    assert np.isclose(sample["one_fps"][0], best)
    assert sample["joint_fps"][0] >= best >= sample["fixed_fps"][0]
    assert sample["joint_fps"][0] >= sample["random_fps"][0].max()
