import math

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware.fpga import DEVICES

from .helpers import EXACT, HALF, FakeMultiplier

WIDE = {"port_in_bits": 1 << 20, "port_weight_bits": 1 << 20, "port_out_bits": 1 << 20}


def test_device_presets_match_datasheets():
    assert (DEVICES["xc7z020"]["luts"], DEVICES["xc7z020"]["dsps"],
            DEVICES["xc7z020"]["brams"]) == (53_200, 220, 140)
    assert DEVICES["zcu102"]["dsps"] == 2520
    for preset in ("zynq7020", "zynq7020-lut", "zcu102", "cyclone4"):
        net = [conv_layer(32, 32, 3, 32, 3), conv_layer(32, 32, 32, 64, 3, 2)]
        assert get_cost_model("fpga", preset).estimate(net)["fits"] == 1.0


@pytest.mark.parametrize("tm,tn,tr,tc", [(16, 8, 14, 14), (8, 4, 7, 5), (32, 3, 28, 28)])
def test_compute_bound_latency_is_the_tiled_loop_count(tm, tn, tr, tc):
    layer = conv_layer(28, 28, 24, 40, 3, 1)
    m = get_cost_model("fpga", tm=tm, tn=tn, tr=tr, tc=tc, **WIDE).estimate([layer])
    d = layer.dims
    tiles = math.ceil(d["M"] / tm) * math.ceil(d["C"] / tn) * math.ceil(d["P"] / tr) \
        * math.ceil(d["Q"] / tc)
    trr, tcc = min(tr, d["P"]), min(tc, d["Q"])
    compute = tiles * d["R"] * d["S"] * trr * tcc
    # prologue: one input, weight and output transfer (1 cycle each with wide ports)
    assert m["latency_cycles"] == compute + 3
    assert m["fps"] == pytest.approx(100e6 / m["latency_cycles"])


def test_memory_bound_latency_follows_port_width():
    layer = conv_layer(28, 28, 64, 64, 1, 1)
    narrow = get_cost_model("fpga", port_in_bits=8, port_weight_bits=8).estimate([layer])
    wide = get_cost_model("fpga", port_in_bits=64, port_weight_bits=64).estimate([layer])
    assert narrow["latency_cycles"] > wide["latency_cycles"]


def test_resources_dsp_and_lut_multipliers():
    layer = [conv_layer(16, 16, 16, 16, 3, multiplier=EXACT)]
    dsp = get_cost_model("fpga", tm=8, tn=4).estimate(layer)
    assert dsp["dsps"] == 32
    lut = get_cost_model("fpga", tm=8, tn=4, exact_on_dsp=False).estimate(layer)
    assert lut["dsps"] == 0
    # EXACT has no LUT figure: EvoApproxLib's exact circuit's (120, yosys synth_xilinx)
    assert lut["luts"] - dsp["luts"] == pytest.approx(32 * 120)
    half = get_cost_model("fpga", tm=8, tn=4).estimate([conv_layer(16, 16, 16, 16, 3,
                                                                    multiplier=HALF)])
    assert half["dsps"] == 0
    assert half["luts"] - dsp["luts"] == pytest.approx(32 * 60)
    own = FakeMultiplier("own", 0.1, 100.0, luts=17)
    mine = get_cost_model("fpga", tm=8, tn=4).estimate([conv_layer(16, 16, 16, 16, 3,
                                                                    multiplier=own)])
    assert mine["luts"] - dsp["luts"] == pytest.approx(32 * 17)
    assert half["latency_cycles"] == dsp["latency_cycles"]


def test_bigger_engine_and_layer_directions():
    net = [conv_layer(28, 28, 32, 64, 3)]
    small = get_cost_model("fpga", tm=8, tn=4).estimate(net)
    big = get_cost_model("fpga", tm=16, tn=8).estimate(net)
    assert big["dsps"] > small["dsps"] and big["luts"] > small["luts"]
    assert big["latency_cycles"] < small["latency_cycles"]
    bigger_layer = get_cost_model("fpga", tm=8, tn=4).estimate([conv_layer(28, 28, 64, 64, 3)])
    assert bigger_layer["latency_cycles"] > small["latency_cycles"]
    assert get_cost_model("fpga", tm=64, tn=16).estimate(net)["fits"] == 0.0  # 1024 > 220 DSPs


def test_brams_grow_with_tiles_and_dense_works():
    net = [conv_layer(56, 56, 32, 32, 3), dense_layer(1024, 10)]
    a = get_cost_model("fpga", tr=7, tc=7).estimate(net)
    b = get_cost_model("fpga", tr=28, tc=28).estimate(net)
    assert b["brams"] > a["brams"]


def test_fpga_config_errors():
    with pytest.raises(UserError, match="device"):
        get_cost_model("fpga", device="xc7z999")
    with pytest.raises(UserError, match="mode"):
        get_cost_model("fpga", mode="magic")
    with pytest.raises(UserError, match="options_tm"):
        get_cost_model("fpga", options_tm=[0, 2])
    with pytest.raises(UserError, match="fits"):
        get_cost_model("fpga", "zynq7020-partition", options_tm=[64], options_tn=[64],
                       control_luts=60000).estimate([conv_layer(8, 8, 64, 64, 3)])
