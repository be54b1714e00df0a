"""The metric vocabulary: one registry of every metric a campaign may name, with directions
that agree with what the cost models compute, the one constraint parser, and the table in
docs/campaigns.md kept in step with the registry."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas import metrics
from evoapproxnas.config import SearchConfig, load_config
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, estimate_network
from evoapproxnas.hardware.config import MODELS, CostModel, ModelMetric
from evoapproxnas.metrics import (
    DEFAULT_HV_REFERENCE,
    METRICS,
    Constraint,
    Direction,
    cheap_names,
    direction,
    is_hardware,
    names,
    parse_constraint,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "search" / "tiny.toml"
DOC = ROOT / "docs" / "campaigns.md"


def test_every_metric_has_a_direction_unit_and_meaning():
    assert names() == list(METRICS) and len(METRICS) >= 10
    for name, m in METRICS.items():
        assert m.name == name and re.fullmatch(r"[a-z_][a-z0-9_]*", name)
        assert isinstance(m.direction, Direction)
        assert isinstance(m.unit, str)
        assert m.meaning.strip() and len(m.meaning) <= 70, name
        assert not any(c in m.meaning + m.unit for c in "\n|`"), name  # a table cell
        assert m.label.startswith(m.meaning)
    assert not METRICS["error"].cheap and "error" not in cheap_names()
    assert set(cheap_names()) == set(METRICS) - {"error"}


def test_hardware_metrics_are_the_cost_models_own():
    declared = {name for cls in MODELS.values() for name in cls.METRICS}
    assert {n for n in names() if is_hardware(n)} == declared
    for model, cls in MODELS.items():
        for name, spec in cls.METRICS.items():
            assert model in METRICS[name].models
            assert direction(name).value == spec.direction and METRICS[name].unit == spec.unit
    assert not any(is_hardware(n) for n in ("error", "params", "power_rel", "bogus"))


def network(size: int, multiplier=None) -> list:
    return [conv_layer(size, size, 8, 16, 3, multiplier=multiplier),
            conv_layer(size, size, 16, 16, 3, multiplier=multiplier),
            dense_layer(size * size * 16, 10, multiplier)]


PRESETS = {"asic": None, "fpga": "zynq7020-lut", "fpga_lu": "cyclone4"}
"""A preset per model with every multiplier in the same resource (the default FPGA preset
puts exact multipliers on DSPs, approximate ones in LUTs: fewer DSPs, more LUTs)."""


@pytest.mark.parametrize("model", sorted(MODELS))
def test_directions_agree_with_the_cost_models_outputs(model):
    """Every number a cost model returns is a registered metric of that model; a multiplier
    cheaper in every figure is never worse on any metric and better on some (as silicon
    responds to approximation), and a bigger network is worse on the work it takes."""
    from evoapproxnas.multipliers import load_library

    library = load_library("evoapproxlib8u")
    e = library.exact
    cheap = next(m for m in library if m.power_mw and m.area_um2 and m.luts
                 and m.power_mw < e.power_mw and m.area_um2 < e.area_um2 and m.luts < e.luts)
    exact = estimate_network(network(16, e), model, PRESETS[model])
    approximate = estimate_network(network(16, cheap), model, PRESETS[model])
    numeric = {k for k, v in exact.items() if isinstance(v, (int, float))}
    assert numeric == set(MODELS[model].METRICS)
    assert all(model in METRICS[k].models for k in numeric)
    gains = 0
    for name in sorted(numeric):
        way = direction(name)
        assert way.minimized(approximate[name]) <= way.minimized(exact[name]), name
        gains += way.minimized(approximate[name]) < way.minimized(exact[name])
    assert gains >= 1
    small, big = exact, estimate_network(network(32, e), model, PRESETS[model])
    work = {"energy_pj", "latency_cycles", "edap", "macs", "fps"} & numeric
    assert "latency_cycles" in work and "fps" in work
    for name in sorted(work):
        assert direction(name).minimized(big[name]) > direction(name).minimized(small[name])


def test_the_obvious_directions():
    maximized = {"fps", "utilization", "fits", "gops_per_w", "pipeline_efficiency"}
    for name in names():
        want = Direction.MAXIMIZE if name in maximized else Direction.MINIMIZE
        assert direction(name) is want, name
    assert Direction.MAXIMIZE.minimized(3.0) == -3.0 and Direction.MINIMIZE.minimized(3.0) == 3.0


def test_unknown_metric_is_a_user_error_naming_the_closest():
    with pytest.raises(UserError, match="did you mean: fps") as exc:
        direction("fpss")
    assert "\n" not in str(exc.value)


def test_two_models_must_agree_on_a_shared_metric(monkeypatch):
    class Odd(CostModel):
        METRICS = {"fps": ModelMetric("min", "1/s", "frames")}

    monkeypatch.setitem(MODELS, "odd", Odd)
    with pytest.raises(ValueError, match="'odd' declares metric 'fps'"):
        metrics._registry()


def test_campaign_metrics_are_what_a_campaign_measures():
    from evoapproxnas.search.problem import CampaignProblem, load_data

    cfg = load_config(TINY, ["hardware.model=fpga", "search.objectives=['error','fps']",
                             "search.hv_reference.fps=0"])
    data = load_data(cfg)
    problem = CampaignProblem.build(cfg, data.input_shape, data.n_classes)
    genome = problem.space.sample(np.random.default_rng(0))
    measured = problem.cheap_metrics(problem.decode(genome))
    numeric = {k for k, v in measured.items() if isinstance(v, (int, float))}
    own = {m.name for m in metrics.CAMPAIGN_METRICS if m.cheap}
    assert own <= numeric and numeric <= set(cheap_names())
    assert numeric - own == set(MODELS["fpga"].METRICS)


def test_every_metric_an_objective_can_name_is_in_the_registry():
    """Config validation takes its names from the registry: each registered metric is a
    valid objective (with a cost model that computes it), every cheap one a valid
    constraint, and a name outside the registry is refused."""
    for name in names():
        models = METRICS[name].models
        sets = [f"hardware.model={models[0]}"] if models else []
        other = "params" if name == "error" else "error"
        sets += [f"search.objectives=['{other}','{name}']", f"search.hv_reference.{name}=1"]
        assert load_config(TINY, sets).search.objectives == (other, name)
        if METRICS[name].cheap:
            bound = [f"search.constraints=['{name} >= 0']"]
            load_config(TINY, bound + (sets[:1] if models else []))
    for bad in ("bogus", "val_accuracy", "FPS"):
        with pytest.raises(UserError, match="unknown metric"):
            load_config(TINY, [f"search.objectives=['error','{bad}']"])
    with pytest.raises(UserError, match="before training"):
        load_config(TINY, ["search.constraints=['error <= 0.1']"])
    documented = re.findall(r'"([a-z_]+)"', _doc("objectives"))
    assert documented and all(n in METRICS for n in documented)
    defaults = SearchConfig().objectives
    assert all(n in DEFAULT_HV_REFERENCE for n in defaults)


def _doc(key: str) -> str:
    from evoapproxnas.cli.configdoc import field_docstrings

    return field_docstrings(SearchConfig)[key]


@pytest.mark.parametrize("text, want", [
    ("params <= 200000", Constraint("params", "<=", 200000.0)),
    (" fps>=1e3 ", Constraint("fps", ">=", 1000.0)),
    ("luts <= -2.5", Constraint("luts", "<=", -2.5)),
    ("power_rel<=+.5", Constraint("power_rel", "<=", 0.5)),
])
def test_constraint_parses(text, want):
    assert parse_constraint(text) == want
    assert parse_constraint(str(want)) == want


@pytest.mark.parametrize("bound", [0.1 + 0.2, 1e-300, 123456789.123, -5.0, 1e20, 0.0, 3.0])
def test_constraint_text_round_trips(bound):
    for op in ("<=", ">="):
        c = Constraint("edap", op, bound)
        assert parse_constraint(str(c)) == c
    assert str(Constraint("luts", "<=", 30000.0)) == "luts <= 30000"


def test_constraint_violation_is_relative():
    assert parse_constraint("fps >= 1000").violation(500.0) == pytest.approx(0.5)
    assert parse_constraint("fps >= 1000").violation(1500.0) == 0.0
    assert parse_constraint("luts <= 30000").violation(45000.0) == pytest.approx(0.5)
    assert parse_constraint("power_rel <= 0.5").violation(0.75) == pytest.approx(0.25)


@pytest.mark.parametrize("text", [
    "fps = 3", "", "<= 3", "fps <= ", "fps <= nan", "fps <= inf", "fps <= 1e999",
    "fps <= 1.2.3", "fps <= 3\nluts <= 4", "fps >= 3 extra", "3fps <= 1", "fps < 3",
    "fps <= 0x10", "f\u00e9s <= 1",
])
def test_bad_constraints_are_one_line_user_errors(text):
    with pytest.raises(UserError, match="METRIC <= NUMBER") as exc:
        parse_constraint(text, "c.toml")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("c.toml: ")


def metrics_table() -> str:
    """The Metrics table of docs/campaigns.md, from the registry."""
    rows = ["| metric | better | unit | before training | computed by | meaning |",
            "|---|---|---|---|---|---|"]
    for m in METRICS.values():
        rows.append(f"| `{m.name}` | {m.direction.value} | {m.unit or '-'} | "
                    f"{'yes' if m.cheap else 'no'} | {', '.join(m.models) or 'campaign'} | "
                    f"{m.meaning} |")
    return "\n".join(rows) + "\n"


def test_docs_metrics_table_matches_the_registry():
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| metric | better |")
    end = text.index("\n\n", start) + 1
    assert text[start:end] == metrics_table(), (
        "docs/campaigns.md's Metrics table differs from evoapproxnas.metrics; replace it "
        f"with:\n{metrics_table()}")
