"""FPGA cost model: the tiled convolution engine of Zhang et al. (FPGA'15).

An engine has ``Tm x Tn`` multipliers (``Tm`` output and ``Tn`` input channels at once) and
works on ``Tr x Tc`` output tiles. Per tile: compute ``R*S*Tr*Tc`` cycles (pipelined, II = 1),
input, weight and output transfers of ``words x data_bits / port_bits`` cycles, overlapped by
double buffering (see docs/hardware.md for the formulas). Exact multipliers go on DSPs (when
``exact_on_dsp``), approximate ones are LUT logic costed by ``layers.luts`` (their library's
LUT figure, else the exact multiplier's LUTs x area ratio). Mode ``engine`` runs all layers on
one shared engine; mode ``partition`` gives every layer its own engine and partitions the
network (Lu et al.).

Operand widths (8xN multipliers): a layer's weights move and are buffered in N bits
(``layers.stored_weight_bits``), and exact narrow multipliers on DSPs pack ``dsp_packing(N)``
products that share their activation into one DSP (``dsp_pack_bits``, docs/hardware.md).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import layers as L
from evoapproxnas.hardware.config import (
    CostModel,
    ModelMetric,
    check_choice,
    check_non_negative,
    check_positive,
    common_metrics,
    register_model,
)
from evoapproxnas.hardware.partition import Design, pareto_designs

#: Device resources. ``bram_bits``: bits of one block RAM; ``dsps``: 8-bit-capable multipliers;
#: ``ffs``: flip-flops (listed, not used by the model); ``static_w``: an estimate of the
#: programmable logic's static power (docs/hardware.md, "Power and GOPS/W": an estimate, not a
#: data-sheet figure). The Zynq-7000 figures (LUTs, flip-flops, 36 Kb block RAMs, DSP48E1
#: slices) are those of Xilinx DS190 (Zynq-7000 SoC Overview), table "Zynq-7000 SoC devices".
DEVICES = {
    "xc7z015": {"luts": 46200, "ffs": 92400, "dsps": 160, "brams": 95, "bram_bits": 36864,
                "bram_halves": True, "clock_mhz": 100.0, "static_w": 0.10},
    "xc7z020": {"luts": 53200, "ffs": 106400, "dsps": 220, "brams": 140, "bram_bits": 36864,
                "bram_halves": True, "clock_mhz": 100.0, "static_w": 0.12},
    "zcu102": {"luts": 274080, "ffs": 548160, "dsps": 2520, "brams": 912, "bram_bits": 36864,
               "bram_halves": True, "clock_mhz": 200.0, "static_w": 0.60},
    # Cyclone IV EP4CE115: logic elements (4-input LUTs), 9x9 embedded multipliers, M9K blocks
    "cyclone4-ep4ce115": {"luts": 114480, "ffs": 114480, "dsps": 532, "brams": 432,
                          "bram_bits": 9216, "bram_halves": False, "clock_mhz": 100.0,
                          "static_w": 0.13},
}

_BASE = {
    "device": "xc7z020", "clock_mhz": 100.0, "mode": "engine",
    "tm": 16, "tn": 8, "tr": 14, "tc": 14,
    "exact_on_dsp": True, "mults_per_dsp": 1, "dsps_per_mult": 1,
    # unsigned bits of the DSP operand that carries packed weights (DSP48E1/E2: the 18-bit
    # B port, 17 bits unsigned); 0 = no packing of narrow exact multipliers
    "dsp_pack_bits": 17,
    # conventions (docs/hardware.md): input tiles with the sliding-window halo rows and
    # columns; the first loads and last store of a layer not hidden by double buffering
    "input_halo": True, "fill_drain": True,
    "data_bits": 8, "acc_bits": 24,
    "port_in_bits": 64, "port_weight_bits": 64, "port_out_bits": 64,
    "adder_luts_per_bit": 1.0, "control_luts": 3000, "lutram_max_bits": 2048,
    "reconfig_cycles": 0,
    "options_tm": [1, 2, 4, 8, 16, 32], "options_tn": [1, 2, 4, 8, 16],
    # output-tile sizes the joint mode and the sequential optimisation choose from
    # (hardware.design_space); the engine search of explore.py keeps tr and tc
    "options_tr": [7, 14, 28], "options_tc": [7, 14, 28],
    # dynamic power per used resource and MHz (docs/hardware.md, "Power and GOPS/W")
    "lut_uw_per_mhz": 0.06, "dsp_uw_per_mhz": 3.0, "bram_uw_per_mhz": 12.0,
}
PRESETS = {
    "zynq7020": dict(_BASE),
    "zynq7020-lut": dict(_BASE, exact_on_dsp=False, tm=8, tn=8),
    "zynq7020-partition": dict(_BASE, mode="partition", exact_on_dsp=False),
    # the paper's device, XC7Z015 (Jiang et al., TCAD 2020): a 16 x 8 engine of exact
    # multipliers on DSPs (128 of 160), as "zynq7020" on the XC7Z020 (128 of 220); a preset
    # is not named as a device is (an FPGA chain of hw pipeline tells them apart by name)
    "zynq7015": dict(_BASE, device="xc7z015"),
    "zcu102": dict(_BASE, device="zcu102", clock_mhz=200.0, tm=64, tn=16, tr=28, tc=28,
                   port_in_bits=128, port_weight_bits=128, port_out_bits=128),
    "cyclone4": dict(_BASE, device="cyclone4-ep4ce115", tm=16, tn=16, port_in_bits=32,
                     port_weight_bits=32, port_out_bits=32,
                     dsp_pack_bits=0),  # 9x9 multipliers: no room for a second product
}


def dsp_packing(weight_bits: int, pack_bits: int, tm: int) -> int:
    """Exact 8xN products per DSP: ``k`` products of one 8-bit activation with ``k`` N-bit
    weights packed into one operand, ``w_1 + w_2 * 2**(8+N) + ...`` (each product's 8+N bits
    apart, so they do not overlap in the output), as long as the packed word,
    ``(k - 1) * (8 + N) + N`` bits, fits ``pack_bits``; at most ``tm`` (the products that
    share an activation are those of the engine's Tm output channels). 1 without packing
    (``pack_bits = 0``) and for 8x8 on a DSP48 (24 > 17 bits): 8x2, 8x3, 8x4 pack 2, 8x5 and
    wider 1."""
    n = int(weight_bits)
    if pack_bits < n:
        return 1
    return max(1, min(int(tm), (int(pack_bits) - n) // (8 + n) + 1))


def _blocks(bits: float, device: dict) -> float:
    per = device["bram_bits"] / (2 if device["bram_halves"] else 1)
    return math.ceil(bits / per) * per / device["bram_bits"]


def tile_cycles(layer, tm: int, tn: int, cfg: dict) -> dict:
    """Per-tile cycles ``t_comp``, ``t_in``, ``t_w``, ``t_out`` and the input tile's
    ``rows`` x ``cols`` of one layer on a Tm x Tn engine, and the layer's ``cycles``."""
    db, d = cfg["data_bits"], layer.dims
    sh, sw = layer.strides
    tr, tc = min(cfg["tr"], d["P"]), min(cfg["tc"], d["Q"])
    m, n = min(tm, d["M"]), min(tn, d["C"])
    rows, cols = ((tr - 1) * sh + d["R"], (tc - 1) * sw + d["S"]) if cfg["input_halo"] \
        else (tr, tc)
    wb = L.stored_weight_bits(layer, db)  # an 8xN layer's weights are N-bit words
    t = {
        "t_comp": d["R"] * d["S"] * tr * tc,
        "t_in": math.ceil(n * rows * cols * db / cfg["port_in_bits"]),
        "t_w": math.ceil(m * n * d["R"] * d["S"] * wb / cfg["port_weight_bits"]),
        "t_out": math.ceil(m * tr * tc * db / cfg["port_out_bits"]),
    }
    inner = math.ceil(d["C"] / tn) * max(t["t_comp"], t["t_in"], t["t_w"])
    outer = d["G"] * math.ceil(d["M"] / tm) * math.ceil(d["P"] / tr) * math.ceil(d["Q"] / tc)
    fill = t["t_in"] + t["t_w"] + t["t_out"] if cfg["fill_drain"] else 0
    return dict(t, rows=rows, cols=cols, tr=tr, tc=tc, cycles=outer * max(inner, t["t_out"])
                + fill)


def engine_cost(layers: list, tm: int, tn: int, cfg: dict, device: dict) -> dict:
    """Latency and resources of one Tm x Tn engine running ``layers`` one after another."""
    db = cfg["data_bits"]
    cycles = 0
    buf_in = buf_w = buf_out = 0
    for layer in layers:
        d = layer.dims
        t = tile_cycles(layer, tm, tn, cfg)
        rows, cols, tr, tc = t["rows"], t["cols"], t["tr"], t["tc"]
        cycles += t["cycles"]
        buf_in = max(buf_in, rows * cols * db)
        buf_w = max(buf_w, d["R"] * d["S"] * L.stored_weight_bits(layer, db))
        buf_out = max(buf_out, tr * tc * cfg["acc_bits"])
    n_mult = tm * tn
    luts = cfg["control_luts"] + n_mult * cfg["acc_bits"] * cfg["adder_luts_per_bit"]
    # mixed multipliers (docs/hardware.md): one bank of the Tm x Tn multipliers per multiplier
    # in use, sized by its share of the MACs; exact ones on DSPs (whole DSPs; narrow exact
    # widths packed dsp_packing(N) to a DSP), the others LUTs
    macs = L.multiplier_macs(layers)
    total = sum(n for _, n in macs) or 1
    dsp_macs = 0
    for mult, n in macs:
        if cfg["exact_on_dsp"] and L.is_exact(mult):
            pack = dsp_packing(L.weight_bits(mult), cfg["dsp_pack_bits"], tm)
            dsp_macs += n if pack == 1 else Fraction(n, pack)
        else:
            luts += n_mult * n / total * L.luts(mult)
    dsps = -(-n_mult * dsp_macs * cfg["dsps_per_mult"] // (total * cfg["mults_per_dsp"]))
    brams = 0.0
    # double-buffered banks: Tn input, Tm*Tn weight and Tm output banks
    for banks, bits in ((tn, buf_in), (tm * tn, buf_w), (tm, buf_out)):
        if bits <= cfg["lutram_max_bits"]:
            luts += 2 * banks * math.ceil(bits / 64)  # LUT6 as 64x1 distributed RAM
        else:
            brams += 2 * banks * _blocks(bits, device)
    return {"luts": float(luts), "dsps": float(dsps), "brams": float(brams),
            "latency_cycles": float(cycles), "macs": float(sum(x.macs for x in layers))}


@register_model("fpga")
class FpgaModel(CostModel):
    """Zhang-style tiled engine (``mode="engine"``) or Lu-style partition (``"partition"``);
    metrics ``luts``, ``dsps``, ``brams``, ``latency_cycles``, ``fps``, ``fits`` (1 or 0)."""

    PRESETS: ClassVar[dict[str, dict]] = PRESETS
    DEFAULT_PRESET = "zynq7020"
    METRICS: ClassVar[dict[str, ModelMetric]] = {
        **common_metrics("luts"),
        "dsps": ModelMetric("min", "", "FPGA DSP blocks used"),
        "brams": ModelMetric("min", "", "FPGA block RAMs used"),
        **common_metrics("latency_cycles", "fps", "fits", "latency_ms"),
        "power_w": ModelMetric("min", "W", "estimated FPGA power (static + dynamic)"),
        **common_metrics("gops_per_w"),
        "pipeline_efficiency": ModelMetric(
            "max", "", "sum of stage latencies / (stages x slowest stage); 1 on one device"),
    }

    def validate(self) -> None:
        c = self.config
        check_choice(c["device"], DEVICES, "fpga device")
        check_choice(c["mode"], ("engine", "partition"), "fpga mode")
        if isinstance(c["dsp_pack_bits"], bool) or not isinstance(c["dsp_pack_bits"], int) \
                or c["dsp_pack_bits"] < 0:
            raise UserError("fpga setting 'dsp_pack_bits' must be an integer >= 0 (0 = no "
                            f"packing), got {c['dsp_pack_bits']!r}")
        check_positive(c, ("clock_mhz", "tm", "tn", "tr", "tc", "mults_per_dsp",
                           "dsps_per_mult", "data_bits",
                           "acc_bits", "port_in_bits", "port_weight_bits", "port_out_bits"),
                       "fpga")
        check_non_negative(c, ("adder_luts_per_bit", "control_luts", "lutram_max_bits",
                               "reconfig_cycles", "lut_uw_per_mhz", "dsp_uw_per_mhz",
                               "bram_uw_per_mhz"), "fpga")
        for key in ("options_tm", "options_tn", "options_tr", "options_tc"):
            if not c[key] or any(not isinstance(v, int) or v < 1 for v in c[key]):
                raise UserError(f"fpga setting {key!r} must be a list of positive ints")
        self.device = DEVICES[c["device"]]

    def dynamic_pj_per_cycle(self, cost: dict) -> float:
        """Dynamic energy of one clock cycle of a design using ``cost``'s resources: per
        used LUT, DSP and block RAM its dynamic power per MHz (1 uW/MHz = 1 pJ per cycle;
        docs/hardware.md, "Power and GOPS/W")."""
        c = self.config
        return (cost["luts"] * c["lut_uw_per_mhz"] + cost["dsps"] * c["dsp_uw_per_mhz"]
                + cost["brams"] * c["bram_uw_per_mhz"])

    def power_w(self, cost: dict) -> float:
        """Estimated power of a design using ``cost``'s resources on this device: the
        device's static power plus the dynamic energy per cycle at the clock."""
        return self.device["static_w"] + self.dynamic_pj_per_cycle(cost) \
            * self.config["clock_mhz"] * 1e-6

    def gops_per_w(self, macs: float, period_cycles: float, static_w: float,
                   dynamic_pj_per_cycle: float) -> float:
        """Energy efficiency: ``2 x macs`` operations per inference over the energy drawn
        in one inference period of ``period_cycles`` (static power x period + dynamic
        energy per cycle x cycles); equal to GOPS / power, computed without overflowing."""
        seconds = period_cycles / (self.config["clock_mhz"] * 1e6)
        joules = static_w * seconds + dynamic_pj_per_cycle * 1e-12 * period_cycles
        return 2.0 * macs / 1e9 / joules if joules > 0 else 0.0

    def metrics(self, cost: dict) -> dict[str, float]:
        """The model's metrics from a cost dict (``luts``, ``dsps``, ``brams``,
        ``latency_cycles``, ``macs``): adds ``fps``, ``fits`` (against the device),
        ``latency_ms``, ``power_w``, ``gops_per_w`` (2 ops per MAC at ``fps``) and
        ``pipeline_efficiency`` (1: one device)."""
        dev, clock = self.device, self.config["clock_mhz"]
        cost = dict(cost)
        macs = cost.pop("macs", 0.0)
        fits = (cost["luts"] <= dev["luts"] and cost["dsps"] <= dev["dsps"]
                and cost["brams"] <= dev["brams"])
        fps = clock * 1e6 / cost["latency_cycles"]
        gops_per_w = self.gops_per_w(macs, cost["latency_cycles"], dev["static_w"],
                                     self.dynamic_pj_per_cycle(cost))
        return dict(cost, fps=fps, fits=float(fits),
                    latency_ms=cost["latency_cycles"] / (clock * 1e3), power_w=self.power_w(cost),
                    gops_per_w=gops_per_w, pipeline_efficiency=1.0)

    def layer_options(self, layer) -> list[tuple[float, float, tuple[int, int]]]:
        """Pareto (luts, latency, (tm, tn)) engines for one layer, from the option lists."""
        d = layer.dims
        opts = []
        for tm in self.config["options_tm"]:
            for tn in self.config["options_tn"]:
                if tm > 2 * d["M"] or tn > 2 * d["C"]:
                    continue
                c = engine_cost([layer], tm, tn, self.config, self.device)
                opts.append((c["luts"], c["latency_cycles"], (tm, tn)))
        opts.sort()
        front, best = [], math.inf
        for o in opts:
            if o[1] < best:
                front.append(o)
                best = o[1]
        return front

    def partition_designs(self, layers: list, lut_budget: float | None = None,
                          max_latency: float = math.inf) -> tuple[list[Design], list]:
        """Pareto designs of the partitioned network and the per-layer options they index."""
        options = [self.layer_options(x) for x in layers]
        budget = self.device["luts"] if lut_budget is None else lut_budget
        designs = pareto_designs([[o[:2] for o in opts] for opts in options], budget,
                                 max_latency, self.config["reconfig_cycles"])
        return designs, options

    def estimate(self, layers: list) -> dict[str, float]:
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        c = self.config
        if c["mode"] == "engine":
            return self.metrics(engine_cost(layers, c["tm"], c["tn"], c, self.device))
        designs, options = self.partition_designs(layers)
        if not designs:
            raise UserError(
                f"no partitioned design of this network fits {self.device['luts']} LUTs of "
                f"{c['device']}; use a larger device or smaller options_tm/options_tn"
            )
        best = designs[-1]  # the fastest within the budget
        return self.metrics(self.design_cost(layers, best, options))

    def design_cost(self, layers: list, design: Design, options: list) -> dict:
        """Resources of a partitioned design: per partition sums, the largest partition."""
        luts = dsps = brams = 0.0
        for s, e in design.partitions:
            parts = [engine_cost([layers[i]], *options[i][design.choice[i]][2], self.config,
                                 self.device) for i in range(s, e)]
            luts = max(luts, sum(p["luts"] for p in parts))
            dsps = max(dsps, sum(p["dsps"] for p in parts))
            brams = max(brams, sum(p["brams"] for p in parts))
        return {"luts": luts, "dsps": dsps, "brams": brams,
                "latency_cycles": float(design.latency_cycles),
                "macs": float(sum(x.macs for x in layers))}
