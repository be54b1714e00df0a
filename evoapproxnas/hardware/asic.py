"""ASIC cost model: an Eyeriss-like spatial accelerator (PE array, RFs, global buffer, DRAM).

Per layer, :mod:`asic_mapping` gives cycles and accesses per level; energies per access come
from the preset's technology table. The multiply part of the MAC energy scales with the layer's
multiplier power relative to the exact 8-bit multiplier (see ``layers.power_ratio``). A layer on
an 8xN multiplier moves and stores its weights as N-bit words (``layers.stored_weight_bits``:
DRAM and GLB traffic, weight-spad accesses, GLB capacity); the RFs stay sized in words of the
configured ``weight_bits``, so the area does not change.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from functools import lru_cache
from typing import ClassVar

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import layers as L
from evoapproxnas.hardware.asic_mapping import DATAFLOWS, TYPES, map_layer, template_hierarchy
from evoapproxnas.hardware.asic_nest import Mapping, analyze, check_hierarchy
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

LEVELS = ("mac", "ifmap_spad", "weights_spad", "psum_spad", "noc", "glb", "dram")
TECH_WORD_BITS = ("rf_word_bits", "glb_word_bits", "dram_word_bits")
"""The technology table's access widths (bits per vector access): divisors, positive. Its
other numbers are energies and areas: 0 or more."""
GLB_KIB_MAX = float(2**30)
"""Largest global buffer (KiB): beyond it the buffer's bit count stops being exact in floats."""

#: 45 nm: Horowitz (ISSCC 2014) arithmetic and memory figures; RF and inter-PE costs from
#: Eyeriss's relative costs (RF 1 : inter-PE 2 : buffer 6 : DRAM 200, in MACs). Area figures
#: are order-of-magnitude 45 nm values (flip-flop RF bit, 6T SRAM bit with periphery).
TECH_45NM = {
    "name": "45nm (Horowitz 2014; Eyeriss relative RF/NoC costs)",
    "mult_pj": 0.2, "add_pj": 0.03,
    "rf_word_bits": 16,
    "ifmap_spad_pj": 0.23, "weights_spad_pj": 0.23, "psum_spad_pj": 0.23,
    "noc_pj": 0.46,
    "glb_word_bits": 64, "glb_read_pj": 20.0, "glb_write_pj": 20.0,
    "glb_scales_with_size": True,
    "dram_word_bits": 64, "dram_pj": 1950.0,
    "mult_area_scale": 1.0, "adder_um2": 200.0, "pe_overhead_um2": 300.0,
    "rf_um2_per_bit": 5.0, "sram_um2_per_bit": 0.6,
}
#: The ERT of Timeloop/Accelergy's eyeriss-like example (32 nm, 8-bit); the single "intmac"
#: energy is attributed to the multiplier. Areas: the 45 nm ones scaled by (32/45)^2.
TECH_TIMELOOP_32NM = {
    "name": "32nm Timeloop/Accelergy eyeriss-like ERT",
    "mult_pj": 0.2077, "add_pj": 0.0,
    "rf_word_bits": 16,
    "ifmap_spad_pj": 0.202, "weights_spad_pj": 1.977, "psum_spad_pj": 0.251,
    "noc_pj": 0.0,
    "glb_word_bits": 64, "glb_read_pj": 18.18, "glb_write_pj": 14.14,
    "glb_scales_with_size": False,
    "dram_word_bits": 64, "dram_pj": 512.0,
    "mult_area_scale": 0.506, "adder_um2": 101.0, "pe_overhead_um2": 152.0,
    "rf_um2_per_bit": 2.5, "sram_um2_per_bit": 0.3,
}

_BASE = {
    "dataflow": "rs", "pe_x": 14, "pe_y": 12, "clock_mhz": 200.0, "glb_kib": 108.0,
    "glb_keeps": ["inputs", "outputs"],
    "rf_ifmap_words": 12, "rf_weights_words": 224, "rf_psum_words": 24,
    "input_bits": 8, "weight_bits": 8, "psum_bits": 16, "output_bits": 8,
    "perfect_factorization": False,
    "mapper_objective": "energy",  # or "edp": what the mapper minimises per layer
    "dram_bits_per_cycle": 64, "glb_bits_per_cycle": 256,
    "tech": TECH_45NM,
    # storage levels for ``estimate_mapping`` (outer -> inner, then the MACs); empty = the
    # Eyeriss-like template built from the keys above (``asic_mapping.template_hierarchy``)
    "hierarchy": [],
}

PRESETS = {
    "eyeriss-45nm": dict(_BASE),
    "timeloop-eyeriss-like": dict(  # spads of 12 / 192 / 16 16-bit entries = 24 / 384 / 16 words
        _BASE, glb_kib=128.0, rf_ifmap_words=24, rf_weights_words=384, rf_psum_words=16,
        perfect_factorization=True, mapper_objective="edp", tech=TECH_TIMELOOP_32NM,
    ),
    "edge-8x8-ws": dict(_BASE, dataflow="ws", pe_x=8, pe_y=8, glb_kib=32.0,
                        rf_weights_words=64, rf_ifmap_words=4, rf_psum_words=4),
    "server-32x32-os": dict(_BASE, dataflow="os", pe_x=32, pe_y=32, glb_kib=512.0,
                            clock_mhz=500.0, rf_psum_words=32),
}

_SRAM_45NM = ((8.0, 10.0), (32.0, 20.0), (1024.0, 100.0))  # KB, pJ per 64-bit read


def sram_read_pj(kib: float) -> float:
    """64-bit SRAM read energy at 45 nm, log-log interpolated from Horowitz's three points."""
    pts = _SRAM_45NM
    if kib <= pts[0][0]:
        return pts[0][1] * math.sqrt(kib / pts[0][0])
    for (k0, e0), (k1, e1) in itertools.pairwise(pts):
        if kib <= k1 or (k1, e1) == pts[-1]:
            slope = math.log(e1 / e0) / math.log(k1 / k0)
            return e0 * (kib / k0) ** slope
    raise AssertionError("unreachable")


@lru_cache(maxsize=65536)
def _map_cached(key: tuple, cfg_json: str):
    dims, stride = dict(key[0]), key[1]
    cfg = json.loads(cfg_json)
    return map_layer(dims, stride, cfg, cfg["tech"])


@register_model("asic")
class AsicModel(CostModel):
    """Eyeriss-like accelerator; metrics ``energy_pj``, ``latency_cycles``, ``area_um2``,
    ``edap`` (= energy_pj x latency_cycles x area_um2), ``fps``, ``utilization``."""

    PRESETS: ClassVar[dict[str, dict]] = PRESETS
    DEFAULT_PRESET = "eyeriss-45nm"
    METRICS: ClassVar[dict[str, ModelMetric]] = {
        "energy_pj": ModelMetric("min", "pJ", "energy of one inference"),
        **common_metrics("latency_cycles"),
        "area_um2": ModelMetric("min", "um^2", "chip area (PE array and global buffer)"),
        "edap": ModelMetric("min", "pJ x cycles x um^2", "energy x latency x area"),
        **common_metrics("fps"),
        "utilization": ModelMetric("max", "", "MACs / (cycles x PEs): busy share of the PEs"),
        "macs": ModelMetric("min", "", "multiply-accumulates of one inference"),
        **common_metrics("latency_ms", "gops_per_w"),
    }

    def validate(self) -> None:
        c = self.config
        check_choice(c["dataflow"], DATAFLOWS, "asic dataflow")
        check_choice(c["mapper_objective"], ("energy", "edp"), "asic mapper_objective")
        check_positive(c, ("pe_x", "pe_y", "clock_mhz", "glb_kib", "rf_ifmap_words",
                           "rf_weights_words", "rf_psum_words", "input_bits", "weight_bits",
                           "psum_bits", "output_bits", "dram_bits_per_cycle",
                           "glb_bits_per_cycle"), "asic")
        if c["glb_kib"] > GLB_KIB_MAX:
            raise UserError(f"asic setting 'glb_kib' must be at most {GLB_KIB_MAX:g} (1 TiB), "
                            f"got {c['glb_kib']!r}")
        for t in c["glb_keeps"]:
            check_choice(t, TYPES, "asic glb_keeps entry")
        check_positive(c["tech"], TECH_WORD_BITS, "asic", "tech.")
        check_non_negative(c["tech"], [k for k, v in c["tech"].items()
                                       if is_number(v) and k not in TECH_WORD_BITS],
                           "asic", "tech.")
        tech = dict(c["tech"])
        if tech["glb_scales_with_size"]:
            tech["glb_read_pj"] = tech["glb_write_pj"] = sram_read_pj(c["glb_kib"])
        self._tech = tech
        self._key = sys.intern(json.dumps(dict(c, tech=tech), sort_keys=True))
        self._keys = {int(c["weight_bits"]): self._key}
        check_hierarchy(c["hierarchy"])

    def layer_config(self, layer) -> dict:
        """The config a layer is mapped with: the model's, with ``weight_bits`` narrowed to the
        layer's multiplier width N where N is smaller (``layers.stored_weight_bits``)."""
        bits = L.stored_weight_bits(layer, self.config["weight_bits"])
        return self.config if bits == self.config["weight_bits"] \
            else dict(self.config, weight_bits=bits)

    def _layer_key(self, layer) -> str:
        """The mapping cache's config key of ``layer`` (its weight width included)."""
        bits = L.stored_weight_bits(layer, self.config["weight_bits"])
        if bits not in self._keys:
            cfg = dict(self.config, tech=self._tech, weight_bits=bits)
            self._keys[bits] = sys.intern(json.dumps(cfg, sort_keys=True))
        return self._keys[bits]

    def mac_pj(self, multiplier) -> float:
        """Energy of one MAC with ``multiplier`` (multiply part scaled by its power)."""
        return self._tech["mult_pj"] * L.power_ratio(multiplier) + self._tech["add_pj"]

    def hierarchy(self, layer=None) -> list[dict]:
        """The storage levels (outer -> inner, then the MACs) that ``estimate_mapping`` uses;
        the template's weight spad holds ``layer``'s weight width when it is given."""
        cfg = self.config if layer is None else self.layer_config(layer)
        return self.config["hierarchy"] or template_hierarchy(cfg, self._tech)

    def best_mapping(self, layer) -> Mapping:
        """The mapping this model's mapper picks for ``layer`` (template level names)."""
        return _map_cached((tuple(layer.dims.items()), layer.strides),
                           self._layer_key(layer)).nest

    def estimate_mapping(self, layer, mapping: Mapping) -> dict:
        """Evaluate a given mapping of ``layer`` exactly, as Timeloop does (``asic_nest``).

        Returns ``cycles``, ``energy_pj``, ``macs``, ``edp`` (pJ x cycles), ``utilization``,
        ``energy_by_level_pj``, ``instances`` and ``accesses[level][dataspace] = {"reads",
        "fills", "updates"}`` (per-instance scalar counts; Timeloop's level and dataspace
        names). The MAC energy scales with the layer's multiplier like ``estimate``'s.
        """
        result = analyze(layer.dims, layer.strides, self.hierarchy(layer), mapping,
                         self.mac_pj(layer.multiplier))
        result["edp"] = result["energy_pj"] * result["cycles"]
        return result

    def area_um2(self, layers: list) -> float:
        """Chip area: PEs (multiplier, adder, RFs, control) plus GLB.

        Mixed multipliers (docs/hardware.md): the PEs form one bank per multiplier in use,
        sized by its share of the MACs, so a PE's multiplier area is the MAC-weighted mean
        of the multipliers' areas (``layers.multiplier_shares``).
        """
        c, t = self.config, self._tech
        mult_area = sum(share * L.area_um2(m) for m, share in L.multiplier_shares(layers)) \
            * t["mult_area_scale"]
        rf_bits = (c["rf_ifmap_words"] * c["input_bits"] + c["rf_weights_words"]
                   * c["weight_bits"] + c["rf_psum_words"] * c["psum_bits"])
        pe = mult_area + t["adder_um2"] + t["pe_overhead_um2"] + rf_bits * t["rf_um2_per_bit"]
        glb = c["glb_kib"] * 8192.0 * t["sram_um2_per_bit"]
        return c["pe_x"] * c["pe_y"] * pe + glb

    def layer_costs(self, layers: list) -> list[dict]:
        """Per layer: cycles, PEs used, energy per level (pJ) and the mapping found."""
        out = []
        for layer in layers:
            key = (tuple(layer.dims.items()), layer.strides)
            cost = _map_cached(key, self._layer_key(layer))
            energy = dict(cost.energy_pj, mac=layer.macs * self.mac_pj(layer.multiplier))
            out.append({"name": layer.name, "macs": layer.macs, "cycles": cost.cycles,
                        "pes_used": cost.pes_used, "energy_pj": energy,
                        "mapping": cost.mapping})
        return out

    def estimate(self, layers: list) -> dict[str, float]:
        if not layers:
            raise UserError("the network has no multiplying layers to estimate")
        costs = self.layer_costs(layers)
        energy = sum(sum(c["energy_pj"].values()) for c in costs)
        cycles = sum(c["cycles"] for c in costs)
        macs = sum(c["macs"] for c in costs)
        area = self.area_um2(layers)
        pes = self.config["pe_x"] * self.config["pe_y"]
        return {
            "energy_pj": float(energy),
            "latency_cycles": float(cycles),
            "area_um2": float(area),
            "edap": float(energy * cycles * area),
            "fps": self.config["clock_mhz"] * 1e6 / cycles,
            "utilization": macs / (cycles * pes),
            "macs": float(macs),
            "latency_ms": cycles / (self.config["clock_mhz"] * 1e3),
            # ops per joule / 1e9: 2 ops per MAC over the inference's dynamic energy
            "gops_per_w": 2.0 * macs / (energy * 1e-12) / 1e9,
        }

    def breakdown(self, layers: list) -> dict[str, float]:
        """Energy per level (pJ) summed over the layers."""
        total = dict.fromkeys(LEVELS, 0.0)
        for c in self.layer_costs(layers):
            for level, e in c["energy_pj"].items():
                total[level] += e
        return total
