"""Lu et al.'s hardware search: the DP under (rL, rT) against brute force over every partition
and every Tm x Tn engine (1..M x 1..C) of every layer; a QCE's LUTs by hand from the shipped
synthesis table; the model in campaigns' terms; bad widths and specs are one line, exit 2."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware.axw_luts import DATA, multiplier_luts
from evoapproxnas.hardware.quantized import qce_luts, search_specs
from evoapproxnas.metrics import parse_constraint

CLOCK_HZ = 100e6


def weights(bits: int):
    """A stand-in multiplier of ``bits``-bit weights (the model reads only its width)."""
    return SimpleNamespace(weight_bits=bits, name=f"w{bits}")


def random_network(rng: np.random.Generator, n_layers: int) -> list:
    layers, c, size = [], int(rng.integers(1, 4)), int(rng.integers(4, 9))
    for i in range(n_layers):
        m = int(rng.integers(1, 5))
        layer = conv_layer(size, size, c, m, int(rng.choice([1, 3])), int(rng.choice([1, 2])),
                           multiplier=weights(int(rng.integers(2, 9))), name=f"l{i}")
        layers.append(replace(layer, activation_bits=int(rng.integers(2, 9))))
        c, size = m, layer.output_shape[0]
    return layers


def hand_cycles(layer, tm: int, tn: int) -> int:
    (p, q, m), (_, _, c), (r, s) = layer.output_shape, layer.input_shape, layer.kernel
    return math.ceil(m / tm) * math.ceil(c / tn) * p * q * r * s


def brute_force(layers, cfg, rl: float, rt: float):
    """(feasible, least latency within rL, least LUTs at that latency) by enumeration."""
    outs = [x.activation_bits for x in layers[1:]] + [cfg["output_bits"]]
    per_layer = []
    for layer, out in zip(layers, outs):
        m, c = layer.output_shape[2], layer.input_shape[2]
        engines = list(itertools.product(range(1, m + 1), range(1, c + 1)))
        per_layer.append((np.array([qce_luts(layer, tm, tn, out, cfg) for tm, tn in engines]),
                          np.array([hand_cycles(layer, tm, tn) for tm, tn in engines], float)))
    n = len(layers)
    grids = np.meshgrid(*[np.arange(len(p[0])) for p in per_layer], indexing="ij")
    best_lat, best_luts, feasible = math.inf, math.inf, False
    for cuts in itertools.product((False, True), repeat=n - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
        luts = lat = 0.0
        for s, e in zip(bounds, bounds[1:]):
            part_luts = sum(per_layer[i][0][grids[i]] for i in range(s, e))
            part_lat = np.max([per_layer[i][1][grids[i]] for i in range(s, e)], axis=0)
            luts, lat = np.maximum(luts, part_luts), lat + part_lat
        ok = luts <= rl
        if ok.any():
            feasible |= bool((CLOCK_HZ / lat[ok] >= rt).any())
            fastest = lat[ok].min()
            at = luts[ok][lat[ok] == fastest].min()
            if (fastest, at) < (best_lat, best_luts):
                best_lat, best_luts = fastest, at
    return feasible, best_lat, best_luts


def test_dp_under_specs_agrees_with_brute_force_on_random_networks():
    rng = np.random.default_rng(30)
    model = get_cost_model("fpga_lu", "cyclone4")
    verdicts = set()
    for case in range(80):
        layers = random_network(rng, int(rng.integers(1, 5)))
        options = model.options(layers)
        least = sum(min(o[0] for o in opts) for opts in options) / len(layers)
        rl = float(rng.uniform(0.7, 4.0) * least)
        fastest = sum(min(o[1] for o in opts) for opts in options)
        rt = float(CLOCK_HZ / fastest * rng.uniform(0.05, 1.2))
        got = search_specs(layers, rl, rt, "cyclone4")
        feasible, lat, luts = brute_force(layers, model.config, rl, rt)
        assert got.feasible == feasible, case
        assert (got.latency_cycles, got.luts) == (lat, luts), case
        if got.design is not None:
            assert got.luts <= rl and got.images_per_s == pytest.approx(CLOCK_HZ / lat)
            assert [hand_cycles(x, *e) for x, e in zip(layers, got.engines)] == \
                [options[i][c][1] for i, c in enumerate(got.design.choice)]
        verdicts.add((feasible, math.isfinite(lat)))
    assert verdicts == {(True, True), (False, True), (False, False)}  # every outcome seen


def test_qce_luts_by_hand_from_the_shipped_table():
    rows = json.loads(DATA.read_text(encoding="utf-8"))["rows"]
    luts4 = {(r["activation_bits"], r["weight_bits"], r["kind"]): r["cycloneive"] for r in rows}
    layer = conv_layer(8, 8, 6, 10, 3, multiplier=weights(3))
    layer = replace(layer, activation_bits=5)
    cfg = get_cost_model("fpga_lu", "cyclone4").config
    # Tm=4, Tn=3, A=5, W=3, K = 6*3*3 = 54, next width 6, control 50
    want = 4 * 3 * luts4[(5, 3, "us")] + 4 * 2 * (8 + 2) + 4 * (8 + 6) + 4 * 6 + 50
    assert qce_luts(layer, 4, 3, 6, cfg) == want
    assert multiplier_luts(5, 3) == luts4[(5, 3, "us")]


def test_narrower_widths_never_cost_more_and_estimate_counts_the_excess():
    net = [conv_layer(16, 16, 3, 16, 3, multiplier=weights(8), name="c1"),
           conv_layer(16, 16, 16, 16, 3, 2, multiplier=weights(8), name="c2"),
           dense_layer(8 * 8 * 16, 10, multiplier=weights(8), name="fc")]
    narrow = [replace(x, activation_bits=4, multiplier=weights(3)) for x in net]
    model = get_cost_model("fpga_lu", "cyclone4", lut_budget=20000.0, throughput=500.0)
    (wide, _, met), thin = model.estimate_design(net), model.estimate(narrow)
    assert thin["fps"] >= wide["fps"] and thin["weight_kbits"] < wide["weight_kbits"]
    assert met and wide["luts"] <= 20000 and wide["fps"] >= 500
    tight, _, met = get_cost_model("fpga_lu", "cyclone4", lut_budget=100.0).estimate_design(net)
    assert not met and tight["luts"] > 100  # the least-LUT design
    # in a campaign: rL and rT come from the constraints
    from evoapproxnas.hardware import search_hardware

    cons = [parse_constraint("luts <= 8000"), parse_constraint("fps >= 100000")]
    found = search_hardware(narrow, "fpga_lu", "fps", "cyclone4", constraints=cons)
    assert found["luts"] <= 8000
    assert f"rL=8000 rT=100000 {'met' if found['fps'] >= 100000 else 'missed'}" \
        in found["config"]


def test_bad_widths_and_specs_are_user_errors():
    layer = conv_layer(8, 8, 3, 4, 3, multiplier=weights(4))
    for rl, rt in ((0, 100), (-5.0, 100), (1000, 0), (1000, math.inf), ("many", 10)):
        with pytest.raises(UserError, match="must be a positive number"):
            search_specs([layer], rl, rt)
    with pytest.raises(UserError, match="activation bits must be a whole number 2..8"):
        multiplier_luts(9, 4)
    with pytest.raises(UserError, match="fabric"):
        multiplier_luts(4, 4, "lut5")
    with pytest.raises(UserError, match="lut_budget"):
        get_cost_model("fpga_lu", "cyclone4", lut_budget=-1.0)


def test_cli_bad_spec_and_bad_width_exit_2_with_one_line(tmp_path):
    good = {"kind": "conv2d", "input_shape": [8, 8, 3], "filters": 4, "kernel": 3,
            "multiplier": "mul8x4u_2UU", "activation_bits": 4}
    cases = [([good], ["--set", "lut_budget=-3"], "lut_budget"),
             ([dict(good, activation_bits=12)], [], "activation_bits must be")]
    for records, extra, words in cases:
        path = tmp_path / "net.json"
        path.write_text(json.dumps(records), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "hw", "estimate",
                               "--layers", str(path), "--model", "fpga_lu", "--library",
                               "evoapproxlib8xNu", *extra],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr


def test_a_candidate_that_misses_a_spec_is_never_trained(tmp_path):
    """A campaign on ``fpga_lu`` with ``luts <= rL`` and ``fps >= rT``: the candidates whose
    fastest design within rL misses rT are recorded infeasible and never reach training."""
    from pathlib import Path

    from evoapproxnas.config import load_config
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.search.evaluation import Evaluator
    from evoapproxnas.search.problem import CampaignProblem
    from evoapproxnas.search.study.archive import Archive
    from evoapproxnas.search.tasks import TrainOutcome

    tiny = Path(__file__).parents[1] / "search" / "tiny.toml"

    def problem(rl: float, rt: float):
        cfg = load_config(tiny, [
            "search.objectives=['error','fps']", "hardware.model='fpga_lu'",
            "hardware.preset='cyclone4'", "hardware.search=true", "hardware.search_metric='fps'",
            f"search.constraints=['luts <= {rl}', 'fps >= {rt}']",
            "search.hv_reference={error=1.0, fps=0}"])
        return CampaignProblem.build(cfg, (8, 8, 1), 3)

    class Pool:
        def __init__(self) -> None:
            self.trained: list[str] = []

        def map(self, fn, payloads, timeout_s, on_result):
            for k, payload in enumerate(payloads):
                self.trained.append(payload.hash)
                on_result(k, TrainOutcome(status="ok", reason=None, val_accuracy=0.5,
                                          val_accuracy_exact=0.5, train_seconds=0.0,
                                          eval_seconds=0.0))

    probe, rng = problem(3000, 1), np.random.default_rng(30)
    genomes, keys = [], set()
    while len(genomes) < 8:
        g = probe.space.sample(rng)
        if probe.space.key(g) not in keys:
            keys.add(probe.space.key(g))
            genomes.append(g)
    fastest = [search_specs(layers_from_graph(probe.decode(g), probe.choice), 3000, 1,
                            "cyclone4").images_per_s for g in genomes]
    rt = sorted(fastest)[len(fastest) // 2]
    meets = [f >= rt for f in fastest]
    assert 0 < sum(meets) < len(meets), fastest
    pool = Pool()
    records = Evaluator(problem(3000, rt), Archive(tmp_path / "archive.jsonl"), {},
                        pool).evaluate(genomes, 0)
    assert [r.status for r in records] == ["ok" if m else "infeasible" for m in meets]
    assert sorted(pool.trained) == sorted(r.hash for r, m in zip(records, meets) if m)
    for r, m in zip(records, meets):
        assert (r.metrics["fps"] >= rt) == m and r.metrics["luts"] <= 3000
