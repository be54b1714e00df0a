import itertools
import math

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import (
    brute_force_designs,
    conv_layer,
    get_cost_model,
    pareto_designs,
    search_pipeline,
)
from evoapproxnas.hardware.partition import Design
from evoapproxnas.hardware.pipeline import (
    assign_stages,
    brute_force_pipeline,
    fpga_models,
    stage_latencies,
)


def _random_options(rng, n):
    return [[(float(rng.integers(1, 40)), float(rng.integers(1, 60)))
             for _ in range(rng.integers(1, 4))] for _ in range(n)]


def _costs(designs):
    return [(d.luts, d.latency_cycles) for d in designs]


def _check_design(options, d: Design, reconfig):
    starts = (0, *d.bounds[:-1])
    luts = max(sum(options[i][d.choice[i]][0] for i in range(s, e))
               for s, e in zip(starts, d.bounds))
    lat = sum(max(options[i][d.choice[i]][1] for i in range(s, e))
              for s, e in zip(starts, d.bounds)) + reconfig * (len(d.bounds) - 1)
    assert (luts, lat) == (d.luts, d.latency_cycles)


@pytest.mark.parametrize("seed", range(40))
def test_dp_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    options = _random_options(rng, n)
    budget = float(rng.choice([math.inf, rng.integers(20, 80)]))
    max_lat = float(rng.choice([math.inf, rng.integers(40, 200)]))
    reconfig = float(rng.choice([0, 5]))
    dp = pareto_designs(options, budget, max_lat, reconfig)
    bf = brute_force_designs(options, budget, max_lat, reconfig)
    assert _costs(dp) == _costs(bf)
    for d in dp:
        _check_design(options, d, reconfig)
        assert d.luts <= budget and d.latency_cycles <= max_lat
    costs = _costs(dp)
    assert costs == sorted(costs) and all(a[1] > b[1] for a, b in itertools.pairwise(costs))


def test_infeasible_specification_gives_empty_set():
    options = [[(10.0, 5.0)], [(30.0, 2.0)]]
    assert pareto_designs(options, lut_budget=20.0) == []
    assert pareto_designs(options, max_latency=4.0) == []
    # one partition per layer: max(10, 30) LUTs, 5 + 2 cycles; together: 40 LUTs, 5 cycles
    assert _costs(pareto_designs(options, lut_budget=30.0)) == [(30.0, 7.0)]
    assert _costs(pareto_designs(options)) == [(30.0, 7.0), (40.0, 5.0)]
    assert _costs(pareto_designs(options, max_latency=6.0)) == [(40.0, 5.0)]
    assert pareto_designs([], 10.0) == []


def test_fpga_partition_designs_agree_with_brute_force():
    net = [conv_layer(16, 16, 3, 16, 3), conv_layer(16, 16, 16, 32, 3, 2),
           conv_layer(8, 8, 32, 32, 3), conv_layer(8, 8, 32, 64, 1)]
    model = get_cost_model("fpga", "zynq7020-partition", options_tm=[2, 8, 32],
                           options_tn=[2, 8])
    designs, options = model.partition_designs(net, lut_budget=20000)
    opts = [[o[:2] for o in layer] for layer in options]
    assert _costs(designs) == _costs(brute_force_designs(opts, 20000))
    fastest = model.estimate(net)
    full = model.partition_designs(net)[0][-1]
    assert fastest["latency_cycles"] == full.latency_cycles
    assert fastest["luts"] == full.luts <= 53200


def test_pipeline_matches_brute_force_and_formulas():
    net = [conv_layer(16, 16, 3, 16, 3), conv_layer(16, 16, 16, 32, 3, 2),
           conv_layer(8, 8, 32, 32, 3), conv_layer(8, 8, 32, 64, 1),
           conv_layer(8, 8, 64, 64, 3)]
    devices = ["xc7z020", "zcu102", "xc7z020"]
    pipe = search_pipeline(net, devices, "zynq7020-partition")
    lats = [stage_latencies(net, m) for m in fpga_models(devices, "zynq7020-partition")]
    assert (pipe.slowest_cycles, sum(pipe.stage_cycles)) == brute_force_pipeline(lats, len(net))
    starts = (0, *pipe.bounds[:-1])
    assert pipe.stage_cycles == tuple(lats[s][a][b]
                                      for s, (a, b) in enumerate(zip(starts, pipe.bounds)))
    assert len(pipe.stage_cycles) == 3 and pipe.bounds[-1] == len(net)
    assert pipe.efficiency == pytest.approx(sum(pipe.stage_cycles)
                                            / (3 * max(pipe.stage_cycles)))
    assert pipe.fps == pytest.approx(100e6 / max(pipe.stage_cycles))
    one = search_pipeline(net, ["xc7z020"], "zynq7020-partition")
    assert one.slowest_cycles >= pipe.slowest_cycles and one.efficiency == 1.0
    with pytest.raises(UserError, match="fewer devices"):
        search_pipeline(net[:2], devices, "zynq7020-partition")


def _table(n, entries):
    lat = [[math.inf] * (n + 1) for _ in range(n + 1)]
    for (a, b), value in entries.items():
        lat[a][b] = float(value)
    return lat


def test_pipeline_dp_is_optimal_on_both_keys():
    """A prefix with a larger slowest stage but a smaller sum wins once a slow stage follows:
    stages [0,1) [1,3) give (5, 10), stages [0,2) [2,3) give (7, 8); with the last stage at 8
    cycles the second is better, (8, 16) against (8, 18)."""
    lats = [_table(4, {(0, 1): 5, (0, 2): 7}),
            _table(4, {(1, 3): 5, (2, 3): 1, (1, 2): 20}),
            _table(4, {(3, 4): 8, (2, 4): 20})]
    assert assign_stages(lats, 4) == (8.0, 16.0, (2, 3, 4))
    assert brute_force_pipeline(lats, 4) == (8.0, 16.0)


def test_pipeline_dp_equals_brute_force_on_random_cases():
    rng = np.random.default_rng(12)
    for _ in range(3000):
        n = int(rng.integers(1, 8))
        k = int(rng.integers(1, min(n, 4) + 1))
        lats = [[[float(rng.integers(1, 25)) if b > a and rng.random() > 0.15 else math.inf
                  for b in range(n + 1)] for a in range(n + 1)] for _ in range(k)]
        slowest, total, bounds = assign_stages(lats, n)
        assert (slowest, total) == brute_force_pipeline(lats, n)
        if slowest < math.inf:  # the bounds reproduce both keys
            stages = [lats[s][a][b] for s, (a, b) in enumerate(zip((0, *bounds[:-1]), bounds))]
            assert (max(stages), sum(stages)) == (slowest, total) and bounds[-1] == n
    assert assign_stages([], 3)[0] == math.inf


def test_pipeline_fpgas_are_presets_or_devices():
    net = [conv_layer(16, 16, 3, 16, 3), conv_layer(16, 16, 16, 32, 3, 2),
           conv_layer(8, 8, 32, 32, 3)]
    by_preset = search_pipeline(net, ["zynq7020-partition", "zynq7020-partition"])
    by_device = search_pipeline(net, ["xc7z020", "xc7z020"], "zynq7020-partition")
    assert by_preset.stage_cycles == by_device.stage_cycles
    assert len(by_preset.stage_designs) == 2 and "engines=" in by_preset.stage_designs[0]
    models = fpga_models(["zcu102", "xc7z020", "cyclone4-ep4ce115"], "zynq7020-lut")
    assert [m.config["device"] for m in models] == ["zcu102", "xc7z020", "cyclone4-ep4ce115"]
    assert models[0].config["clock_mhz"] == 200.0  # the zcu102 preset
    assert not models[1].config["exact_on_dsp"] and not models[2].config["exact_on_dsp"]
    with pytest.raises(UserError, match="unknown FPGA 'zynq7030'"):
        fpga_models(["zynq7030"])
    # every stage fits its device in DSPs too (exact multipliers on DSPs)
    dsp = search_pipeline(net, ["zynq7020", "zynq7020"])
    for (a, b), cycles in zip(dsp.stages, dsp.stage_cycles):
        assert cycles < math.inf and b > a
