"""Analytical tiling of one layer onto an Eyeriss-like accelerator (DRAM, GLB, PE array, RFs).

A mapping splits every loop bound (G, M, C, P, Q, R, S) into factors at four places, inner to
outer: the PE's register files (``rf``), the PE array (``spatial``), the global buffer
(``glb``) and DRAM (``dram``). The dataflow fixes which loops go onto the array and into the RFs
and the loop order above the RFs; capacities fix the factors; the DRAM loop order is chosen
among three candidates by energy. Access counts follow the usual loop-nest rule: a tile held at
a level is fetched again each time a loop above it that indexes its data changes, except for the
innermost loops above it that do not index it (those give reuse). Spatial fan-out is multicast:
the parent reads each distinct word once per fetch; partial sums are reduced inside the array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from evoapproxnas.hardware.asic_nest import LevelMapping, Mapping

DIMS = ("G", "M", "C", "P", "Q", "R", "S")
TYPES = ("inputs", "weights", "outputs")
RELEVANT = {
    "inputs": frozenset("GCPQRS"),
    "weights": frozenset("GMCRS"),
    "outputs": frozenset("GMPQ"),
}
#: Per dataflow: spatial dims on the array's Y then X axis (``x_more``: other X-axis choices
#: the mapper also tries; row stationary can put output rows across the columns, as Eyeriss
#: does), RF dims (grown in order), and the GLB loop order (outer -> inner; its innermost
#: loops decide which data stays in the RFs).
DATAFLOWS = {
    "rs": {"y": ("R", "C"), "x": ("M", "C", "G"), "x_more": (("P", "M", "C", "G"),),
           "rf": ("S", "M", "C"), "glb_order": ("G", "M", "C", "R", "S", "P", "Q")},
    "ws": {"y": ("C", "R", "S"), "x": ("M", "G"), "rf": ("R", "S", "M"),
           "glb_order": ("G", "M", "C", "R", "S", "P", "Q")},
    "os": {"y": ("P", "M"), "x": ("Q", "M", "G"), "rf": ("M",),
           "glb_order": ("G", "M", "P", "Q", "C", "R", "S")},
}
#: DRAM loop orders tried (outer -> inner): weights, outputs or inputs reused innermost.
DRAM_ORDERS = (
    ("G", "M", "C", "R", "S", "P", "Q"),
    ("G", "M", "P", "Q", "C", "R", "S"),
    ("G", "C", "P", "Q", "R", "S", "M"),
)
RF_KEYS = {"inputs": "rf_ifmap_words", "weights": "rf_weights_words", "outputs": "rf_psum_words"}


@dataclass(frozen=True)
class LayerCost:
    """Multiplier-independent result of mapping one layer."""

    cycles: int
    pes_used: int
    energy_pj: dict  # level -> pJ, without the MAC level
    dram_bits: float
    glb_bits: float
    mapping: str
    nest: Mapping | None = None  # the same mapping for ``asic_nest`` (template level names)


def footprint(dtype: str, tile: dict, stride: tuple[int, int]) -> int:
    """Words of ``dtype`` touched by a tile (inputs include the sliding-window halo)."""
    g = tile["G"]
    if dtype == "weights":
        return g * tile["M"] * tile["C"] * tile["R"] * tile["S"]
    if dtype == "outputs":
        return g * tile["M"] * tile["P"] * tile["Q"]
    rows = (tile["P"] - 1) * stride[0] + tile["R"]
    cols = (tile["Q"] - 1) * stride[1] + tile["S"]
    return g * tile["C"] * rows * cols


def refetch(dtype: str, loops: list[tuple[str, int]]) -> tuple[int, int]:
    """(times a tile is fetched, distinct tiles) under loops listed outer -> inner."""
    relevant = RELEVANT[dtype]
    last = -1
    for i, (dim, bound) in enumerate(loops):
        if dim in relevant and bound > 1:
            last = i
    count = math.prod(b for _, b in loops[: last + 1])
    distinct = math.prod(b for d, b in loops if d in relevant)
    return count, distinct


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _spatial_factor(extent: int, avail: int, perfect: bool) -> int:
    if avail <= 1 or extent <= 1:
        return 1
    if perfect:
        return max(d for d in _divisors(extent) if d <= avail)
    passes = -(-extent // min(extent, avail))
    return -(-extent // passes)  # the smallest factor needing that few passes


def _mul(a: dict, b: dict) -> dict:
    return {d: a[d] * b[d] for d in DIMS}


def _ones() -> dict:
    return dict.fromkeys(DIMS, 1)


def _grow(tile_dims: tuple, rem: dict, base: dict, fits) -> dict:
    """Greedily give each dim in ``tile_dims`` its largest divisor of ``rem`` that fits."""
    level = _ones()
    for dim in tile_dims:
        for f in sorted(_divisors(rem[dim]), reverse=True):
            trial = dict(level, **{dim: level[dim] * f})
            if fits(_mul(base, trial)):
                level = trial
                rem[dim] //= f
                break
    return level


def _assign_spatial(dims: dict, axes_dims: dict, cfg: dict, perfect: bool):
    """Spatial factors filling the Y then the X axis with the listed dims (greedy)."""
    rem = dict(dims)
    spatial = _ones()
    axes = {"x": [], "y": []}
    for axis, size in (("y", cfg["pe_y"]), ("x", cfg["pe_x"])):
        avail = int(size)
        for dim in axes_dims[axis]:
            f = _spatial_factor(rem[dim], avail, perfect)
            spatial[dim] *= f
            rem[dim] = -(-rem[dim] // f)
            avail //= f
            axes[axis].append((dim, f))
    return rem, spatial, axes


def map_layer(dims: dict, stride: tuple[int, int], cfg: dict, tech: dict) -> LayerCost:
    """Map a layer with loop bounds ``dims``; return the best of the candidate mappings.

    Candidates: the dataflow's X-axis options (``x`` and ``x_more``) x the three DRAM loop
    orders; the best has the lowest memory energy, or with ``mapper_objective = "edp"`` the
    lowest (memory + exact-MAC energy) x cycles.
    """
    flow = DATAFLOWS[cfg["dataflow"]]
    perfect = bool(cfg["perfect_factorization"])
    edp = cfg.get("mapper_objective", "energy") == "edp"
    mac_pj = (tech["mult_pj"] + tech["add_pj"]) * math.prod(dims.values())
    caps = {t: int(cfg[RF_KEYS[t]]) for t in TYPES}
    bits = {"inputs": cfg["input_bits"], "weights": cfg["weight_bits"],
            "outputs": cfg["psum_bits"]}
    keeps = [t for t in TYPES if t in cfg["glb_keeps"]]
    glb_cap = float(cfg["glb_kib"]) * 8192.0

    def glb_fits(tile: dict) -> bool:
        return sum(footprint(t, tile, stride) * bits[t] for t in keeps) <= glb_cap

    def score(cost: LayerCost) -> float:
        energy = sum(cost.energy_pj.values())
        return (energy + mac_pj) * cost.cycles if edp else energy

    best = None
    for x_dims in (flow["x"], *flow.get("x_more", ())):
        rem, spatial, axes = _assign_spatial(dims, {"y": flow["y"], "x": x_dims}, cfg, perfect)
        rf = _grow(flow["rf"], rem, _ones(),
                   lambda tile: all(footprint(t, tile, stride) <= caps[t] for t in TYPES))
        inner = _mul(rf, spatial)
        for order in DRAM_ORDERS:
            rem_o = dict(rem)
            glb = _grow(tuple(reversed(order)), rem_o, inner, glb_fits)
            cost = _count(dims, stride, cfg, tech, rf, spatial, glb, rem_o, order, flow, keeps)
            if best is None or score(cost) < score(best):
                best = replace(cost, nest=nest_mapping(flow, rf, axes, glb, rem_o, order,
                                                       keeps))
    return best


#: Level names of the template hierarchy: those of Timeloop's eyeriss_like example, whose
#: structure (DRAM, GLB, a column of PE rows, three spads per PE, MAC) the template follows.
TEMPLATE = ("DRAM", "shared_glb", "inter_PE_column_spatial", "inter_PE_spatial",
            "ifmap_spad", "weights_spad", "psum_spad", "mac")
_TIMELOOP_NAMES = {"inputs": "Inputs", "weights": "Weights", "outputs": "Outputs"}


def nest_mapping(flow: dict, rf: dict, axes: dict, glb: dict, dram: dict, dram_order: tuple,
                 keeps: list) -> Mapping:
    """The mapper's factors as a :class:`asic_nest.Mapping` on the template hierarchy.

    RF loops go to the innermost spad (every spad then holds the RF tile of its data type, as
    this module assumes), X-axis factors to the column level, Y-axis factors to the PE rows.
    """
    def temporal(order, factors):
        return tuple((d, factors[d]) for d in reversed(order) if factors[d] > 1)

    def spatial(pairs, axis):
        return tuple((d, f, axis) for d, f in pairs if f > 1)

    names = dict(_TIMELOOP_NAMES)
    return Mapping((
        LevelMapping("DRAM", temporal(dram_order, dram), (), frozenset(names.values())),
        LevelMapping("shared_glb", temporal(flow["glb_order"], glb), (),
                     frozenset(names[t] for t in keeps)),
        LevelMapping("inter_PE_column_spatial", (), spatial(axes["x"], "X")),
        LevelMapping("inter_PE_spatial", (), spatial(axes["y"], "Y")),
        LevelMapping("ifmap_spad", (), (), frozenset({"Inputs"})),
        LevelMapping("weights_spad", (), (), frozenset({"Weights"})),
        LevelMapping("psum_spad", tuple((d, rf[d]) for d in flow["rf"] if rf[d] > 1), (),
                     frozenset({"Outputs"})),
    ))


def template_hierarchy(cfg: dict, tech: dict) -> list[dict]:
    """The storage hierarchy that ``cfg`` describes, for ``asic_nest.analyze``.

    One word size per level (as in Timeloop): 8-bit words in DRAM and the GLB, the data type's
    width in its spad; a vector access is the technology table's word (``*_word_bits``) and
    costs its per-access energy; bandwidths are the config's bits per cycle.
    """
    pes, px, py = cfg["pe_x"] * cfg["pe_y"], cfg["pe_x"], cfg["pe_y"]

    def spad(name, key, bits, pj):
        return {"name": name, "kind": "storage", "instances": pes, "mesh_x": px, "mesh_y": py,
                "word_bits": bits, "block_size": max(1, tech["rf_word_bits"] // bits),
                "depth_words": int(cfg[key]), "cluster_size": 1, "read_pj": pj, "fill_pj": pj,
                "update_pj": pj, "leak_pj": 0.0}

    word = int(cfg["input_bits"])
    return [
        {"name": "DRAM", "kind": "storage", "instances": 1, "mesh_x": 1, "mesh_y": 1,
         "word_bits": word, "block_size": max(1, tech["dram_word_bits"] // word),
         "depth_words": 0, "cluster_size": 1,
         "shared_bandwidth": cfg["dram_bits_per_cycle"] / word,
         "read_pj": tech["dram_pj"], "fill_pj": tech["dram_pj"],
         "update_pj": tech["dram_pj"], "leak_pj": 0.0},
        {"name": "shared_glb", "kind": "storage", "instances": 1, "mesh_x": 1, "mesh_y": 1,
         "word_bits": word, "block_size": max(1, tech["glb_word_bits"] // word),
         "depth_words": int(cfg["glb_kib"] * 8192 // word), "cluster_size": 1,
         "shared_bandwidth": cfg["glb_bits_per_cycle"] / word,
         "read_pj": tech["glb_read_pj"], "fill_pj": tech["glb_write_pj"],
         "update_pj": tech["glb_write_pj"], "leak_pj": 0.0},
        {"name": "inter_PE_column_spatial", "kind": "dummy", "instances": 1, "mesh_x": 1,
         "mesh_y": 1},
        {"name": "inter_PE_spatial", "kind": "dummy", "instances": px, "mesh_x": px,
         "mesh_y": 1},
        spad("ifmap_spad", "rf_ifmap_words", int(cfg["input_bits"]), tech["ifmap_spad_pj"]),
        spad("weights_spad", "rf_weights_words", int(cfg["weight_bits"]),
             tech["weights_spad_pj"]),
        spad("psum_spad", "rf_psum_words", int(cfg["psum_bits"]), tech["psum_spad_pj"]),
        {"name": "mac", "kind": "compute", "instances": pes, "mesh_x": px, "mesh_y": py},
    ]


def _count(dims, stride, cfg, tech, rf, spatial, glb, dram, dram_order, flow, keeps):
    macs = math.prod(dims.values())
    n_pe = math.prod(spatial.values())
    above_glb = [(d, dram[d]) for d in dram_order]
    above_rf = above_glb + [(d, glb[d]) for d in flow["glb_order"]]
    arr_tile = _mul(rf, spatial)
    glb_tile = _mul(arr_tile, glb)
    ibits, wbits = cfg["input_bits"], cfg["weight_bits"]
    pbits, obits = cfg["psum_bits"], cfg["output_bits"]
    bits = {"inputs": ibits, "weights": wbits, "outputs": pbits}
    rfw = tech["rf_word_bits"]
    glb_rd = {"bits": 0.0}
    glb_wr = {"bits": 0.0}
    dram_bits = 0.0
    noc_words = 0.0
    spad = {}
    for t in TYPES:
        rf_fp = footprint(t, rf, stride)
        arr_fp = footprint(t, arr_tile, stride)
        cnt, dist = refetch(t, above_rf)
        in_glb = t in keeps
        if t == "outputs":
            reload_rf = rf_fp * (cnt - dist) * n_pe
            drain_rf = rf_fp * cnt * n_pe
            spad[t] = (2 * macs + reload_rf + drain_rf) * pbits / rfw
            noc_words += reload_rf + drain_rf
            up, down = arr_fp * cnt, arr_fp * (cnt - dist)  # array -> parent, parent -> array
            if in_glb:
                glb_wr["bits"] += up * pbits
                glb_rd["bits"] += down * pbits
                g_fp = footprint(t, glb_tile, stride)
                c2, d2 = refetch(t, above_glb)
                spill = g_fp * (c2 - d2)
                glb_rd["bits"] += (g_fp * d2 + spill) * pbits
                glb_wr["bits"] += spill * pbits
                dram_bits += g_fp * d2 * obits + 2 * spill * pbits
            else:
                dram_bits += arr_fp * dist * obits + (up - arr_fp * dist + down) * pbits
            continue
        fills = rf_fp * cnt * n_pe
        spad[t] = (macs + fills) * bits[t] / rfw
        noc_words += fills
        parent_reads = arr_fp * cnt * bits[t]
        if in_glb:
            glb_rd["bits"] += parent_reads
            g_fp = footprint(t, glb_tile, stride)
            c2, _ = refetch(t, above_glb)
            glb_wr["bits"] += g_fp * c2 * bits[t]
            dram_bits += g_fp * c2 * bits[t]
        else:
            dram_bits += parent_reads
    gw = tech["glb_word_bits"]
    energy = {
        "ifmap_spad": spad["inputs"] * tech["ifmap_spad_pj"],
        "weights_spad": spad["weights"] * tech["weights_spad_pj"],
        "psum_spad": spad["outputs"] * tech["psum_spad_pj"],
        "noc": noc_words * tech["noc_pj"],
        "glb": glb_rd["bits"] / gw * tech["glb_read_pj"] + glb_wr["bits"] / gw * tech["glb_write_pj"],
        "dram": dram_bits / tech["dram_word_bits"] * tech["dram_pj"],
    }
    temporal = math.prod(rf[d] * glb[d] * dram[d] for d in DIMS)
    glb_bits = glb_rd["bits"] + glb_wr["bits"]
    cycles = max(temporal, math.ceil(dram_bits / cfg["dram_bits_per_cycle"]),
                 math.ceil(glb_bits / cfg["glb_bits_per_cycle"]))
    text = " ".join(
        f"{name}[{','.join(f'{d}{f[d]}' for d in DIMS if f[d] > 1)}]"
        for name, f in (("rf", rf), ("pe", spatial), ("glb", glb), ("dram", dram))
    ) + f" dram_order={''.join(dram_order)}"
    return LayerCost(int(cycles), int(n_pe), energy, dram_bits, glb_bits, text)
