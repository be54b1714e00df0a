import itertools
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import (
    conv_layer,
    dense_layer,
    estimate_network,
    get_cost_model,
)
from evoapproxnas.hardware.explore import ASIC_GRID
from evoapproxnas.metrics import METRICS, Direction, direction, parse_constraint
from evoapproxnas.search.tasks import TrainOutcome

from .helpers import HALF, FakeMultiplier

NET = [conv_layer(28, 28, 1, 16, 3), conv_layer(28, 28, 16, 32, 3, 2),
       conv_layer(14, 14, 32, 32, 3, groups=32), dense_layer(14 * 14 * 32, 10, HALF)]
TINY = Path(__file__).parents[1] / "search" / "tiny.toml"


def test_directions_cover_every_metric():
    for name in ("asic", "fpga"):
        metrics = estimate_network(NET, name)
        assert set(metrics) == set(get_cost_model(name).METRICS)
        assert all(METRICS[m].hardware for m in metrics)
    assert direction("fps") is Direction.MAXIMIZE and direction("edap") is Direction.MINIMIZE
    assert direction("luts") is Direction.MINIMIZE


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
                                search_metric=cfg.hardware.search_metric,
                                constraints=cfg.parsed_constraints)
        assert metrics[metric] == pytest.approx(want[metric])
        if metric == "fps":
            assert problem.violation(metrics) == pytest.approx(
                max(0.0, metrics["luts"] - 5000) / 5000, abs=1e-9)


# ---- spec-aware search: the best design that meets the campaign's hardware constraints ----

EXACT80 = FakeMultiplier("exact", 0.391, 709.6, 80.0, is_exact=True)  # 80 LUTs, as in the issue


def _issue_net(mult=EXACT80):
    """The issue's all-exact 3-convolution network (28x28x1 input, 10 classes)."""
    return [conv_layer(28, 28, 1, 16, 3, multiplier=mult),
            conv_layer(28, 28, 16, 32, 3, 2, multiplier=mult),
            conv_layer(14, 14, 32, 32, 3, 2, multiplier=mult), dense_layer(32, 10, mult)]


def test_fpga_search_meets_the_lut_budget_of_the_issue():
    net = _issue_net()
    fastest = estimate_network(net, "fpga", "zynq7020-lut", search=True, search_metric="fps")
    assert fastest["luts"] == 49_230  # fits the device, not the campaign's budget
    budget = [parse_constraint("luts <= 30000")]
    best = estimate_network(net, "fpga", "zynq7020-lut", search=True, search_metric="fps",
                            constraints=budget)
    assert best["luts"] <= 30_000 and round(best["fps"]) >= 8074
    # the issue's design: conv1+conv2 side by side, then conv3+head (100 MHz / 12,386 cycles)
    assert (round(best["fps"]), best["luts"]) == (8074, 21_616)
    assert best["config"].startswith("fpga partition ends=2,4")
    # the campaign now finds it feasible
    assert budget[0].violation(best["luts"]) == 0 < budget[0].violation(fastest["luts"])


def _all_designs(layers, preset, overrides):
    """Every fitting engine and partitioned design (every cut, every engine per layer, no
    pruning), composed here by hand: a partition's layers run side by side (LUTs, DSPs and
    BRAMs add up, the slowest layer sets its latency), partitions one after another (the
    largest partition's resources, latencies add up)."""
    from evoapproxnas.hardware.fpga import engine_cost

    model = get_cost_model("fpga", preset, **overrides)
    cfg, dev = model.config, model.device
    grid = [(tm, tn) for tm in cfg["options_tm"] for tn in cfg["options_tn"]]
    designs = []
    for tm, tn in grid:
        designs.append(get_cost_model("fpga", preset, **dict(overrides, mode="engine", tm=tm,
                                                            tn=tn)).estimate(layers))
    per_layer = [[engine_cost([x], tm, tn, cfg, dev) for tm, tn in grid] for x in layers]
    n = len(layers)
    for cuts in itertools.product((False, True), repeat=n - 1):
        ends = [i + 1 for i, c in enumerate(cuts) if c] + [n]
        parts = list(zip([0, *ends[:-1]], ends))
        for choice in itertools.product(range(len(grid)), repeat=n):
            cost = {"luts": 0.0, "dsps": 0.0, "brams": 0.0, "latency_cycles": 0.0}
            for a, b in parts:
                costs = [per_layer[i][choice[i]] for i in range(a, b)]
                for key in ("luts", "dsps", "brams"):
                    cost[key] = max(cost[key], sum(c[key] for c in costs))
                cost["latency_cycles"] += max(c["latency_cycles"] for c in costs)
            cost["fps"] = cfg["clock_mhz"] * 1e6 / cost["latency_cycles"]
            cost["fits"] = float(cost["luts"] <= dev["luts"] and cost["dsps"] <= dev["dsps"]
                                 and cost["brams"] <= dev["brams"])
            designs.append(cost)
    return [d for d in designs if d["fits"]]


def _pick(designs, metric, constraints):
    """The design meeting the constraints with the best metric; else the least violating."""
    sign = 1 if direction(metric) is Direction.MINIMIZE else -1
    return min(designs, key=lambda d: (sum(c.violation(d[c.metric]) for c in constraints),
                                       sign * d[metric]))


@pytest.mark.parametrize("seed", range(6))
def test_fpga_search_equals_brute_force_under_constraints(seed):
    rng = np.random.default_rng(seed)
    mults = [EXACT80, FakeMultiplier("a", 0.2, 350.0, 41.0), FakeMultiplier("b", 0.05, 90.0, 9.0)]
    h, c, net = 16, 1, []
    for _ in range(3):
        cout, s = int(rng.choice([8, 16, 32])), int(rng.choice([1, 2]))
        net.append(conv_layer(h, h, c, cout, 3, s, multiplier=mults[rng.integers(3)]))
        h, c = -(-h // s), cout
    net.append(dense_layer(c, 10, mults[rng.integers(3)]))
    grid = {"options_tm": [1, 4, 16], "options_tn": [1, 4, 16]}
    every = _all_designs(net, "zynq7020-lut", grid)
    luts = sorted(d["luts"] for d in every)
    fps = sorted(d["fps"] for d in every)
    budget = float(luts[int(rng.integers(len(luts) // 4, len(luts) - 1))])
    need = float(fps[int(rng.integers(0, len(fps) // 2))])
    for metric, constraints in (("fps", [f"luts <= {budget}"]),
                                ("luts", [f"fps >= {need}"]),
                                ("fps", [f"luts <= {budget}", f"fps >= {need}"]),
                                ("fps", ["luts <= 100"])):  # nothing meets it: least violation
        parsed = [parse_constraint(t) for t in constraints]
        got = estimate_network(net, "fpga", "zynq7020-lut", search=True, search_metric=metric,
                               overrides=grid, constraints=parsed)
        want = _pick(every, metric, parsed)
        assert got[metric] == pytest.approx(want[metric]), constraints
        for con in parsed:
            assert con.violation(got[con.metric]) == pytest.approx(
                con.violation(want[con.metric])), constraints


def test_asic_search_keeps_to_its_constraints():
    areas = {}
    for flow in ASIC_GRID["dataflow"]:
        for pe_y, pe_x in ASIC_GRID["array"]:
            for kib in ASIC_GRID["glb_kib"]:
                m = get_cost_model("asic", dataflow=flow, pe_x=pe_x, pe_y=pe_y, glb_kib=kib)
                areas[(flow, pe_y, pe_x, kib)] = m.estimate(NET)
    cap = sorted(r["area_um2"] for r in areas.values())[10]
    need = sorted(r["fps"] for r in areas.values())[5]
    parsed = [parse_constraint(f"area_um2 <= {cap}"), parse_constraint(f"fps >= {need}"),
              parse_constraint("luts <= 1")]  # not an ASIC metric: ignored by the ASIC search
    got = estimate_network(NET, "asic", search=True, search_metric="energy_pj",
                           constraints=parsed)
    meets = [r for r in areas.values() if r["area_um2"] <= cap and r["fps"] >= need]
    assert got["energy_pj"] == min(r["energy_pj"] for r in meets)
    assert got["area_um2"] <= cap and got["fps"] >= need


# ---- a cost-model error fails that candidate; the campaign goes on ------------------------

class OkTraining:
    """A pool that 'trains' every candidate it gets (accuracy 0.5), remembering which."""

    def __init__(self) -> None:
        self.trained: list[str] = []

    def map(self, fn, payloads, timeout_s, on_result):
        for k, payload in enumerate(payloads):
            self.trained.append(payload.hash)
            on_result(k, TrainOutcome(status="ok", reason=None, val_accuracy=0.5,
                          val_accuracy_exact=0.5, train_seconds=0.0, eval_seconds=0.0))


def _fpga_problem(*extra):
    from evoapproxnas.config import load_config
    from evoapproxnas.search.problem import CampaignProblem

    cfg = load_config(TINY, ["search.objectives=['error','fps']", "hardware.model='fpga'",
                             "hardware.preset='zynq7020-lut'", "hardware.search=true",
                             "hardware.search_metric='fps'",
                             "search.hv_reference={error=1.0, fps=0}", *extra])
    return CampaignProblem.build(cfg, (8, 8, 1), 3)


def test_cost_model_errors_fail_only_their_candidates(tmp_path):
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.search.evaluation import Evaluator
    from evoapproxnas.search.study.archive import Archive
    from evoapproxnas.search.study.results import FAILED_CV, vectors

    probe = _fpga_problem()
    rng = np.random.default_rng(4)
    genomes, keys = [], set()
    while len(genomes) < 8:
        g = probe.space.sample(rng)
        if probe.space.key(g) not in keys:
            keys.add(probe.space.key(g))
            genomes.append(g)
    # the least LUTs any design of each network needs besides the fixed control logic
    need = [estimate_network(layers_from_graph(probe.decode(g), probe.choice), "fpga",
                             "zynq7020-lut", search=True, search_metric="luts",
                             overrides={"control_luts": 0})["luts"] for g in genomes]
    control = int(53_200 - sorted(need)[len(need) // 2] + 1)  # about half fit no more
    problem = _fpga_problem(f"hardware.overrides={{control_luts={control}}}")

    def fails(g):
        try:
            estimate_network(layers_from_graph(problem.decode(g), problem.choice), "fpga",
                             "zynq7020-lut", search=True, search_metric="fps",
                             overrides={"control_luts": control})
        except UserError:
            return True
        return False

    expected = [fails(g) for g in genomes]
    assert 0 < sum(expected) < len(genomes)
    pool = OkTraining()
    archive = Archive(tmp_path / "archive.jsonl")
    records = Evaluator(problem, archive, {}, pool).evaluate(genomes, 0)
    assert [r.status == "failed" for r in records] == expected
    assert [r.status for r in records if not expected[records.index(r)]] == ["ok"] * (
        len(genomes) - sum(expected))
    for r, failed in zip(records, expected):
        if failed:
            assert r.reason.startswith("hardware cost model: no FPGA design")
            assert r.hash not in pool.trained and "fps" not in r.metrics
            assert r.metrics["params"] > 0  # what was measured before the failure is kept
        else:
            assert r.hash in pool.trained and r.metrics["fps"] > 0
    assert [r.status for r in archive.records()] == [r.status for r in records]
    _, cv = vectors(records, problem.cfg.search.objectives)
    assert [v >= FAILED_CV for v in cv] == expected


@pytest.mark.parametrize("extra, needle", [
    (["hardware.search_metric='edap'"], "does not compute 'edap'"),
    (["hardware.preset='zynq7021'"], "unknown fpga preset"),
    (["search.constraints=['area_um2 <= 5']"], "does not compute 'area_um2'"),
    (["hardware.overrides={tm_max=3}"], "unknown hardware setting 'tm_max'"),
])
def test_hardware_config_mistakes_stop_the_campaign_at_once(extra, needle):
    with pytest.raises(UserError, match=needle) as info:
        _fpga_problem(*extra)
    assert "\n" not in str(info.value)
