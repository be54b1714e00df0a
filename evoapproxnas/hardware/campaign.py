"""Campaign hook: hardware metrics of a candidate network, computed before any training."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evoapproxnas.hardware import asic, fpga  # noqa: F401  (register the models)
from evoapproxnas.hardware.config import get_cost_model


@dataclass(frozen=True)
class HardwareConfig:
    """The ``[hardware]`` section of a campaign: which cost model prices every candidate."""

    model: str = ""
    """Registered cost model ("asic", "fpga"); "" = no hardware metrics."""
    preset: str = ""
    """Preset name or .toml file ("" = the model's default preset)."""
    search: bool = False
    """Search the best hardware configuration per candidate (``search_metric``)."""
    search_metric: str = "edap"
    """With ``search``: the model metric the hardware search optimizes in its own direction
    (e.g. "edap" for the ASIC, "fps" for the FPGA), among designs meeting the constraints."""
    overrides: dict = field(default_factory=dict)
    """Settings replacing the preset's (dotted keys or nested tables)."""

    def estimate(self, layers: list, constraints: Iterable | None = None) -> dict[str, Any]:
        """The model's metrics of a network's layers; with ``search``, those of the best
        design that meets ``constraints`` (the campaign's, e.g. ``luts <= 30000``)."""
        return estimate_network(layers, self.model, self.preset or None, search=self.search,
                                search_metric=self.search_metric, overrides=dict(self.overrides),
                                constraints=constraints)


def estimate_network(layers: list, model: str, preset: str | None = None, *,
                     search: bool = False, search_metric: str = "edap",
                     overrides: dict | None = None,
                     constraints: Iterable | None = None) -> dict[str, Any]:
    """All metrics of ``model`` for the network; with ``search`` those of the best hardware
    config for ``search_metric`` among those meeting ``constraints`` (objects with ``metric``
    and ``violation(value)``, see ``explore.Requirement``; the least violating one when none
    meets them), plus a ``config`` summary string. Without ``search`` the constraints are not
    used (the preset is the design)."""
    if search:
        from evoapproxnas.hardware.explore import search_hardware

        return search_hardware(layers, model, search_metric, preset, overrides, constraints)
    return get_cost_model(model, preset, **(overrides or {})).estimate(layers)
