"""Hardware decisions as genes (hardware.design_space), the Zynq presets and GOPS/W."""

import itertools

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware.design_space import CUT_LEVELS, design_space
from evoapproxnas.hardware.fpga import DEVICES, PRESETS
from evoapproxnas.metrics import METRICS, Direction, parse_constraint

NET = [conv_layer(16, 16, 1, 16, 3), conv_layer(16, 16, 16, 32, 3, 2),
       conv_layer(8, 8, 32, 32, 3), conv_layer(8, 8, 32, 64, 1, 2), dense_layer(4 * 4 * 64, 10)]

# Xilinx DS190 (Zynq-7000 SoC Data Sheet: Overview), table "Zynq-7000 and Zynq-7000S SoCs":
# programmable logic of the Z-7015 and Z-7020 (logic cells, LUTs, flip-flops, total block RAM
# and its 36 Kb blocks, DSP slices), and the peak DSP performance it lists (symmetric FIR),
# 200 and 276 GMACs.
DS190 = {"xc7z015": {"logic_cells": 74_000, "luts": 46_200, "ffs": 92_400, "block_ram_mb": 3.3,
                     "brams": 95, "dsps": 160, "gmacs": 200},
         "xc7z020": {"logic_cells": 85_000, "luts": 53_200, "ffs": 106_400, "block_ram_mb": 4.9,
                     "brams": 140, "dsps": 220, "gmacs": 276}}


@pytest.mark.parametrize("device", sorted(DS190))
def test_zynq_devices_are_the_data_sheet_figures(device):
    want, got = DS190[device], DEVICES[device]
    assert {k: got[k] for k in ("luts", "ffs", "brams", "dsps")} == \
        {k: want[k] for k in ("luts", "ffs", "brams", "dsps")}
    assert got["bram_bits"] == 36 * 1024  # a 36 Kb block (DS190: "Block RAM (# 36 Kb Blocks)")
    # the data sheet's other figures of the same resources: the total block RAM (Mb of 2^20
    # bits, to its one decimal) and the logic cells (7-series: 1.6 per 6-input LUT, to the K)
    assert round(got["brams"] * got["bram_bits"] / 2**20, 1) == want["block_ram_mb"]
    assert round(got["luts"] * 1.6, -3) == want["logic_cells"]
    # DS190's peak figure: 2 MACs per DSP48E1 per cycle (pre-adder, symmetric FIR) at the
    # fastest grade's 628 MHz (DS187): the DSP counts agree with it within 1 %
    assert want["gmacs"] == pytest.approx(got["dsps"] * 2 * 0.628, rel=0.01)


def test_presets_of_the_paper_device_and_its_sibling():
    assert PRESETS["zynq7015"]["device"] == "xc7z015"
    assert PRESETS["zynq7020"]["device"] == "xc7z020"
    for name in ("zynq7015", "zynq7020"):
        model = get_cost_model("fpga", name)
        want = DS190[model.config["device"]]  # what the preset's model counts against
        assert {k: model.device[k] for k in ("luts", "ffs", "brams", "dsps")} == \
            {k: want[k] for k in ("luts", "ffs", "brams", "dsps")}
        tm, tn = model.config["tm"], model.config["tn"]
        assert tm * tn <= model.device["dsps"]  # the fixed engine's exact products on DSPs
        assert model.estimate(NET)["fits"] == 1.0


def test_gops_per_w_is_gops_over_power():
    """GOPS/W by its definition (2 ops per MAC x fps / power), against the model's energy
    accounting; and a hand-computed power from the documented coefficients."""
    model = get_cost_model("fpga", "zynq7015")
    m = model.estimate(NET)
    macs = sum(x.macs for x in NET)
    assert m["gops_per_w"] == pytest.approx(2 * macs * m["fps"] / 1e9 / m["power_w"], rel=1e-12)
    c = model.config
    dynamic_w = (m["luts"] * c["lut_uw_per_mhz"] + m["dsps"] * c["dsp_uw_per_mhz"]
                 + m["brams"] * c["bram_uw_per_mhz"]) * c["clock_mhz"] / 1e6
    assert m["power_w"] == pytest.approx(DEVICES["xc7z015"]["static_w"] + dynamic_w)
    assert m["latency_ms"] == pytest.approx(1e3 / m["fps"])
    assert METRICS["gops_per_w"].direction is Direction.MAXIMIZE
    asic = get_cost_model("asic").estimate(NET)  # ASIC: ops over the dynamic energy
    assert asic["gops_per_w"] == pytest.approx(2 * macs / (asic["energy_pj"] * 1e-12) / 1e9)


def _random_genes(space, rng):
    return [int(rng.integers(d.n)) for d in space.decisions]


@pytest.mark.parametrize("seed", range(4))
def test_joint_genes_decode_to_valid_designs(seed):
    rng = np.random.default_rng(seed)
    space = design_space("fpga", "zynq7015", {}, max_fpgas=3)
    cfg = space.base.config
    for _ in range(25):
        genes = _random_genes(space, rng)
        n = int(rng.integers(1, len(NET) + 1))
        stages = space.stages(genes, n)
        assert stages[0].first == 0 and stages[-1].end == n
        assert all(a.end == b.first for a, b in itertools.pairwise(stages))
        assert all(st.first < st.end for st in stages)
        assert 1 <= len(stages) <= min(n, space.n_stages(genes))
        for st in stages:
            assert (st.tm, st.tn, st.tr, st.tc) in itertools.product(
                cfg["options_tm"], cfg["options_tn"], cfg["options_tr"], cfg["options_tc"])
        got = space.evaluate(NET[:n], genes)
        # each stage priced independently as a one-engine model of that tiling
        parts = [get_cost_model("fpga", "zynq7015", tm=st.tm, tn=st.tn, tr=st.tr,
                                tc=st.tc).estimate(NET[st.first:st.end]) for st in stages]
        slowest = max(p["latency_cycles"] for p in parts)
        assert got["fps"] == pytest.approx(cfg["clock_mhz"] * 1e6 / slowest)
        assert got["latency_cycles"] == sum(p["latency_cycles"] for p in parts)
        assert got["luts"] == max(p["luts"] for p in parts)
        assert got["power_w"] == pytest.approx(sum(p["power_w"] for p in parts))
        assert got["pipeline_efficiency"] == pytest.approx(
            sum(p["latency_cycles"] for p in parts) / (len(parts) * slowest))
        macs = sum(x.macs for x in NET[:n])
        assert got["gops_per_w"] == pytest.approx(2 * macs * got["fps"] / 1e9 / got["power_w"])
        assert got["hardware_design"].startswith(f"fpga xc7z015 x{len(stages)}: layers 0-")


def test_inactive_genes_do_not_change_the_design():
    space = design_space("fpga", "zynq7015", {}, max_fpgas=2)
    genes = [0] + [1] * (len(space.decisions) - 1)  # one FPGA: stage 1 and the cut unused
    other = list(genes)
    other[-1], other[-2] = 5, 2
    assert space.active(genes) == space.active(other)
    assert space.evaluate(NET, genes) == space.evaluate(NET, other)


def test_optimize_equals_brute_force_over_the_genes():
    grid = {"options_tm": [4, 16], "options_tn": [2, 8], "options_tr": [4, 8],
            "options_tc": [8]}
    space = design_space("fpga", "zynq7015", grid, max_fpgas=2)
    every = [space.evaluate(NET, g)
             for g in itertools.product(*(range(d.n) for d in space.decisions))]
    luts = sorted({d["luts"] for d in every})
    for metric, texts in (("fps", []), ("fps", [f"luts <= {luts[len(luts) // 3]}"]),
                          ("gops_per_w", [])):
        cons = [parse_constraint(t) for t in texts]
        ok = [d for d in every if d["fits"] and all(c.violation(d[c.metric]) == 0
                                                    for c in cons)]
        sign = -1 if METRICS[metric].direction is Direction.MAXIMIZE else 1
        want = min(ok, key=lambda d: sign * d[metric])
        got = space.optimize(NET, metric, cons)
        if metric == "fps":  # exact for throughput (every stage on its fastest tiling)
            assert got[metric] == pytest.approx(want[metric]), texts
        else:  # a heuristic beyond one device: at least the best single-device design
            single = [d for d in ok if " x1:" in d["hardware_design"]]
            assert got[metric] >= max(d[metric] for d in single) - 1e-12
        assert all(c.violation(got[c.metric]) == 0 for c in cons) and got["fits"] == 1.0


def test_asic_genes_are_the_grid_of_the_hardware_search():
    space = design_space("asic")
    genes = [1, 2, 0]
    s = space.settings(genes)
    got = space.evaluate(NET, genes)
    want = get_cost_model("asic", **s).estimate(NET)
    assert {k: got[k] for k in want} == want
    assert got["hardware_design"] == (f"asic dataflow={s['dataflow']} pe={s['pe_y']}x"
                                      f"{s['pe_x']} glb_kib={s['glb_kib']:g}")
    with pytest.raises(UserError, match="max_fpgas applies to the fpga model"):
        design_space("asic", max_fpgas=2)


def test_cut_genes_cover_any_depth():
    space = design_space("fpga", "zynq7015", {}, max_fpgas=2)
    genes = space.genes_of_preset()
    genes[0] = 1  # two FPGAs
    for cut in range(CUT_LEVELS):
        genes[-1] = cut
        for n in (1, 2, 5):
            stages = space.stages(genes, n)
            assert len(stages) == min(2, n) and stages[-1].end == n
