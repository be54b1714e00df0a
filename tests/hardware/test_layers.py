import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import (
    conv_layer,
    dense_layer,
    layers_from_graph,
    layers_from_records,
)
from evoapproxnas.hardware import layers as L

from .helpers import EXACT, HALF, FakeMultiplier


def _macs_numpy(h, w, cin, cout, k, s, groups, padding):
    """Count MACs by building the index grid of a direct convolution."""
    if padding == "same":
        p, q = -(-h // s), -(-w // s)
    else:
        p, q = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((p, q, cout), dtype=np.int64)
    out += (cin // groups) * k * k
    return int(out.sum())


@pytest.mark.parametrize("h,w,cin,cout,k,s,groups,padding", [
    (224, 224, 3, 32, 3, 2, 1, "same"),
    (17, 13, 8, 16, 5, 1, 1, "valid"),
    (16, 16, 32, 32, 3, 2, 32, "same"),
    (9, 9, 12, 24, 3, 3, 4, "valid"),
])
def test_conv_shapes_and_macs(h, w, cin, cout, k, s, groups, padding):
    layer = conv_layer(h, w, cin, cout, k, s, padding, groups)
    assert layer.macs == _macs_numpy(h, w, cin, cout, k, s, groups, padding)
    assert layer.weights == cout * (cin // groups) * k * k
    assert layer.dims["G"] == groups


def test_timeloop_layer_dims():
    layer = conv_layer(224, 224, 3, 32, 3, 2)
    assert layer.output_shape == (112, 112, 32)
    assert layer.macs == 10_838_016


def test_dense_and_errors():
    d = dense_layer(128, 10)
    assert d.macs == 1280 and d.kind == "dense"
    with pytest.raises(UserError, match="groups"):
        conv_layer(8, 8, 6, 4, 3, groups=4)
    with pytest.raises(UserError, match="padding"):
        conv_layer(8, 8, 6, 4, 3, padding="full")
    with pytest.raises(UserError, match="does not fit"):
        conv_layer(2, 2, 6, 4, 3, padding="valid")


def test_records_resolve_genes_and_check_shapes():
    recs = [
        {"kind": "conv2d", "input_shape": (8, 8, 3), "output_shape": (8, 8, 16),
         "kernel": (3, 3), "strides": (1, 1), "padding": "same", "filters": 16, "groups": 1,
         "multiplier": 0, "name": "n1/conv"},
        {"kind": "depthwise_conv2d", "input_shape": (8, 8, 16), "output_shape": (4, 4, 16),
         "kernel": (3, 3), "strides": (2, 2), "padding": "same", "filters": 16, "groups": 16,
         "multiplier": None, "name": "n2/dw"},
        {"kind": "dense", "input_shape": (1, 1, 256), "output_shape": (10,), "filters": 10,
         "multiplier": 1, "name": "head"},
    ]
    layers = layers_from_records(recs, [HALF, EXACT], exact=EXACT)
    assert [x.multiplier for x in layers] == [HALF, EXACT, EXACT]
    assert layers[1].groups == 16 and layers[1].macs == 4 * 4 * 16 * 9
    bad = dict(recs[0], output_shape=(7, 7, 16))
    with pytest.raises(UserError, match="does not match"):
        layers_from_records([bad], [HALF])
    with pytest.raises(UserError, match="gene 5"):
        layers_from_records([dict(recs[0], multiplier=5)], [HALF])


def test_multiplier_fallbacks():
    assert L.power_ratio(None) == 1.0
    assert L.power_ratio(HALF) == pytest.approx(0.5)
    area_only = FakeMultiplier("a", None, 177.4)
    assert L.power_ratio(area_only) == pytest.approx(0.25)
    assert L.power_ratio(FakeMultiplier("none")) == 1.0
    signed = FakeMultiplier("s", 0.2125, None, signed=True)
    assert L.power_ratio(signed) == pytest.approx(0.5)
    assert L.area_um2(signed) == pytest.approx(729.8 / 2)
    # no LUT figure: the reference exact multiplier's (EvoApproxLib's, yosys: 120 LUTs)
    assert L.luts(None) == 120.0
    assert L.luts(HALF) == pytest.approx(60.0)
    assert L.luts(FakeMultiplier("l", 0.1, 100.0, luts=12)) == 12.0


def test_layers_from_real_decoded_genome():
    from evoapproxnas import cgp
    from evoapproxnas.multipliers import load_library

    lib = load_library("evoapproxlib8u")
    allowed = [lib["mul8u_12N4"], lib["mul8u_125K"]]
    spec = cgp.CGPSpec(n_multipliers=len(allowed))
    rng = np.random.default_rng(3)
    graph = cgp.decode(cgp.random_genome(spec, rng), spec, (28, 28, 1), 10)
    layers = layers_from_graph(graph, allowed, exact=lib.exact)
    records = cgp.multiply_layers(graph)
    assert len(layers) == len(records) > 0
    for layer, rec in zip(layers, records):
        assert layer.macs == rec["multiplications"]
        want = lib.exact if rec["multiplier"] is None else allowed[rec["multiplier"]]
        assert layer.multiplier is want


def test_figures_are_relative_to_the_exact_multiplier_of_the_own_library():
    from evoapproxnas.multipliers import Multiplier, load_library

    arith = load_library("arithsgen8u")
    exact = arith.exact  # u_arrmul: 0.391 mW, 358.55 um2 (EvoApproxLib's: 709.6), 124 LUTs
    assert exact.name == "u_arrmul" and exact.area_um2 != 709.6
    tm = arith["u_tm_c3"]
    assert L.power_ratio(tm) == pytest.approx(tm.power_mw / exact.power_mw)
    assert L.luts(tm) == tm.luts and L.area_um2(tm) == tm.area_um2
    bare = Multiplier.from_table("bare", tm.lut, False, power_mw=0.136, library="arithsgen8u")
    assert L.area_um2(bare) == pytest.approx(358.55 * 0.136 / 0.391)
    assert L.luts(bare) == pytest.approx(124 * 0.136 / 0.391)
    area_only = Multiplier.from_table("a", tm.lut, False, area_um2=358.55 / 2,
                                      library="arithsgen8u")
    assert L.power_ratio(area_only) == pytest.approx(0.5)
    assert L.luts(area_only) == pytest.approx(62.0)
    # the same figures without a library: EvoApproxLib's exact multiplier and its 120 LUTs
    loose = Multiplier.from_table("a", tm.lut, False, area_um2=358.55 / 2)
    assert L.power_ratio(loose) == pytest.approx(358.55 / 2 / 709.6)
    assert L.luts(loose) == pytest.approx(120 * 358.55 / 2 / 709.6)


def test_gene_none_is_the_exact_multiplier_of_the_multipliers_library():
    from evoapproxnas.multipliers import MultiplierChoice, load_library

    arith = load_library("arithsgen8u")
    recs = [{"kind": "dense", "input_shape": (1, 1, 8), "filters": 4, "multiplier": None},
            {"kind": "dense", "input_shape": (1, 1, 8), "filters": 4, "multiplier": 1}]
    layers = layers_from_records(recs, [arith["u_tm_c3"], arith["u_tm_c1"]])
    assert [x.multiplier for x in layers] == [arith.exact, arith["u_tm_c1"]]
    whole = layers_from_records(recs, arith)
    assert whole[1].multiplier is list(arith)[1] and whole[0].multiplier is arith.exact
    choice = MultiplierChoice.from_library(arith, ["u_tm_c5", "u_tm_c4"])
    assert layers_from_records(recs, choice)[1].multiplier is arith["u_tm_c4"]
    assert layers_from_records(recs[:1])[0].multiplier.name == "mul8u_1JFF"
