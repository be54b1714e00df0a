"""Per-layer bit widths as decisions of the layer-list space (Lu et al., ICCAD 2019): decoding
by hand, keys, the fixed architecture, the hardware layers priced by ``fpga_lu`` against
hand-built layers and the DP's verdict, pruning before training with every engine (training
faked), and bad values refused in one line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _fakes import InstantWorkers

from evoapproxnas.cgp import multiply_layers, network_hash
from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, layers_from_graph
from evoapproxnas.hardware.quantized import search_specs
from evoapproxnas.multipliers import load_library
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.spaces.layers import LayerSpace, LayerSpec
from evoapproxnas.search.study.rundir import RunDir
from evoapproxnas.search.tasks import TrainTask

TINY = Path(__file__).parents[1] / "tiny.toml"
# the exact 8xW multipliers of evoapproxlib8xNu, W = 2..8 (their tables are a * b)
EXACT = ["mul8x2u_106", "mul8x3u_0KE", "mul8x4u_2UU", "mul8x5u_4E8", "mul8x6u_049",
         "mul8x7u_0V5", "mul8u_1JFF"]
RL, RT = 500, 300_000  # about 40 % of this space's random networks meet them
WIDTHS = ["space.kind=layers", "multipliers.library=evoapproxlib8xNu",
          "multipliers.allowed=[" + ", ".join(f'"{n}"' for n in EXACT) + "]",
          "space.max_layers=3", "space.filters=[4, 8]", "space.kernel_sizes=[1, 3]",
          "space.activation_bits=[2, 5, 8]", "space.weight_bits=[2, 5, 8]",
          "space.fixed_point=true", "space.activation_frac_bits=[1, 6]",
          "space.weight_frac_bits=[3, 7]",
          "hardware.model='fpga_lu'", "hardware.mode='inner'", "hardware.search_metric='fps'",
          "search.objectives=['error','fps']", "search.hv_reference={error=1.0, fps=0}",
          f"search.constraints=['luts <= {RL}', 'fps >= {RT}']"]


def problem_for(*overrides, shape=(8, 8, 1)) -> CampaignProblem:
    return CampaignProblem.build(load_config(TINY, [*WIDTHS, *overrides]), shape, 3)


def spec(**kw) -> LayerSpec:
    base = dict(min_layers=1, max_layers=2, kernel_sizes=(1, 3), filters=(4, 6),
                strides=(1,), pooling=False, n_multipliers=7, activation_bits=(2, 4),
                weight_bits=(3, 8), fixed_point=True, activation_frac_bits=(1, 6),
                weight_frac_bits=(0, 5), weight_genes=(1, 6))
    return LayerSpec(**{**base, **kw})


def test_decode_by_hand_with_widths():
    space = LayerSpace(spec(), (8, 8, 2), 5)
    names = [d.name for d in space.decisions()]
    assert names[:8] == ["depth", "layer0.kernel", "layer0.filters", "layer0.stride",
                         "layer0.weight_bits", "layer0.activation_bits",
                         "layer0.activation_frac_bits", "layer0.weight_frac_bits"]
    assert [d.n_options for d in space.decisions()][:8] == [2, 2, 2, 1, 2, 2, 2, 2]
    # 2 layers: (kernel, filters, stride, weight_bits, activation_bits, Af, Wf)
    x = [1, 1, 0, 0, 0, 1, 1, 1,   0, 1, 0, 1, 0, 0, 0]
    graph = space.decode(x)
    records = multiply_layers(graph)
    # layer 0: 3x3, 4 filters, W = 3 (gene 1 of the allowed list), A = 4, Af = min(6, 4),
    # Wf = min(5, 3); layer 1: 1x1, 6 filters, W = 8 (gene 6), A = 2, Af = 1, Wf = 0
    assert [(r["name"], r["multiplier"], r.get("activation_bits"),
             r.get("activation_frac_bits"), r.get("weight_frac_bits")) for r in records] == [
        ("layer0/conv", 1, 4, 4, 3), ("layer1/conv", 6, 2, 1, 0),
        ("head/dense", None, None, None, None)]
    assert [r["multiplications"] for r in records] == [64 * 9 * 2 * 4, 64 * 4 * 6, 6 * 5]


def test_widths_off_keep_the_genes_and_the_key_of_before():
    plain = LayerSpec(min_layers=1, max_layers=2, n_multipliers=3)
    assert len(plain.counts) == 1 + 2 * 5 and not plain.widths
    space = LayerSpace(plain, (8, 8, 1), 3)
    graph = space.decode(space.sample(np.random.default_rng(0)))
    assert not any("primitives" in graph.nodes[n] for n in graph)
    assert graph.graph["genome_hash"] == network_hash(graph)


def test_keys_name_the_widths():
    space = LayerSpace(spec(min_layers=2), (8, 8, 2), 5)
    x = np.array([0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0])
    keys = {space.key(x)}
    for gene in (5, 6, 7, 4, 12):  # A, Af, Wf, W of layer 0; A of layer 1
        y = x.copy()
        y[gene] = 1 - y[gene]
        keys.add(space.key(y))
        assert space.network_key(y) == space.network_key(x)
    assert len(keys) == 6
    # Af choices 4 and 6 on a 4-bit layer are both Af = 4 (a choice above the width is the
    # width): one network, one key
    two = spec(min_layers=2, activation_frac_bits=(4, 6))
    s2 = LayerSpace(two, (8, 8, 2), 5)
    assert s2.key(x) == s2.key(np.where(np.arange(15) == 6, 0, x))


def test_a_fixed_architecture_leaves_only_multipliers_and_widths():
    s = spec(architecture=((3, 4, 1, 1), (1, 6, 2, 0), (3, 8, 1, 0)))
    space = LayerSpace(s, (8, 8, 2), 5)
    free = [d.name for d in space.decisions() if d.n_options > 1]
    assert free == [f"layer{i}.{g}" for i in range(3) for g in
                    ("weight_bits", "activation_bits", "activation_frac_bits",
                     "weight_frac_bits")]
    graph = space.decode(space.sample(np.random.default_rng(1)))
    assert [n for n in graph if n != "input"] == ["layer0", "pool0", "layer1", "layer2",
                                                  "head"]
    assert graph.nodes["layer1"]["output_shape"] == (2, 2, 6)  # pooled to 4x4, stride 2
    assert [graph.nodes[f"layer{i}"]["params"]["kernel"] for i in range(3)] == [3, 1, 3]


def hand_layers(problem, graph) -> list:
    """The hardware layers of a decoded chain built by hand: shapes from the graph's nodes,
    the multiplier by name from the library, A from the layer's record."""
    lib = load_library("evoapproxlib8xNu")
    out = []
    for r in multiply_layers(graph):
        mul = lib[EXACT[r["multiplier"]]] if r["multiplier"] is not None else lib["mul8u_1JFF"]
        h, w, c = r["input_shape"]
        if r["kind"] == "dense":
            layer = dense_layer(c, r["filters"], mul)
        else:
            layer = conv_layer(h, w, c, r["filters"], r["kernel"], r["strides"], "same", 1, mul)
        out.append(dataclasses.replace(layer, activation_bits=r.get("activation_bits", 8)))
    return out


def test_fpga_lu_prices_each_candidate_at_its_widths_before_training():
    problem = problem_for()
    rng = np.random.default_rng(3)
    verdicts = set()
    for _ in range(16):
        x = rng.integers(0, problem.space.counts)  # unfiltered draws: some miss the specs
        graph = problem.decode(x)
        mine = layers_from_graph(graph, problem.choice)
        hand = hand_layers(problem, graph)
        assert [(m.activation_bits, m.weight_bits, m.dims) for m in mine] == \
            [(h.activation_bits, h.weight_bits, h.dims) for h in hand]
        want = search_specs(hand, RL, RT)
        got = problem.price(x)
        if want.design is not None:
            assert got["luts"] == want.luts and got["fps"] == pytest.approx(want.images_per_s)
        assert (problem.violation(got) == 0) == want.feasible
        verdicts.add(want.feasible)
    assert verdicts == {True, False}
    # and narrower widths never slow the best design of a network (same layers, 2 x 2)
    narrow = [dataclasses.replace(h, activation_bits=2, multiplier=load_library(
        "evoapproxlib8xNu")["mul8x2u_106"]) for h in hand[:-1]] + hand[-1:]
    assert search_specs(narrow, 10**6, 1).images_per_s >= \
        search_specs(hand, 10**6, 1).images_per_s


class Recording(InstantWorkers):
    """Trains in no time and remembers what it trained."""

    def __init__(self) -> None:
        self.trained: list[str] = []

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        self.trained += [p.hash for p in payloads if isinstance(p, TrainTask)]
        return super().map(fn, payloads, timeout_s, on_result)


@pytest.mark.parametrize("engine", ["pymoo", "deap", "random", "reinforce"])
def test_every_engine_searches_widths_and_pruned_candidates_are_never_trained(tmp_path,
                                                                             engine):
    run = create_run(TINY, tmp_path / engine, [*WIDTHS, f"search.engine='{engine}'",
                                               "search.population=6", "search.generations=3"])
    pool = Recording()
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=pool)
    rundir = RunDir(run.path)
    space = rundir.problem.space
    records = rundir.records()
    pruned = [r for r in records if r.status == "infeasible"]
    trained = [r for r in records if r.status == "ok"]
    assert pruned and trained, "the specifications prune nothing or everything"
    assert not {r.hash for r in pruned} & set(pool.trained)
    assert {r.hash for r in trained} <= set(pool.trained)
    for r in records:  # the DP's verdict on hand-built layers decides who is trained
        hand = hand_layers(rundir.problem, space.decode(r.genome))
        assert search_specs(hand, RL, RT).feasible == (r.status == "ok")
    # the engines vary the width decisions (activation widths, weight widths, binary points)
    genes = np.array([r.genome for r in records])
    for g in (space.width_indices()[:3] + space.multiplier_indices()[:1]):
        assert len(set(genes[:, g])) > 1


def test_weight_bits_need_the_exact_multipliers_one_line_and_exit_2(tmp_path):
    cfg = load_config(TINY, ["space.kind=layers", "space.weight_bits=[4, 8]"])
    with pytest.raises(UserError) as info:
        CampaignProblem.build(cfg, (8, 8, 1), 3)
    text = str(info.value)
    assert "space.weight_bits" in text and "mul8x4u_2UU" in text and "\n" not in text
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "run", str(TINY), "--out",
                           str(out), "--quiet", "--set", "space.kind=layers",
                           "--set", "space.weight_bits=[4, 8]"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err[-2000:]
    assert "space.weight_bits" in err and not out.exists()


def test_fixed_point_needs_per_tensor_weights():
    cfg = load_config(TINY, [*WIDTHS, "multipliers.weight_quantization='per_channel'"])
    with pytest.raises(UserError, match="space.fixed_point.*per_tensor"):
        CampaignProblem.build(cfg, (8, 8, 1), 3)
