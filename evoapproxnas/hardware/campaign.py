"""Campaign hook: hardware metrics of a candidate network, computed before any training."""

from __future__ import annotations

import operator
import re
from typing import Any

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware.asic import AsicModel
from evoapproxnas.hardware.config import get_cost_model
from evoapproxnas.hardware.fpga import FpgaModel

#: Every metric of every model -> "min" or "max" (the direction that is better).
METRIC_DIRECTIONS: dict[str, str] = {**AsicModel.METRICS, **FpgaModel.METRICS}

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


def estimate_network(layers: list, model: str, preset: str | None = None, *,
                     search: bool = False, search_metric: str = "edap",
                     overrides: dict | None = None) -> dict[str, Any]:
    """All metrics of ``model`` for the network; with ``search`` those of the best hardware
    config for ``search_metric``, plus a ``config`` summary string."""
    if search:
        from evoapproxnas.hardware.explore import search_hardware

        return search_hardware(layers, model, search_metric, preset, overrides)
    return get_cost_model(model, preset, **(overrides or {})).estimate(layers)


def parse_constraint(text: str) -> tuple[str, str, float]:
    """``"fps >= 1000"`` -> ``("fps", ">=", 1000.0)``; unknown metrics raise ``UserError``."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise UserError(
            f"bad hardware constraint {text!r}; write METRIC OP NUMBER, e.g. 'luts <= 30000'"
        )
    metric, op, value = match.groups()
    if metric not in METRIC_DIRECTIONS:
        raise UserError(
            f"unknown hardware metric {metric!r} in {text!r}"
            f"{closest_names(metric, METRIC_DIRECTIONS)}; known: {', '.join(METRIC_DIRECTIONS)}"
        )
    try:
        return metric, op, float(value)
    except ValueError:
        raise UserError(f"bad number {value!r} in hardware constraint {text!r}") from None


def violated(metrics: dict, constraints: list[str]) -> list[str]:
    """The constraints (as given) that ``metrics`` break; a missing metric raises UserError."""
    broken = []
    for text in constraints:
        metric, op, value = parse_constraint(text)
        if metric not in metrics:
            raise UserError(
                f"constraint {text!r} needs metric {metric!r}, which this cost model does not "
                f"report ({', '.join(k for k in metrics if k != 'config')})"
            )
        if not _OPS[op](metrics[metric], value):
            broken.append(text)
    return broken


def to_minimize(metric: str, value: float) -> float:
    """The value as a minimization objective (max metrics are negated)."""
    if metric not in METRIC_DIRECTIONS:
        raise UserError(f"unknown hardware metric {metric!r}{closest_names(metric, METRIC_DIRECTIONS)}")
    return -value if METRIC_DIRECTIONS[metric] == "max" else value
