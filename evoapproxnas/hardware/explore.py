"""Fast hardware exploration: the best accelerator config of one network for one metric,
within the campaign's hardware constraints (the Lu et al. framing: the best design that meets
the LUT budget and the throughput requirement).

ASIC: dataflow x PE-array shape x global-buffer size (a grid, mappings cached per layer
shape). FPGA: every ``Tm x Tn`` engine of the option lists and every Pareto partitioned design
(Lu et al.) that fits the device. Among the designs that meet every constraint the best for
the metric wins; when none meets them, the one that violates them least (the campaign then
records the candidate infeasible, with that smallest violation). Cheap enough to run per
candidate inside a campaign (see ``benchmarks/hardware_search.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware.config import get_cost_model

ASIC_GRID = {
    "dataflow": ("rs", "ws", "os"),
    "array": ((8, 8), (12, 14), (16, 16), (32, 32)),
    "glb_kib": (32.0, 108.0, 256.0),
}


class Requirement(Protocol):
    """A hardware constraint: ``metric`` and ``violation(value)`` (0 when met), e.g. a
    campaign's ``metrics.Constraint`` (``luts <= 30000``, ``fps >= 1000``)."""

    metric: str

    def violation(self, value: float) -> float: ...


def _check_metric(model, metric: str) -> str:
    if metric not in model.METRICS:
        raise UserError(
            f"unknown {model.name} metric {metric!r}{closest_names(metric, model.METRICS)}; "
            f"choose one of {', '.join(model.METRICS)}"
        )
    return model.METRICS[metric].direction


def _applicable(model, constraints: Iterable[Requirement] | None) -> list[Requirement]:
    """The constraints on metrics that ``model`` computes (others are not its business)."""
    return [c for c in constraints or () if c.metric in model.METRICS]


class _Best:
    """Keeps the best design seen: least total violation first, then the best metric value."""

    def __init__(self, metric: str, direction: str, constraints: list[Requirement]) -> None:
        self.metric, self.constraints = metric, constraints
        self.sign = 1.0 if direction == "min" else -1.0
        self.key: tuple[float, float] | None = None
        self.result: dict[str, Any] | None = None

    def offer(self, result: dict[str, Any], text: str) -> None:
        violation = sum(c.violation(result[c.metric]) for c in self.constraints)
        key = (violation, self.sign * result[self.metric])
        if self.key is None or key < self.key:
            self.key, self.result = key, dict(result, config=text)


def search_asic(layers: list, metric: str = "edap", preset: str | None = None,
                overrides: dict | None = None, grid: dict | None = None,
                constraints: Iterable[Requirement] | None = None) -> dict[str, Any]:
    """Best (dataflow, pe_y x pe_x, glb_kib) for ``metric`` meeting ``constraints``; its
    metrics plus a ``config`` string."""
    grid = dict(ASIC_GRID, **(grid or {}))
    overrides = dict(overrides or {})
    base = get_cost_model("asic", preset, **overrides)
    best = _Best(metric, _check_metric(base, metric), _applicable(base, constraints))
    for flow in grid["dataflow"]:
        for pe_y, pe_x in grid["array"]:
            for kib in grid["glb_kib"]:
                cfg = dict(overrides, dataflow=flow, pe_x=pe_x, pe_y=pe_y, glb_kib=kib)
                best.offer(get_cost_model("asic", preset, **cfg).estimate(layers),
                           f"asic dataflow={flow} pe={pe_y}x{pe_x} glb_kib={kib:g}")
    return best.result


def search_fpga(layers: list, metric: str = "fps", preset: str | None = None,
                overrides: dict | None = None,
                constraints: Iterable[Requirement] | None = None) -> dict[str, Any]:
    """Best fitting Zhang engine (Tm, Tn) or partitioned design for ``metric`` meeting
    ``constraints``; ``UserError`` when no design fits the device at all."""
    overrides = dict(overrides or {})
    base = get_cost_model("fpga", preset, **dict(overrides, mode="engine"))
    best = _Best(metric, _check_metric(base, metric), _applicable(base, constraints))
    device = base.config["device"]
    for tm in base.config["options_tm"]:
        for tn in base.config["options_tn"]:
            model = get_cost_model("fpga", preset, **dict(overrides, mode="engine", tm=tm, tn=tn))
            result = model.estimate(layers)
            if result["fits"]:
                best.offer(result, f"fpga engine tm={tm} tn={tn} tr={base.config['tr']} "
                                   f"tc={base.config['tc']} device={device}")
    part = get_cost_model("fpga", preset, **dict(overrides, mode="partition"))
    designs, options = part.partition_designs(layers)
    for design in designs:
        result = part.metrics(part.design_cost(layers, design, options))
        if result["fits"]:
            bounds = ",".join(str(b) for b in design.bounds)
            best.offer(result, f"fpga partition ends={bounds} device={device}")
    if best.result is None:
        raise UserError(
            f"no FPGA design of this network fits {device}; try a larger device preset "
            "(e.g. zcu102)"
        )
    return best.result


def search_hardware(layers: list, model: str, metric: str, preset: str | None = None,
                    overrides: dict | None = None,
                    constraints: Iterable[Requirement] | None = None) -> dict[str, Any]:
    """Dispatch to :func:`search_asic` or :func:`search_fpga`."""
    if model == "asic":
        return search_asic(layers, metric, preset, overrides, constraints=constraints)
    if model == "fpga":
        return search_fpga(layers, metric, preset, overrides, constraints=constraints)
    if model == "fpga_lu":
        return search_lu(layers, preset, overrides, constraints=constraints)
    raise UserError(f"hardware search supports models asic, fpga and fpga_lu, not {model!r}")


def search_lu(layers: list, preset: str | None = None, overrides: dict | None = None,
              constraints: Iterable[Requirement] | None = None) -> dict[str, Any]:
    """Lu et al.'s search (``fpga_lu``): the LUT budget rL and the throughput rT are the
    tightest ``luts <=`` and ``fps >=`` constraints (else the preset's settings); the
    metrics of the fastest partitioned design within rL, plus ``config``."""
    overrides = dict(overrides or {})
    for c in constraints or ():
        op, bound = getattr(c, "op", None), getattr(c, "bound", None)
        if c.metric == "luts" and op == "<=":
            overrides["lut_budget"] = min(float(bound), overrides.get("lut_budget") or math.inf)
        elif c.metric == "fps" and op == ">=":
            overrides["throughput"] = max(float(bound), overrides.get("throughput") or 0.0)
    model = get_cost_model("fpga_lu", preset, **overrides)
    result, design, met = model.estimate_design(layers)
    spec = f"rL={model.lut_budget:g} rT={float(model.config['throughput']):g}"
    ends = ",".join(str(b) for b in design.bounds)
    return dict(result, config=f"fpga_lu {spec} {'met' if met else 'missed'} partition "
                               f"ends={ends} device={model.config['device']}")
