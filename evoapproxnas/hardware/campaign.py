"""Campaign hook: hardware metrics of a candidate network, computed before any training."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware import asic, fpga  # noqa: F401  (register the models)
from evoapproxnas.hardware.config import get_cost_model

MODES = ("fixed", "inner", "sequential", "joint")
"""``hardware.mode``: how a campaign's hardware relates to its networks (docs/coexploration.md).
"fixed": every candidate on the preset's design (hardware-aware NAS); "inner": the best design
per candidate (``search = true``); "sequential": the preset's design during the search, then
the best design for each front member; "joint": the design's decisions are genes."""
EVALUATORS = ("analytical", "learned")
"""``hardware.evaluator``: the cost model, or the learned evaluator (docs/dance.md)."""


@dataclass(frozen=True)
class HardwareConfig:
    """The ``[hardware]`` section of a campaign: which cost model prices every candidate."""

    model: str = ""
    """Registered cost model ("asic", "fpga"); "" = no hardware metrics."""
    preset: str = ""
    """Preset name or .toml file ("" = the model's default preset)."""
    search: bool = False
    """Search the best hardware configuration per candidate (``search_metric``); the older
    spelling of ``mode = "inner"``."""
    search_metric: str = "edap"
    """Modes "inner" and "sequential": the model metric the hardware search optimizes in its
    own direction (e.g. "edap" for the ASIC, "fps" for the FPGA), among designs meeting the
    constraints."""
    overrides: dict = field(default_factory=dict)
    """Settings replacing the preset's (dotted keys or nested tables)."""
    mode: str = "fixed"
    """How the hardware is chosen (docs/coexploration.md): "fixed" (every candidate on the
    preset's design: hardware-aware NAS), "inner" (the best design per candidate, as
    ``search = true``), "sequential" (the preset's design during the search, then the best
    design for each front member, re-pricing the front), "joint" (the design's decisions,
    FPGA tiling and partition over 1..``max_fpgas`` devices or ASIC dataflow, array and
    buffer, are genes appended to the network's, searched with it)."""
    max_fpgas: int = 1
    """FPGA, modes "joint" and "sequential": the layers may be cut into a pipeline of up to
    this many devices of the preset, each with its own tiling (1..8)."""
    evaluator: str = "analytical"
    """How candidates are priced: "analytical" (the cost model) or "learned" (the networks of
    ``evaluator_path``; ASIC, modes "fixed" and "inner"; the front's hardware figures are
    computed again analytically at the end and the differences reported; docs/dance.md)."""
    evaluator_path: str = ""
    """With evaluator "learned": the folder ``evoapproxnas hw learn train`` wrote, or its name."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"hardware.mode = {self.mode!r} is not allowed; use one of "
                            f"{', '.join(MODES)}{closest_names(str(self.mode), MODES)}")
        if self.search and self.mode not in ("fixed", "inner"):
            raise UserError(f"hardware.search = true is the older spelling of hardware.mode = "
                            f"'inner' and cannot go with mode = {self.mode!r}; drop "
                            "hardware.search")
        if self.search or self.mode == "inner":  # the two spellings, kept in step
            object.__setattr__(self, "mode", "inner")
            object.__setattr__(self, "search", True)
        if isinstance(self.max_fpgas, bool) or not isinstance(self.max_fpgas, int) \
                or not 1 <= self.max_fpgas <= 8:
            raise UserError(f"hardware.max_fpgas = {self.max_fpgas!r} is not allowed; use an "
                            "integer from 1 to 8")
        if self.max_fpgas > 1 and (self.model != "fpga"
                                   or self.mode not in ("joint", "sequential")):
            raise UserError("hardware.max_fpgas > 1 (a pipeline of FPGAs) needs "
                            "hardware.model = 'fpga' and mode 'joint' or 'sequential'")
        if self.mode in ("joint", "sequential") and not self.model:
            raise UserError(f"hardware.mode = {self.mode!r} needs a cost model: set "
                            "hardware.model ('fpga' or 'asic')")
        self._check_evaluator()

    def _check_evaluator(self) -> None:
        if self.evaluator not in EVALUATORS:
            raise UserError(f"hardware.evaluator must be one of {', '.join(EVALUATORS)}, got "
                            f"{self.evaluator!r}")
        if self.evaluator == "learned" and (self.model != "asic"
                                            or self.mode not in ("fixed", "inner")):
            raise UserError("hardware.evaluator = 'learned' prices the asic model in modes "
                            f"'fixed' and 'inner' only; this section has model "
                            f"{self.model!r}, mode {self.mode!r}")
        if self.evaluator == "learned" and not self.evaluator_path:
            raise UserError("hardware.evaluator = 'learned' needs hardware.evaluator_path (the "
                            "folder or name of a trained evaluator, 'evoapproxnas hw learn "
                            "train')")

    def analytical(self) -> HardwareConfig:
        """The same section priced by the cost model (the final re-pricing of a front)."""
        return replace(self, evaluator="analytical")

    @property
    def design_space(self):
        """The design space of modes "joint" and "sequential" (``design_space``)."""
        return _design_space(self.model, self.preset or None, _frozen(self.overrides),
                             self.max_fpgas)

    def implied_constraints(self) -> list:
        """Requirements of the mode beyond the campaign's: in the joint mode the genes'
        design must fit its device(s) (``fits >= 1``)."""
        if self.mode == "joint" and self.model == "fpga":
            from evoapproxnas.hardware.design_space import Requirement

            return [Requirement("fits", 1.0, 1.0)]
        return []

    def estimate(self, layers: list, constraints: Iterable | None = None,
                 genes=None) -> dict[str, Any]:
        """The model's metrics of a network's layers on the design of the mode, with its
        ``hardware_design`` text: mode "inner", those of the best design that meets
        ``constraints`` (the campaign's, e.g. ``luts <= 30000``); "joint", those of the
        design of ``genes`` (the hardware genes of the candidate); "fixed" and
        "sequential", those of the preset's design."""
        if self.mode == "joint":
            if genes is None:
                raise UserError("a joint-mode candidate needs its hardware genes")
            return self.design_space.evaluate(layers, genes)
        if self.evaluator == "learned":
            from evoapproxnas.hardware.learned.evaluator import load_evaluator

            result = load_evaluator(self.evaluator_path).estimate(
                layers, preset=self.preset or None, overrides=dict(self.overrides),
                search=self.mode == "inner", search_metric=self.search_metric,
                constraints=constraints)
            text = result.pop("config", None) or self.preset_design()
            return dict(result, hardware_design=text)
        result = estimate_network(layers, self.model, self.preset or None,
                                  search=self.mode == "inner",
                                  search_metric=self.search_metric,
                                  overrides=dict(self.overrides), constraints=constraints)
        text = result.pop("config", None) or self.preset_design()
        return dict(result, hardware_design=text)

    def preset_design(self) -> str:
        """The ``hardware_design`` text of the preset's own design (modes "fixed" and
        "sequential" during the search)."""
        c = get_cost_model(self.model, self.preset or None, **dict(self.overrides)).config
        if self.model == "fpga" and c["mode"] == "engine":
            text = f"fpga {c['device']} x1: tm={c['tm']} tn={c['tn']} tr={c['tr']} tc={c['tc']}"
        elif self.model == "asic":
            text = (f"asic dataflow={c['dataflow']} pe={c['pe_y']}x{c['pe_x']} "
                    f"glb_kib={c['glb_kib']:g}")
        else:
            text = f"{self.model} {c.get('mode', '')} {c.get('device', '')}".strip()
        return f"{text} (preset {self.preset_name})"

    def optimize(self, layers: list, constraints: Iterable | None = None) -> dict[str, Any]:
        """The sequential mode's second step: the best design of ``design_space`` for
        ``search_metric`` that meets ``constraints`` (its metrics and ``hardware_design``)."""
        return self.design_space.optimize(layers, self.search_metric, constraints)

    @property
    def preset_name(self) -> str:
        """The preset's name ("" means the model's default preset)."""
        if self.preset:
            return self.preset
        from evoapproxnas.hardware.config import model_class

        return model_class(self.model).DEFAULT_PRESET


def _frozen(overrides: dict) -> str:
    import json

    return json.dumps(overrides, sort_keys=True, default=str)


@lru_cache(maxsize=16)
def _design_space(model: str, preset: str | None, overrides_json: str, max_fpgas: int):
    import json

    from evoapproxnas.hardware.design_space import design_space

    return design_space(model, preset, json.loads(overrides_json), max_fpgas)


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
