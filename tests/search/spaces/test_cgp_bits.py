"""Per-layer bit widths as decisions of the CGP space (``[space]`` width keys with
``kind = "cgp"``): the spec and decisions a campaign derives, ``fpga_lu`` pricing a CGP
candidate as the hand-built layer list (and as the layer-list space's same network), every
engine varying the width genes (training faked), and bad values refused in one line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cgp import multiply_layers
from evoapproxnas.cgp.genome import active_gene_indices
from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer
from evoapproxnas.hardware.quantized import search_specs
from evoapproxnas.multipliers import load_library
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.rundir import RunDir

from .test_layers_bits import EXACT, Recording

TINY = Path(__file__).parents[1] / "tiny.toml"
RL, RT = 100_000, 1000
WIDTHS = ["multipliers.library=evoapproxlib8xNu",
          "multipliers.allowed=[" + ", ".join(f'"{n}"' for n in EXACT) + "]",
          "cgp.functions=['conv2d', 'max_pooling']",
          "space.activation_bits=[2, 5, 8]", "space.weight_bits=[2, 5, 8]",
          "space.fixed_point=true", "space.activation_frac_bits=[1, 6]",
          "space.weight_frac_bits=[3, 7]",
          "hardware.model='fpga_lu'", "hardware.mode='inner'", "hardware.search_metric='fps'",
          "search.objectives=['error','fps']", "search.hv_reference={error=1.0, fps=0}"]
SPECS = [f"search.constraints=['luts <= {RL}', 'fps >= {RT}']"]


def problem_for(*overrides) -> CampaignProblem:
    return CampaignProblem.build(load_config(TINY, [*WIDTHS, *overrides]), (8, 8, 1), 3)


def test_the_space_keys_make_width_genes():
    space = problem_for().space
    spec = space.spec
    # weight widths 2, 5, 8 select mul8x2u, mul8x5u, mul8u_1JFF of the allowed list
    assert spec.weight_genes == (0, 3, 6) and spec.n_multipliers == 3
    assert spec.multiplier_order == (2, 1, 0)  # the 8x8 has the most power
    names = [(d.name, d.n_options) for d in space.decisions()][8:12]
    assert names == [("node0.weight_bits", 3), ("node0.activation_bits", 3),
                     ("node0.activation_frac_bits", 2), ("node0.weight_frac_bits", 2)]
    assert space.upper.min() >= 3
    plain = problem_for("space.activation_bits=[]", "space.weight_bits=[]",
                        "space.fixed_point=false").space
    assert plain.spec.node_length == 9 and plain.spec.n_multipliers == 7


def test_fpga_lu_prices_a_cgp_candidate_as_the_hand_built_layer_list():
    problem = problem_for(*SPECS)
    # node0: conv 3x3, 4 filters, stride 1, relu, bias; W 5, A 2, Af 6 -> 2, Wf 3
    # node1: max-pooling; node2: conv 2x2, 8 filters; W 2, A 8, Af 1, Wf 7 -> 2
    x = np.array([0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0,
                  1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 0, 1,
                  0, 2, 0, 0, 1, 0, 0, 1, 0, 2, 0, 1, 3])
    graph = problem.decode(x)
    assert [(r["name"], r.get("activation_bits"), r.get("activation_frac_bits"),
             r.get("weight_frac_bits")) for r in multiply_layers(graph)] == [
        ("node0/conv", 2, 2, 3), ("node2/conv", 8, 1, 2), ("head/dense", None, None, None)]
    lib = load_library("evoapproxlib8xNu")
    hand = [dataclasses.replace(conv_layer(8, 8, 1, 4, (3, 3), (1, 1), "same", 1,
                                           lib["mul8x5u_4E8"]), activation_bits=2),
            dataclasses.replace(conv_layer(4, 4, 4, 8, (2, 2), (1, 1), "same", 1,
                                           lib["mul8x2u_106"]), activation_bits=8),
            dense_layer(8, 3, lib["mul8u_1JFF"])]
    want = search_specs(hand, RL, RT)
    got = problem.price(x)
    assert want.feasible and got["luts"] == want.luts
    assert got["fps"] == pytest.approx(want.images_per_s)
    # the same network as a layer list (fixed architecture) is priced the same
    layers = problem_for(*SPECS, "space.kind=layers", "space.architecture=[[3, 4, 1, 1], "
                         "[2, 8, 1, 0]]")
    chain = np.array([0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 1])
    other = layers.price(chain)
    for key in ("luts", "fps", "latency_cycles", "params", "multiplications", "power_mw",
                "weight_kbits"):
        assert got[key] == pytest.approx(other[key]), key
    assert [(r["kind"], r["multiplier"], r.get("activation_bits"), r.get("weight_frac_bits"))
            for r in multiply_layers(layers.decode(chain))] == [
        (r["kind"], r["multiplier"], r.get("activation_bits"), r.get("weight_frac_bits"))
        for r in multiply_layers(graph)]


@pytest.mark.parametrize("engine", ["pymoo", "deap", "random", "reinforce"])
def test_every_engine_varies_the_width_genes(tmp_path, engine):
    run = create_run(TINY, tmp_path / engine, [*WIDTHS, f"search.engine='{engine}'",
                                               "search.population=6", "search.generations=3"])
    pool = Recording()
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=pool)
    rundir = RunDir(run.path)
    space = rundir.problem.space
    spec = space.spec
    records = rundir.records()
    assert pool.trained and {r.hash for r in records if r.status == "ok"} <= set(pool.trained)
    seen: dict[int, set] = {k: set() for k in range(spec.multiplier_offset, spec.node_length)}
    for r in records:
        for i in active_gene_indices(r.genome, spec):
            if i < spec.n_nodes * spec.node_length and i % spec.node_length in seen:
                seen[i % spec.node_length].add(int(r.genome[i]))
        # the trained network carries the widths its genes select
        for layer in multiply_layers(space.decode(r.genome)):
            assert (layer["kind"] == "dense") == ("activation_bits" not in layer)
    # W, A, Af and Wf of active multiplying nodes take several values
    assert all(len(values) > 1 for values in seen.values()), seen


def test_bad_width_settings_are_one_line_and_exit_2(tmp_path):
    with pytest.raises(UserError) as info:
        problem_for("cgp.head_multiplier='mul8x3u_0KE'")
    assert "head_multiplier" in str(info.value) and "\n" not in str(info.value)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "run", str(TINY), "--out",
                           str(out), "--quiet", "--set", "space.weight_bits=[4, 8]"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err[-2000:]
    assert "space.weight_bits" in err and "mul8x4u_2UU" in err and not out.exists()
