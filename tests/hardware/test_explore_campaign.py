from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import (
    METRIC_DIRECTIONS,
    conv_layer,
    dense_layer,
    estimate_network,
    get_cost_model,
)
from evoapproxnas.hardware.explore import ASIC_GRID

from .helpers import HALF

NET = [conv_layer(28, 28, 1, 16, 3), conv_layer(28, 28, 16, 32, 3, 2),
       conv_layer(14, 14, 32, 32, 3, groups=32), dense_layer(14 * 14 * 32, 10, HALF)]
TINY = Path(__file__).parents[1] / "search" / "tiny.toml"


def test_directions_cover_every_metric():
    for name in ("asic", "fpga"):
        metrics = estimate_network(NET, name)
        assert set(metrics) == set(get_cost_model(name).METRICS)
        assert all(m in METRIC_DIRECTIONS for m in metrics)
    assert METRIC_DIRECTIONS["fps"] == "max" and METRIC_DIRECTIONS["edap"] == "min"
    assert METRIC_DIRECTIONS["luts"] == "min"


def test_estimate_network_equals_model_estimate():
    direct = get_cost_model("asic", "edge-8x8-ws", pe_x=4).estimate(NET)
    assert estimate_network(NET, "asic", "edge-8x8-ws", overrides={"pe_x": 4}) == direct


@pytest.mark.parametrize("metric", ["edap", "energy_pj", "latency_cycles"])
def test_asic_search_finds_the_grid_optimum(metric):
    best = estimate_network(NET, "asic", search=True, search_metric=metric)
    values = []
    for flow in ASIC_GRID["dataflow"]:
        for pe_y, pe_x in ASIC_GRID["array"]:
            for kib in ASIC_GRID["glb_kib"]:
                m = get_cost_model("asic", dataflow=flow, pe_x=pe_x, pe_y=pe_y, glb_kib=kib)
                values.append(m.estimate(NET)[metric])
    assert best[metric] == min(values)
    assert best["config"].startswith("asic dataflow=")
    default = estimate_network(NET, "asic")
    assert best[metric] <= default[metric]


def test_fpga_search_maximizes_fps_within_device():
    best = estimate_network(NET, "fpga", search=True, search_metric="fps")
    assert best["fits"] == 1.0
    assert best["fps"] >= estimate_network(NET, "fpga")["fps"]
    small = estimate_network(NET, "fpga", search=True, search_metric="luts")
    assert small["luts"] <= best["luts"]
    with pytest.raises(UserError, match="unknown fpga metric"):
        estimate_network(NET, "fpga", search=True, search_metric="edap")


def test_campaign_minimizes_edap_and_maximizes_fps_under_lut_budget():
    from evoapproxnas import cgp
    from evoapproxnas.config import load_config
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.search.problem import CampaignProblem, load_data

    edap_cfg = load_config(TINY, ["search.objectives=['error','edap']", "hardware.model='asic'",
                                  "search.hv_reference={error=1.0, edap=1e20}"])
    fps_cfg = load_config(TINY, ["search.objectives=['error','fps']",
                                 "search.constraints=['luts <= 5000']",
                                 "hardware.model='fpga'", "hardware.search=true",
                                 "hardware.search_metric='fps'",
                                 "search.hv_reference={error=1.0, fps=0}"])
    rng = np.random.default_rng(5)
    for cfg, metric in ((edap_cfg, "edap"), (fps_cfg, "fps")):
        data = load_data(cfg)
        problem = CampaignProblem.build(cfg, data.input_shape, data.n_classes)
        graph = problem.decode(cgp.random_genome(problem.spec, rng))
        metrics = problem.cheap_metrics(graph)
        layers = layers_from_graph(graph, problem.multipliers)
        want = estimate_network(layers, cfg.hardware.model, search=cfg.hardware.search,
                                search_metric=cfg.hardware.search_metric)
        assert metrics[metric] == pytest.approx(want[metric])
        if metric == "fps":
            assert problem.violation(metrics) == pytest.approx(
                max(0.0, metrics["luts"] - 5000) / 5000, abs=1e-9)
