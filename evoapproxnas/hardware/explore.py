"""Fast hardware exploration: the best accelerator config of one network for one metric.

ASIC: dataflow x PE-array shape x global-buffer size (a grid, mappings cached per layer
shape). FPGA: every ``Tm x Tn`` engine of the option lists that fits the device, plus the
fastest partitioned design (Lu et al.) when the metric is about speed. Cheap enough to run per
candidate inside a campaign (see ``benchmarks/hardware_search.py``).
"""

from __future__ import annotations

from typing import Any

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware.config import get_cost_model

ASIC_GRID = {
    "dataflow": ("rs", "ws", "os"),
    "array": ((8, 8), (12, 14), (16, 16), (32, 32)),
    "glb_kib": (32.0, 108.0, 256.0),
}


def _better(a: float, b: float | None, direction: str) -> bool:
    return b is None or (a < b if direction == "min" else a > b)


def _check_metric(model, metric: str) -> str:
    if metric not in model.METRICS:
        raise UserError(
            f"unknown {model.name} metric {metric!r}{closest_names(metric, model.METRICS)}; "
            f"choose one of {', '.join(model.METRICS)}"
        )
    return model.METRICS[metric]


def search_asic(layers: list, metric: str = "edap", preset: str | None = None,
                overrides: dict | None = None, grid: dict | None = None) -> dict[str, Any]:
    """Best (dataflow, pe_y x pe_x, glb_kib) for ``metric``; metrics plus a ``config`` string."""
    grid = dict(ASIC_GRID, **(grid or {}))
    overrides = dict(overrides or {})
    base = get_cost_model("asic", preset, **overrides)
    direction = _check_metric(base, metric)
    best = None
    for flow in grid["dataflow"]:
        for pe_y, pe_x in grid["array"]:
            for kib in grid["glb_kib"]:
                cfg = dict(overrides, dataflow=flow, pe_x=pe_x, pe_y=pe_y, glb_kib=kib)
                result = get_cost_model("asic", preset, **cfg).estimate(layers)
                if best is None or _better(result[metric], best[0][metric], direction):
                    best = (result, f"asic dataflow={flow} pe={pe_y}x{pe_x} glb_kib={kib:g}")
    result, text = best
    return dict(result, config=text)


def search_fpga(layers: list, metric: str = "fps", preset: str | None = None,
                overrides: dict | None = None) -> dict[str, Any]:
    """Best fitting Zhang engine (Tm, Tn) or partitioned design for ``metric``."""
    overrides = dict(overrides or {})
    base = get_cost_model("fpga", preset, **dict(overrides, mode="engine"))
    direction = _check_metric(base, metric)
    best = None
    for tm in base.config["options_tm"]:
        for tn in base.config["options_tn"]:
            model = get_cost_model("fpga", preset, **dict(overrides, mode="engine", tm=tm, tn=tn))
            result = model.estimate(layers)
            if result["fits"] and (best is None or _better(result[metric], best[0][metric],
                                                           direction)):
                text = (f"fpga engine tm={tm} tn={tn} tr={base.config['tr']} "
                        f"tc={base.config['tc']} device={base.config['device']}")
                best = (result, text)
    part = get_cost_model("fpga", preset, **dict(overrides, mode="partition"))
    designs, options = part.partition_designs(layers)
    for design in designs:
        result = part.metrics(part.design_cost(layers, design, options))
        if result["fits"] and _better(result[metric], best[0][metric] if best else None,
                                      direction):
            bounds = ",".join(str(b) for b in design.bounds)
            best = (result, f"fpga partition ends={bounds} device={base.config['device']}")
    if best is None:
        raise UserError(
            f"no FPGA design of this network fits {base.config['device']}; try a larger "
            "device preset (e.g. zcu102)"
        )
    result, text = best
    return dict(result, config=text)


def search_hardware(layers: list, model: str, metric: str, preset: str | None = None,
                    overrides: dict | None = None) -> dict[str, Any]:
    """Dispatch to :func:`search_asic` or :func:`search_fpga`."""
    if model == "asic":
        return search_asic(layers, metric, preset, overrides)
    if model == "fpga":
        return search_fpga(layers, metric, preset, overrides)
    raise UserError(f"hardware search supports models asic and fpga, not {model!r}")
