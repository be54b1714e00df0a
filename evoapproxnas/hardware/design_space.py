"""Hardware decisions as genes (after Jiang et al., TCAD 2020: co-exploration of a network and
its FPGA implementation).

A design space lists categorical decisions (``HardwareDecision``: a name and its choices); a
vector of choice indices, one per decision, is a design. ``evaluate(layers, genes)`` prices a
network on that design with the cost model's metrics plus ``hardware_design`` (a text naming
the design); ``optimize(layers, metric, constraints)`` finds the best design of the space for
one network (the sequential mode's second step).

FPGA (``FpgaDesignSpace``): the layers are cut into 1..``max_fpgas`` consecutive stages, one
device of the preset each, in a pipeline (throughput = clock / slowest stage); each stage is a
Zhang engine with its own tiling ``Tm x Tn`` (multipliers), ``Tr x Tc`` (output tile) from the
preset's ``options_tm`` / ``options_tn`` / ``options_tr`` / ``options_tc``. Genes: ``fpgas``
(only when ``max_fpgas > 1``), ``tm<s> tn<s> tr<s> tc<s>`` per stage ``s``, and ``cut<s>`` for
``s = 1..max_fpgas-1``: the stage boundaries as fractions of the network's depth, on a grid of
``CUT_LEVELS`` (a network of any depth decodes; boundaries that coincide merge stages).

ASIC (``AsicDesignSpace``): dataflow x PE array x global-buffer size, the grid of
``explore.ASIC_GRID``.

No TensorFlow; the campaign side is ``hardware.campaign.HardwareConfig``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.config import get_cost_model
from evoapproxnas.hardware.explore import ASIC_GRID, _applicable, _Best, _check_metric

CUT_LEVELS = 16
"""Grid of a cut gene: boundary ``s`` sits at ``(gene + 0.5) / CUT_LEVELS`` of the layers."""
TILING = ("tm", "tn", "tr", "tc")
"""The tiling decisions of one FPGA stage."""
MAX_FPGAS = 8
"""Longest pipeline a design space may have (``hardware.max_fpgas``)."""


@dataclass(frozen=True)
class Requirement:
    """A hardware requirement in the form of ``metrics.Constraint`` (``metric``,
    ``violation``), for requirements the design space adds itself."""

    metric: str
    minimum: float
    weight: float

    def violation(self, value: float) -> float:
        return 0.0 if value >= self.minimum else self.weight

    def __str__(self) -> str:
        return f"{self.metric} >= {self.minimum:g}"


MUST_FIT = Requirement("fits", 1.0, 1e6)
"""A design must fit its device(s): one that does not ranks behind every design that does
(``optimize``) and makes a joint-mode candidate infeasible (``implied_constraints``)."""


@dataclass(frozen=True)
class HardwareDecision:
    """One categorical hardware decision: its name and the values it chooses among (a gene
    holds the index of its value)."""

    name: str
    choices: tuple

    @property
    def n(self) -> int:
        return len(self.choices)


@dataclass(frozen=True)
class Stage:
    """One FPGA of a pipeline: layers ``first..end-1`` on a ``tm x tn`` engine with
    ``tr x tc`` output tiles."""

    first: int
    end: int
    tm: int
    tn: int
    tr: int
    tc: int

    def describe(self) -> str:
        return (f"layers {self.first}-{self.end - 1} tm={self.tm} tn={self.tn} "
                f"tr={self.tr} tc={self.tc}")


def _stage_bounds(cuts: list[int], n_layers: int) -> list[int]:
    """Stage ends (exclusive, the last ``n_layers``) of cut genes on a network of
    ``n_layers``: each cut at ``round((gene + 0.5) / CUT_LEVELS * n_layers)`` within
    ``1..n_layers-1``; equal cuts merge."""
    ends = {min(max(round((c + 0.5) / CUT_LEVELS * n_layers), 1), n_layers - 1)
            for c in cuts} if n_layers > 1 else set()
    return sorted(ends) + [n_layers]


class FpgaDesignSpace:
    """Designs of ``max_fpgas`` devices of an FPGA preset (see the module docstring)."""

    model = "fpga"

    def __init__(self, preset: str | None, overrides: dict | None = None,
                 max_fpgas: int = 1) -> None:
        self.preset, self.overrides = preset, dict(overrides or {})
        self.base = get_cost_model("fpga", preset, **dict(self.overrides, mode="engine"))
        if not 1 <= int(max_fpgas) <= MAX_FPGAS:
            raise UserError(f"hardware.max_fpgas must be 1 to {MAX_FPGAS}, got {max_fpgas!r}")
        self.max_fpgas = int(max_fpgas)
        cfg = self.base.config
        decisions = []
        if self.max_fpgas > 1:
            decisions.append(HardwareDecision("fpgas", tuple(range(1, self.max_fpgas + 1))))
        for s in range(self.max_fpgas):
            decisions += [HardwareDecision(f"{key}{s}", tuple(cfg[f"options_{key}"]))
                          for key in TILING]
        decisions += [HardwareDecision(f"cut{s}", tuple(range(CUT_LEVELS)))
                      for s in range(1, self.max_fpgas)]
        self.decisions: tuple[HardwareDecision, ...] = tuple(decisions)
        self._index = {d.name: i for i, d in enumerate(self.decisions)}

    @property
    def device(self) -> str:
        return self.base.config["device"]

    def _value(self, genes, name: str):
        d = self.decisions[self._index[name]]
        return d.choices[int(genes[self._index[name]])]

    def n_stages(self, genes) -> int:
        """How many FPGAs the genes ask for (before merging coinciding cuts)."""
        return self._value(genes, "fpgas") if self.max_fpgas > 1 else 1

    def active(self, genes) -> tuple[int, ...]:
        """The genes that shape the design (the others are zeroed): with ``k`` FPGAs the
        tiling of stages ``0..k-1`` and cuts ``1..k-1``."""
        k = self.n_stages(genes)
        keep = {"fpgas"} | {f"{key}{s}" for s in range(k) for key in TILING} \
            | {f"cut{s}" for s in range(1, k)}
        return tuple(int(g) if d.name in keep else 0 for d, g in zip(self.decisions, genes))

    def stages(self, genes, n_layers: int) -> list[Stage]:
        """The pipeline the genes give a network of ``n_layers`` multiplying layers."""
        k = min(self.n_stages(genes), n_layers)
        cuts = [int(genes[self._index[f"cut{s}"]]) for s in range(1, k)]
        ends = _stage_bounds(cuts, n_layers)
        starts = [0, *ends[:-1]]
        return [Stage(a, b, *(self._value(genes, f"{key}{s}") for key in TILING))
                for s, (a, b) in enumerate(zip(starts, ends))]

    def describe(self, stages: list[Stage]) -> str:
        """``hardware_design`` text of a pipeline."""
        return (f"fpga {self.device} x{len(stages)}: "
                + " | ".join(stage.describe() for stage in stages))

    def stage_metrics(self, layers: list, stage: Stage) -> dict[str, float]:
        """The model's metrics of one stage's layers on its engine and device."""
        from evoapproxnas.hardware.fpga import engine_cost

        cfg = dict(self.base.config, tm=stage.tm, tn=stage.tn, tr=stage.tr, tc=stage.tc)
        cost = engine_cost(layers[stage.first:stage.end], stage.tm, stage.tn, cfg,
                           self.base.device)
        return dict(self.base.metrics(cost), macs=cost["macs"],
                    dynamic_pj_per_cycle=self.base.dynamic_pj_per_cycle(cost))

    def combine(self, parts: list[dict], stages: list[Stage]) -> dict[str, Any]:
        """Metrics of a pipeline from its stages' (``stage_metrics``): resources of the
        largest stage (per device), latency the sum, throughput the slowest stage's, power
        the sum over the devices."""
        cycles = [p["latency_cycles"] for p in parts]
        clock = self.base.config["clock_mhz"]
        fps = clock * 1e6 / max(cycles)
        power = sum(p["power_w"] for p in parts)
        macs = sum(p["macs"] for p in parts)
        # every device draws its power through the period of the slowest stage
        gops_per_w = self.base.gops_per_w(
            macs, max(cycles), len(parts) * self.base.device["static_w"],
            sum(p["dynamic_pj_per_cycle"] for p in parts))
        return {
            "luts": max(p["luts"] for p in parts), "dsps": max(p["dsps"] for p in parts),
            "brams": max(p["brams"] for p in parts), "latency_cycles": float(sum(cycles)),
            "fps": fps, "fits": float(all(p["fits"] for p in parts)),
            "latency_ms": sum(cycles) / (clock * 1e3), "power_w": power,
            "gops_per_w": gops_per_w,
            "pipeline_efficiency": sum(cycles) / (len(cycles) * max(cycles)),
            "hardware_design": self.describe(stages),
        }

    def evaluate(self, layers: list, genes) -> dict[str, Any]:
        """The metrics of the network on the design of ``genes``."""
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        stages = self.stages(genes, len(layers))
        return self.combine([self.stage_metrics(layers, st) for st in stages], stages)

    def optimize(self, layers: list, metric: str, constraints=None) -> dict[str, Any]:
        """The best design of the space for ``metric`` among those that fit the device(s)
        and meet ``constraints`` (else the least violating). One FPGA: every tiling. A
        pipeline of ``k`` FPGAs: every cut of the layers into ``k`` stages, each stage on
        its fastest tiling among those that fit and keep the constraints on a device's
        resources (``luts``, ``dsps``, ``brams``); exact for throughput and latency."""
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        best = _Best(metric, _check_metric(self.base, metric),
                     [*_applicable(self.base, constraints), MUST_FIT])
        per_device = [c for c in best.constraints if c.metric in ("luts", "dsps", "brams")]
        cfg = self.base.config
        tilings = list(itertools.product(*(cfg[f"options_{key}"] for key in TILING)))
        n = len(layers)

        @cache
        def fastest(first: int, end: int):
            best_stage, key = None, None
            for tiling in tilings:
                stage = Stage(first, end, *tiling)
                m = self.stage_metrics(layers, stage)
                bad = (not m["fits"], sum(c.violation(m[c.metric]) for c in per_device))
                k = (bad, m["latency_cycles"], m["luts"])
                if key is None or k < key:
                    best_stage, key = (stage, m), k
            return best_stage

        for tiling in tilings:  # one device: every tiling
            stage = Stage(0, n, *tiling)
            self._offer(best, [self.stage_metrics(layers, stage)], [stage])
        for k in range(2, min(self.max_fpgas, n) + 1):
            for cuts in itertools.combinations(range(1, n), k - 1):
                ends = [*cuts, n]
                chosen = [fastest(a, b) for a, b in zip([0, *cuts], ends)]
                self._offer(best, [m for _, m in chosen], [st for st, _ in chosen])
        result = best.result
        return dict(result, hardware_design=result.pop("config"))

    def _offer(self, best: _Best, parts: list[dict], stages: list[Stage]) -> None:
        result = self.combine(parts, stages)
        text = result.pop("hardware_design")
        best.offer(result, text)

    def genes_of_preset(self) -> list[int]:
        """The genes of the preset's own design on one device (the index of each tiling
        value in its option list; the first option where the preset's is not listed)."""
        cfg = self.base.config
        genes = []
        for d in self.decisions:
            key = d.name.rstrip("0123456789")
            genes.append(d.choices.index(cfg[key]) if key in TILING and cfg[key] in d.choices
                         else 0)
        if self.max_fpgas > 1:
            genes[self._index["fpgas"]] = 0
        return genes


class AsicDesignSpace:
    """Dataflow x PE array x global buffer of the ASIC model (``explore.ASIC_GRID``)."""

    model = "asic"

    def __init__(self, preset: str | None, overrides: dict | None = None,
                 max_fpgas: int = 1) -> None:
        self.preset, self.overrides = preset, dict(overrides or {})
        self.base = get_cost_model("asic", preset, **self.overrides)
        self.decisions = (
            HardwareDecision("dataflow", tuple(ASIC_GRID["dataflow"])),
            HardwareDecision("array", tuple(ASIC_GRID["array"])),
            HardwareDecision("glb_kib", tuple(ASIC_GRID["glb_kib"])),
        )

    def active(self, genes) -> tuple[int, ...]:
        return tuple(int(g) for g in genes)

    def settings(self, genes) -> dict:
        flow, (pe_y, pe_x), kib = (d.choices[int(g)] for d, g in zip(self.decisions, genes))
        return {"dataflow": flow, "pe_y": pe_y, "pe_x": pe_x, "glb_kib": kib}

    def evaluate(self, layers: list, genes) -> dict[str, Any]:
        s = self.settings(genes)
        model = get_cost_model("asic", self.preset, **dict(self.overrides, **s))
        return dict(model.estimate(layers), hardware_design=(
            f"asic dataflow={s['dataflow']} pe={s['pe_y']}x{s['pe_x']} "
            f"glb_kib={s['glb_kib']:g}"))

    def optimize(self, layers: list, metric: str, constraints=None) -> dict[str, Any]:
        from evoapproxnas.hardware.explore import search_asic

        result = search_asic(layers, metric, self.preset, self.overrides,
                             constraints=constraints)
        return dict(result, hardware_design=result.pop("config"))

    def genes_of_preset(self) -> list[int]:
        cfg = self.base.config
        values = (cfg["dataflow"], (cfg["pe_y"], cfg["pe_x"]), cfg["glb_kib"])
        return [d.choices.index(v) if v in d.choices else 0
                for d, v in zip(self.decisions, values)]


SPACES = {"fpga": FpgaDesignSpace, "asic": AsicDesignSpace}


def design_space(model: str, preset: str | None = None, overrides: dict | None = None,
                 max_fpgas: int = 1):
    """The design space of a cost model (``UserError`` for a model without one)."""
    if model not in SPACES:
        raise UserError(f"hardware decisions exist for models {', '.join(SPACES)}, "
                        f"not {model!r}")
    if model != "fpga" and max_fpgas != 1:
        raise UserError(f"hardware.max_fpgas applies to the fpga model, not {model!r}; "
                        "leave it at 1")
    return SPACES[model](preset, overrides, max_fpgas)
