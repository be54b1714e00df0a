"""The FPGA model against published figures: the XFER tiled engine and synthesized LUT counts."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.hardware import conv_layer, get_cost_model
from evoapproxnas.hardware import layers as L
from evoapproxnas.hardware.fpga import tile_cycles
from evoapproxnas.multipliers import load_library

VERILOG = Path(__file__).resolve().parents[1] / "data" / "evoapproxlib" / "verilog"

# XFER (W. Jiang et al., "Achieving Super-Linear Speedup across Multi-FPGA for Real-Time DNN
# Inference", ACM TECS 18(5s), 2019): AlexNet conv5 (B=2, M=128, N=192, R=C=13, K=3) on a
# Tm=8, Tn=32, Tr=Tc=13 engine with 2-word (64-bit) ports, 32-bit floating point, 100 MHz.
XFER_PUBLISHED = {"t_w": 1152, "t_in": 2704, "t_comp": 1521, "t_out": 676,
                  "cycles": 519_168, "dsps": 1280, "bram18k": 592}
# the paper's conventions, as settings of our model (docs/hardware.md): input tiles of
# Tr x Tc words (no halo), no pipeline fill/drain, 5 DSPs per float MAC (3 multiply, 2 add),
# every buffer bank in its own BRAM18K (none in LUTRAM)
XFER_CONVENTIONS = {
    "device": "zcu102", "clock_mhz": 100.0, "tm": 8, "tn": 32, "tr": 13, "tc": 13,
    "data_bits": 32, "acc_bits": 32, "port_in_bits": 64, "port_weight_bits": 64,
    "port_out_bits": 64, "exact_on_dsp": True, "mults_per_dsp": 1, "dsps_per_mult": 5,
    "input_halo": False, "fill_drain": False, "lutram_max_bits": 0,
}


def test_xfer_alexnet_conv5_within_one_percent():
    model = get_cost_model("fpga", "zcu102", **XFER_CONVENTIONS)
    conv5 = conv_layer(13, 13, 192, 128, 3, 1)  # padding 1: 13 x 13 outputs
    tiles = tile_cycles(conv5, 8, 32, model.config)
    for key in ("t_w", "t_in", "t_comp", "t_out"):
        assert tiles[key] == pytest.approx(XFER_PUBLISHED[key], rel=0.01), key
    batch = model.estimate([conv5, conv5])  # B = 2: the two images one after the other
    assert batch["latency_cycles"] == pytest.approx(XFER_PUBLISHED["cycles"], rel=0.01)
    assert batch["dsps"] == pytest.approx(XFER_PUBLISHED["dsps"], rel=0.01)
    # our BRAMs are the device's 36 Kb blocks; XFER counts 18 Kb halves
    assert 2 * batch["brams"] == pytest.approx(XFER_PUBLISHED["bram18k"], rel=0.01)
    assert batch["fits"] == 1.0  # ZCU102: 2,520 DSPs, 912 BRAM36


def test_our_defaults_count_the_halo_and_the_pipeline_fill():
    xfer = get_cost_model("fpga", "zcu102", **XFER_CONVENTIONS)
    ours = get_cost_model("fpga", "zcu102", **dict(XFER_CONVENTIONS, input_halo=True,
                                                   fill_drain=True))
    conv5 = conv_layer(13, 13, 192, 128, 3, 1)
    # a 13 x 13 output tile of a 3 x 3 convolution reads 15 x 15 inputs
    assert tile_cycles(conv5, 8, 32, ours.config)["t_in"] == 32 * 15 * 15 * 32 // 64
    assert ours.estimate([conv5])["latency_cycles"] > xfer.estimate([conv5])["latency_cycles"]


def test_bundled_evoapproxlib_circuits_carry_synthesized_luts():
    for lib_name in ("evoapproxlib8u", "evoapproxlib8s"):
        lib = load_library(lib_name)
        for m in lib:
            assert isinstance(m.luts, int) and m.luts >= 0, m.name
            assert m.sources["luts"].startswith("estimated by yosys synth_xilinx"), m.name
        exact = lib.exact
        assert L.luts(exact) == exact.luts  # the FPGA model uses the figure, not a guess
        # the cheapest approximations need far fewer LUTs than the exact circuit
        assert min(m.luts for m in lib) < exact.luts / 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mul8u_2AC", "mul8s_1KV8"])
def test_shipped_lut_figure_reproduces_from_the_verilog(name):
    if shutil.which("yosys") is None:  # installed by scripts/setup.sh: a failure, not a skip
        pytest.fail("yosys is not installed (run scripts/setup.sh): cannot re-synthesize the "
                    "LUT figure", pytrace=False)
    from evoapproxnas.multipliers.importers.verilog import read_verilog

    signed = name.startswith("mul8s")
    bundled = next(m for m in load_library("evoapproxlib8s" if signed else "evoapproxlib8u")
                   if m.name == name)
    # operand a is the C model's first parameter: B in mul8u_2AC(B, A), A in mul8s_1KV8(A, B)
    a_port = re.search(r"\(\s*(?:const\s+)?\w+\s+(\w+)", bundled.info["c_signature"])[1]
    circuit = read_verilog(VERILOG / f"{name}.v", signed=signed, a_port=a_port.upper())
    assert np.array_equal(circuit.lut, bundled.lut.astype(np.int64))  # port order checked
    assert circuit.figures["luts"] == bundled.luts
