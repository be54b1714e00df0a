"""8xN multipliers on the cost models (docs/hardware.md, "Operand widths"): N-bit weight
traffic and buffers, DSP packing of narrow exact multipliers, area-derived LUTs of circuits
without a LUT figure; every figure against a hand computation from the layer shapes."""

import math
from dataclasses import dataclass
from fractions import Fraction

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware import layers as L
from evoapproxnas.hardware.asic_mapping import map_layer
from evoapproxnas.multipliers import load_library

from .helpers import FakeMultiplier

LIB = load_library("evoapproxlib8xNu")
EXACT_8X = {n: LIB[name] for n, name in ((2, "mul8x2u_106"), (3, "mul8x3u_0KE"),
                                          (4, "mul8x4u_2UU"), (5, "mul8x5u_4E8"),
                                          (6, "mul8x6u_049"), (7, "mul8x7u_0V5"),
                                          (8, "mul8u_1JFF"))}
#: Products per DSP48 of an exact 8xN multiplier, worked out by hand: two products a*w1, a*w2
#: share the 8-bit activation when w1 + w2 * 2**(8+N) fits the 17 unsigned bits of the 18-bit
#: B port: 8x2 needs 2+10 = 12 bits, 8x3 14, 8x4 16 (pack 2); 8x5 needs 18 (no); a third 8x2
#: product would need 2+2*10 = 22 bits (no).
PACKED = {2: 2, 3: 2, 4: 2, 5: 1, 6: 1, 7: 1, 8: 1}


@dataclass(frozen=True)
class Sized(FakeMultiplier):
    """A stand-in multiplier with a weight width (figures fixed, only N varies)."""

    weight_bits: int = 8


def test_layer_weight_width_comes_from_its_multiplier():
    assert [conv_layer(8, 8, 4, 4, 3, multiplier=m).weight_bits for m in EXACT_8X.values()] \
        == list(EXACT_8X)
    assert conv_layer(8, 8, 4, 4, 3).weight_bits == 8  # None: the exact 8x8
    assert conv_layer(8, 8, 4, 4, 3, multiplier=FakeMultiplier("x")).weight_bits == 8
    four = conv_layer(8, 8, 4, 4, 3, multiplier=EXACT_8X[4])
    assert L.stored_weight_bits(four, 8) == 4 and L.stored_weight_bits(four, 32) == 4
    assert L.stored_weight_bits(four, 2) == 2
    assert L.stored_weight_bits(conv_layer(8, 8, 4, 4, 3), 32) == 32  # XFER's 32-bit words


@pytest.mark.parametrize("n", range(2, 9))
def test_fpga_weight_transfers_and_buffers_are_n_bit(n):
    """A weight-bound layer (1x1 input, large kernel count): t_w counts N-bit weights; the
    weight banks hold R*S N-bit words (LUTRAM: 2 x banks x ceil(bits / 64) LUTs)."""
    tm, tn, port = 8, 4, 64
    cfg = {"tm": tm, "tn": tn, "exact_on_dsp": True, "port_weight_bits": port}
    layer = conv_layer(3, 3, 64, 64, 3, padding="valid", multiplier=Sized("w", 0.1, 100.0,
                                                                           weight_bits=n))
    eight = conv_layer(3, 3, 64, 64, 3, padding="valid", multiplier=Sized("w", 0.1, 100.0))
    model = get_cost_model("fpga", "zynq7020", **cfg)
    got, ref = model.estimate([layer]), model.estimate([eight])
    # by hand: P = Q = 1 output, so per (M/tm, C/tn) tile t_comp = 9, t_in = ceil(4*9*8/64)
    t_w = math.ceil(tm * tn * 9 * n / port)
    t_in, t_out = math.ceil(tn * 9 * 8 / 64), math.ceil(tm * 8 / 64)
    tiles = (64 // tm) * (64 // tn)
    cycles = (64 // tm) * max((64 // tn) * max(9, t_in, t_w), t_out) + t_in + t_w + t_out
    assert got["latency_cycles"] == cycles
    assert tiles == 128 and (n == 8) == (got["latency_cycles"] == ref["latency_cycles"])
    weight_bank_luts = 2 * tm * tn * math.ceil(9 * n / 64)
    assert ref["luts"] - got["luts"] == pytest.approx(2 * tm * tn * math.ceil(72 / 64)
                                                      - weight_bank_luts)


@pytest.mark.parametrize("n", range(2, 9))
def test_exact_narrow_multipliers_pack_on_dsps(n):
    tm, tn = 16, 8
    net = [conv_layer(14, 14, 8, 16, 3, multiplier=EXACT_8X[n]),
           dense_layer(14 * 14 * 16, 10, multiplier=EXACT_8X[n])]
    dsps = get_cost_model("fpga", "zynq7020").estimate(net)["dsps"]
    assert dsps == math.ceil(tm * tn / PACKED[n])
    # mixed with the exact 8x8 (one bank each, sized by the MACs)
    mixed = [net[0], dense_layer(14 * 14 * 16, 10, multiplier=EXACT_8X[8])]
    macs = [14 * 14 * 9 * 8 * 16, 14 * 14 * 16 * 10]
    want = math.ceil(Fraction(tm * tn) * (Fraction(macs[0], PACKED[n]) + macs[1])
                     / sum(macs))
    assert get_cost_model("fpga", "zynq7020").estimate(mixed)["dsps"] == want
    # no packing where the device has no room for it, or when it is switched off
    assert get_cost_model("fpga", "cyclone4").estimate(net)["dsps"] == 16 * 16
    assert get_cost_model("fpga", "zynq7020", dsp_pack_bits=0).estimate(net)["dsps"] == tm * tn
    # a DSP packs products of one activation: the engine's Tm output channels share it
    assert get_cost_model("fpga", "zynq7020", tm=1, tn=8).estimate(net)["dsps"] == 8


def test_wider_packing_port_packs_more_and_bad_settings_are_refused():
    net = [conv_layer(8, 8, 4, 16, 3, multiplier=EXACT_8X[2])]
    # 27 bits (a DSP48E2 A port, unsigned 26): three 8x2 products need 2 + 2*10 = 22 bits
    assert get_cost_model("fpga", "zynq7020", dsp_pack_bits=26).estimate(net)["dsps"] \
        == math.ceil(128 / 3)
    with pytest.raises(UserError, match="dsp_pack_bits"):
        get_cost_model("fpga", "zynq7020", dsp_pack_bits=-1)


def test_circuits_without_a_lut_figure_are_priced_by_their_area():
    """The 8xN circuits have no LUT figure: LUTs = the library's exact 8x8 LUTs (mul8u_1JFF, 120,
    yosys) x their area / its area (709.6 um2)."""
    exact = LIB.exact
    assert exact.luts == 120 and exact.area_um2 == pytest.approx(709.6)
    layer = [conv_layer(16, 16, 16, 16, 3, multiplier=exact)]
    base = get_cost_model("fpga", "zynq7020-lut").estimate(layer)
    for name in ("mul8x4u_2UU", "mul8x4u_3Y3", "mul8x6u_4RX", "mul8x2u_0M1"):
        mult = LIB[name]
        assert mult.luts is None
        assert L.luts(mult) == pytest.approx(120 * mult.area_um2 / 709.6)
        got = get_cost_model("fpga", "zynq7020-lut").estimate(
            [conv_layer(16, 16, 16, 16, 3, multiplier=mult)])
        # the multiplier bank's LUTs, and the 3x3 weight banks: ceil(9N / 64) vs 2 LUTRAM LUTs
        n_mult, banks = 8 * 8, 8 * 8
        bank = 2 * banks * (math.ceil(9 * mult.weight_bits / 64) - math.ceil(72 / 64))
        assert got["luts"] - base["luts"] == pytest.approx(n_mult * (L.luts(mult) - 120) + bank)


def test_narrow_exact_multipliers_never_cost_more_than_the_exact_8x8():
    shapes = [(28, 28, 1, 16, 3, 1), (28, 28, 16, 32, 3, 2), (14, 14, 32, 32, 3, 2)]
    models = [get_cost_model("fpga", p) for p in ("zynq7020", "zynq7020-lut", "cyclone4")]
    models += [get_cost_model("asic", p) for p in ("eyeriss-45nm", "edge-8x8-ws")]
    previous = None
    for n in range(8, 1, -1):
        m = EXACT_8X[n]
        net = [conv_layer(h, w, ci, co, k, s, multiplier=m) for h, w, ci, co, k, s in shapes]
        net.append(dense_layer(7 * 7 * 32, 10, multiplier=m))
        costs = [model.estimate(net) for model in models]
        if previous is not None:
            for model, now, before in zip(models, costs, previous, strict=True):
                keys = ("luts", "dsps", "brams", "latency_cycles") if model.name == "fpga" \
                    else ("energy_pj", "latency_cycles", "area_um2")
                for key in keys:
                    assert now[key] <= before[key], (model.name, n, key)
        previous = costs


def test_asic_maps_narrow_layers_with_n_bit_weights():
    """Same multiplier figures, weights 8 vs 4 bits: the layer is mapped with 4-bit weights
    (the mapping of asic_mapping with weight_bits = 4), the area is unchanged, and without
    the multiply energy (equal here) the 4-bit layer costs less."""
    model = get_cost_model("asic", "eyeriss-45nm")
    eight = Sized("m", 0.2, 400.0)
    four = Sized("m", 0.2, 400.0, weight_bits=4)
    a = conv_layer(28, 28, 16, 32, 3, multiplier=eight)
    b = conv_layer(28, 28, 16, 32, 3, multiplier=four)
    assert model.layer_config(a) is model.config
    assert model.layer_config(b)["weight_bits"] == 4
    tech = dict(model.config["tech"], glb_read_pj=model._tech["glb_read_pj"],
                glb_write_pj=model._tech["glb_write_pj"])
    want = map_layer(b.dims, b.strides, dict(model.config, weight_bits=4), tech)
    got = model.layer_costs([b])[0]
    assert got["mapping"] == want.mapping and got["cycles"] == want.cycles
    ca, cb = model.estimate([a]), model.estimate([b])
    assert cb["area_um2"] == ca["area_um2"]
    assert cb["energy_pj"] < ca["energy_pj"]
    assert model.best_mapping(b) == want.nest
    spad = {lv["name"]: lv for lv in model.hierarchy(b)}["weights_spad"]
    assert spad["word_bits"] == 4 and spad["block_size"] == 4  # 16-bit RF word / 4 bits


def test_8x8_results_do_not_depend_on_a_weight_bits_attribute():
    model = get_cost_model("asic", "timeloop-eyeriss-like")
    fpga = get_cost_model("fpga", "zynq7020")
    plain = [conv_layer(14, 14, 8, 16, 3, multiplier=FakeMultiplier("m", 0.2, 400.0))]
    sized = [conv_layer(14, 14, 8, 16, 3, multiplier=Sized("m", 0.2, 400.0))]
    assert model.estimate(plain) == model.estimate(sized)
    assert fpga.estimate(plain) == fpga.estimate(sized)
