"""Quantized FPGA accelerators under LUT and throughput specifications (Lu et al., ICCAD 2019).

Every layer gets its own quantized computation engine (QCE): ``Tm x Tn`` exact multipliers of
the layer's widths built from LUTs (``A x W``: A = the layer's ``activation_bits``, W = its
multiplier's ``weight_bits``), ``Tm`` adder trees of ``Tn`` products, ``Tm`` accumulators and
``Tm`` truncators to the next layer's activation width. LUTs (docs/hardware.md, "Quantized
engines under specifications")::

    mult  = Tm * Tn * luts(A x W)                      synthesized (axw_luts.py)
    tree  = Tm * (Tn - 1) * (A + W + ceil(log2 Tn)) * adder_luts_per_bit
    acc   = Tm * (A + W + ceil(log2 K)) * adder_luts_per_bit        K = C * R * S
    trunc = Tm * A_out                                  A_out: the next layer's input width
    QCE   = mult + tree + acc + trunc + control_luts

and latency (Lu et al.'s Eq. 7, ``Tm`` output, ``Tn`` input channels at once)
``G * ceil(M / Tm) * ceil(C / Tn) * P * Q * R * S`` cycles. ``Tm`` ranges over 1..M and ``Tn``
over 1..C (only the smallest value for each number of passes can be Pareto-optimal). Layers
are cut into partitions by the DP of :mod:`partition` (a partition's engines run pipelined,
partitions one after another: design LUTs = the largest partition's, latency = the sum).

A network meets the specifications ``(rL, rT)`` when some design has at most ``rL`` LUTs and
at least ``rT`` images/s; the estimate is the fastest design within ``rL`` (the least-LUT
design when none fits, so that a campaign's ``luts <= rL`` constraint counts the excess).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import layers as L
from evoapproxnas.hardware.axw_luts import FABRICS, KINDS, multiplier_luts
from evoapproxnas.hardware.config import (
    CostModel,
    ModelMetric,
    check_choice,
    check_non_negative,
    check_positive,
    common_metrics,
    is_number,
    register_model,
)
from evoapproxnas.hardware.fpga import DEVICES
from evoapproxnas.hardware.partition import Design, pareto_designs

_BASE = {
    "device": "cyclone4-ep4ce115", "clock_mhz": 100.0, "fabric": "cycloneive", "kind": "us",
    "lut_budget": 0.0, "throughput": 0.0, "output_bits": 8,
    "adder_luts_per_bit": 1.0, "control_luts": 50.0, "reconfig_cycles": 0,
}
PRESETS = {
    # Lu et al.'s platform: Cyclone IV, 100 MHz, multipliers in logic elements (LUT4)
    "cyclone4": dict(_BASE),
    "xc7z020": dict(_BASE, device="xc7z020", fabric="lut6"),
}


def useful_tiles(n: int) -> list[int]:
    """The tile sizes 1..n worth trying: the smallest one for each ``ceil(n / t)``."""
    out, seen = [], set()
    for t in range(1, n + 1):
        passes = -(-n // t)
        if passes not in seen:
            seen.add(passes)
            out.append(t)
    return out


_RATIOS: dict[str, float] = {}


def lut_ratio(multiplier) -> float:
    """1 for an exact multiplier (and ``None``); for an approximate one its LUTs over those of
    the exact multiplier of its width in its library (the library's exact 8x8 when it has
    none of that width), as the library's figures give them (docs/hardware.md)."""
    if L.is_exact(multiplier):
        return 1.0
    key = L.multiplier_id(multiplier)
    if key not in _RATIOS:
        from evoapproxnas.multipliers import load_library, reference_exact

        width, signed = L.weight_bits(multiplier), bool(getattr(multiplier, "signed", False))
        same = None
        library = getattr(multiplier, "library", None)
        if library:
            same = next((m for m in load_library(library) if m.is_exact
                         and m.weight_bits == width and m.signed == signed), None)
        reference = same or reference_exact(multiplier)
        _RATIOS[key] = L.luts(multiplier) / L.luts(reference)
    return _RATIOS[key]


def qce_luts(layer, tm: int, tn: int, out_bits: int, cfg: dict) -> float:
    """LUTs of one ``Tm x Tn`` QCE of ``layer`` writing ``out_bits``-bit activations."""
    a, w = int(layer.activation_bits), L.weight_bits(layer.multiplier)
    d = layer.dims
    p = a + w
    per_bit = cfg["adder_luts_per_bit"]
    unit = multiplier_luts(a, w, cfg["fabric"], cfg["kind"]) * lut_ratio(layer.multiplier)
    mult = tm * tn * unit
    tree = tm * (tn - 1) * (p + math.ceil(math.log2(tn))) * per_bit
    acc = tm * (p + math.ceil(math.log2(d["C"] * d["R"] * d["S"]))) * per_bit
    return float(mult + tree + acc + tm * out_bits + cfg["control_luts"])


def qce_cycles(layer, tm: int, tn: int) -> int:
    """Cycles of one inference of ``layer`` on a ``Tm x Tn`` QCE (Lu et al.'s Eq. 7)."""
    d = layer.dims
    return d["G"] * -(-d["M"] // tm) * -(-d["C"] // tn) * d["P"] * d["Q"] * d["R"] * d["S"]


def output_widths(layers: list, last_bits: int) -> list[int]:
    """The width each layer's truncator writes: the next layer's input width."""
    return [int(x.activation_bits) for x in layers[1:]] + [int(last_bits)]


def layer_options(layer, out_bits: int, cfg: dict) -> list[tuple[float, float, tuple[int, int]]]:
    """Pareto ``(luts, cycles, (tm, tn))`` QCEs of one layer, ascending LUTs."""
    d = layer.dims
    opts = sorted((qce_luts(layer, tm, tn, out_bits, cfg), float(qce_cycles(layer, tm, tn)),
                   (tm, tn)) for tm in useful_tiles(d["M"]) for tn in useful_tiles(d["C"]))
    front, best = [], math.inf
    for o in opts:
        if o[1] < best:
            front.append(o)
            best = o[1]
    return front


@dataclass(frozen=True)
class SpecResult:
    """The outcome of the hardware search of one network under ``(rL, rT)``."""

    feasible: bool
    """Some design has at most rL LUTs and at least rT images/s."""
    luts: float
    latency_cycles: float
    images_per_s: float
    design: Design | None
    """The fastest design within rL (None when no design fits rL)."""
    engines: tuple[tuple[int, int], ...] = ()
    """``(Tm, Tn)`` per layer of ``design``."""


def check_specs(lut_budget, throughput) -> tuple[float, float]:
    """``(rL, rT)`` as floats when both are positive finite numbers, else a ``UserError``."""
    out = []
    for name, value in (("LUT budget rL", lut_budget), ("throughput rT (images/s)", throughput)):
        if not is_number(value) or not math.isfinite(value) or value <= 0:
            raise UserError(f"{name} must be a positive number, got {value!r}")
        out.append(float(value))
    return out[0], out[1]


@register_model("fpga_lu")
class QuantizedFpgaModel(CostModel):
    """Lu et al.'s per-layer QCEs, partitioned by DP (``lut_budget`` = rL, ``throughput`` =
    rT); metrics ``luts``, ``latency_cycles``, ``fps``, ``fits`` (LUTs within the device),
    ``weight_kbits``. Whether the specifications are met is ``search(...).feasible`` (in a
    campaign: the constraints ``luts <= rL`` and ``fps >= rT``)."""

    PRESETS: ClassVar[dict[str, dict]] = PRESETS
    DEFAULT_PRESET = "cyclone4"
    METRICS: ClassVar[dict[str, ModelMetric]] = {
        **common_metrics("luts", "latency_cycles", "fps", "fits"),
        "weight_kbits": ModelMetric("min", "kbit", "weights x their width, in kbit"),
    }

    def validate(self) -> None:
        c = self.config
        check_choice(c["device"], DEVICES, "fpga_lu device")
        check_choice(c["fabric"], FABRICS, "fpga_lu fabric")
        check_choice(c["kind"], KINDS, "fpga_lu kind")
        check_positive(c, ("clock_mhz",), "fpga_lu")
        check_non_negative(c, ("lut_budget", "throughput", "adder_luts_per_bit", "control_luts",
                               "reconfig_cycles"), "fpga_lu")
        if not isinstance(c["output_bits"], int) or not 2 <= c["output_bits"] <= 32:
            raise UserError("fpga_lu setting 'output_bits' must be a whole number 2..32, got "
                            f"{c['output_bits']!r}")
        self.device = DEVICES[c["device"]]

    @property
    def lut_budget(self) -> float:
        """rL: ``lut_budget``, or the device's LUTs when it is 0."""
        return float(self.config["lut_budget"] or self.device["luts"])

    def options(self, layers: list) -> list[list[tuple[float, float, tuple[int, int]]]]:
        """Pareto QCEs of every layer."""
        outs = output_widths(layers, self.config["output_bits"])
        return [layer_options(x, o, self.config) for x, o in zip(layers, outs)]

    def search(self, layers: list, lut_budget: float, throughput: float) -> SpecResult:
        """The DP hardware search under ``(rL, rT)``: the fastest design within rL, and
        whether it reaches rT."""
        rl, rt = check_specs(lut_budget, throughput)
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        options = self.options(layers)
        costs = [[o[:2] for o in opts] for opts in options]
        designs = pareto_designs(costs, rl, math.inf, self.config["reconfig_cycles"])
        if not designs:
            return SpecResult(False, math.inf, math.inf, 0.0, None)
        best = designs[-1]
        fps = self.config["clock_mhz"] * 1e6 / best.latency_cycles
        engines = tuple(options[i][c][2] for i, c in enumerate(best.choice))
        return SpecResult(fps >= rt, best.luts, best.latency_cycles, fps, best, engines)

    def estimate(self, layers: list) -> dict[str, float]:
        return self.estimate_design(layers)[0]

    def estimate_design(self, layers: list) -> tuple[dict[str, float], Design, bool]:
        """The metrics, the design they are of, and whether it meets ``(lut_budget,
        throughput)``."""
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        rt = float(self.config["throughput"]) or 1e-300  # 0: no throughput requirement
        found = self.search(layers, self.lut_budget, rt)
        design = found.design
        if design is None:  # nothing within rL: the least-LUT design, to count the excess
            costs = [[o[:2] for o in opts] for opts in self.options(layers)]
            design = pareto_designs(costs, math.inf, math.inf, self.config["reconfig_cycles"])[0]
        cycles = float(design.latency_cycles)
        return {
            "luts": float(design.luts), "latency_cycles": cycles,
            "fps": self.config["clock_mhz"] * 1e6 / cycles,
            "fits": float(design.luts <= self.device["luts"]),
            "weight_kbits": sum(x.weights * L.weight_bits(x.multiplier) for x in layers) / 1000,
        }, design, found.feasible


def search_specs(layers: list, lut_budget: float, throughput: float,
                 preset: str | None = None, **overrides) -> SpecResult:
    """The hardware search of Lu et al. for ``layers`` under ``(rL, rT)`` on a preset of the
    ``fpga_lu`` model (default ``cyclone4``)."""
    from evoapproxnas.hardware.config import get_cost_model

    return get_cost_model("fpga_lu", preset, **overrides).search(layers, lut_budget, throughput)
