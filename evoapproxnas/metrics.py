"""The metric vocabulary: every metric a campaign's objectives, constraints and hypervolume
reference may name, with the direction that is better, its unit, its meaning and whether it
is known before training; and ``Constraint``, the one parsed form of ``"METRIC <= BOUND"``.

The campaign's own metrics (error, parameters, multiplication power) are defined here. The
hardware metrics are those the registered cost models declare (``CostModel.METRICS`` in
``evoapproxnas.hardware``): the hardware layer owns its cost models and what they compute,
and this module lists them with the rest. So it sits on the hardware floor: it imports the
hardware package (which registers the models) and is imported by config, search, plots and
the command line; the hardware package imports nothing from it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware import asic, fpga  # noqa: F401  (register the cost models)
from evoapproxnas.hardware.config import MODELS


class Direction(str, Enum):
    """Which way a metric is better (the value is the short form "min" / "max")."""

    MINIMIZE = "min"
    MAXIMIZE = "max"

    def minimized(self, value: float) -> float:
        """``value`` in minimization form: as is when minimized, negated when maximized."""
        return value if self is Direction.MINIMIZE else -value


@dataclass(frozen=True)
class Metric:
    """One metric: its name, the better direction, unit, meaning, and where it comes from."""

    name: str
    direction: Direction
    unit: str
    """"" for a count or a ratio."""
    meaning: str
    """A few words (a plot's axis label)."""
    cheap: bool
    """Known before training, so a constraint may name it."""
    models: tuple[str, ...] = ()
    """The cost models that compute it; () for the campaign's own metrics."""
    hv_reference: float | None = None
    """Default hypervolume reference (worst point); None: a campaign must give one."""

    @property
    def hardware(self) -> bool:
        return bool(self.models)

    @property
    def label(self) -> str:
        """Meaning and unit, e.g. "energy of one inference (pJ)"."""
        return f"{self.meaning} ({self.unit})" if self.unit else self.meaning


CAMPAIGN_METRICS = (
    Metric("error", Direction.MINIMIZE, "", "validation error (1 - accuracy) with the "
           "candidate's multipliers", cheap=False, hv_reference=1.0),
    Metric("params", Direction.MINIMIZE, "", "parameters of the network", cheap=True,
           hv_reference=1_000_000),
    Metric("power_mw", Direction.MINIMIZE, "mW-equivalents",
           "multiplication power (multiplications x multiplier power)", cheap=True),
    Metric("power_rel", Direction.MINIMIZE, "",
           "multiplication power relative to the exact multiplier", cheap=True,
           hv_reference=1.0),
    Metric("multiplications", Direction.MINIMIZE, "", "multiplications per inference",
           cheap=True),
)
"""The metrics a campaign measures itself (``search.problem.cheap_metrics``, and the error
after training)."""


def _registry() -> dict[str, Metric]:
    """The campaign's metrics, then every registered cost model's (in registration order); a
    metric two models compute must be declared alike in both (``hardware.config.COMMON_METRICS``
    holds those)."""
    out = {m.name: m for m in CAMPAIGN_METRICS}
    for model, cls in MODELS.items():
        for name, (way, unit, meaning) in cls.METRICS.items():
            known = out.get(name)
            if known is None:
                out[name] = Metric(name, Direction(way), unit, meaning, cheap=True,
                                   models=(model,))
            elif not known.hardware or (known.direction, known.unit, known.meaning) != (
                    Direction(way), unit, meaning):
                raise ValueError(f"cost model {model!r} declares metric {name!r} unlike "
                                 f"{', '.join(known.models) or 'the campaign'}")
            else:
                out[name] = Metric(name, known.direction, unit, known.meaning, cheap=True,
                                   models=(*known.models, model))
    return out


METRICS: dict[str, Metric] = _registry()
"""Every metric by name: the registry."""

DEFAULT_HV_REFERENCE = {m.name: m.hv_reference for m in METRICS.values()
                        if m.hv_reference is not None}
"""Hypervolume reference of the metrics that have a default (``search.hv_reference``)."""


def metric(name: str) -> Metric:
    """The registered metric ``name`` (``UserError`` naming the closest ones if unknown)."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown metric {name!r}{closest_names(str(name), METRICS)}; "
                        f"known: {', '.join(METRICS)}") from None


def direction(name: str) -> Direction:
    """The direction that is better for metric ``name``."""
    return metric(name).direction


def names() -> list[str]:
    """Every metric objectives may name: the campaign's, then the hardware ones."""
    return list(METRICS)


def cheap_names() -> list[str]:
    """The metrics known before training (those constraints may name)."""
    return [m.name for m in METRICS.values() if m.cheap]


def is_hardware(name: str) -> bool:
    """True for a metric that a hardware cost model computes."""
    return name in METRICS and METRICS[name].hardware


CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``METRIC <= BOUND`` or ``METRIC >= BOUND`` on a metric known before training."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """0 when satisfied, else the excess relative to ``max(|bound|, 1)``."""
        excess = value - self.bound if self.op == "<=" else self.bound - value
        return max(0.0, excess) / max(abs(self.bound), 1.0)

    def __str__(self) -> str:
        bound = f"{self.bound:g}"  # short, unless that would change the bound
        return f"{self.metric} {self.op} {bound if float(bound) == self.bound else repr(self.bound)}"


def parse_constraint(text: str, source: str = "") -> Constraint:
    """The one constraint parser: ``"params <= 200000"`` -> ``Constraint`` (``UserError``
    otherwise). The metric's name is not checked here (config validation does)."""
    match = CONSTRAINT_RE.match(str(text))
    try:
        bound = float(match.group(3)) if match else math.nan
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        where = f"{source}: " if source else ""
        raise UserError(f"{where}search.constraints: cannot read {text!r}; write "
                        "'METRIC <= NUMBER' or 'METRIC >= NUMBER', e.g. 'params <= 200000'")
    return Constraint(match.group(1), match.group(2), bound)
