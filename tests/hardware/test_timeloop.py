"""The ASIC model's exact mapping evaluation against Timeloop + Accelergy reference outputs.

The references (tests/data/timeloop, MIT License) are Timeloop's own results for four example
accelerators on one layer: given Timeloop's mapping, architecture and energy table, the model
must reproduce Timeloop's per-level scalar counts and cycles exactly and its energies.
"""

from pathlib import Path

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, get_cost_model
from evoapproxnas.hardware.asic_nest import DATASPACES, LevelMapping, Mapping
from evoapproxnas.hardware.timeloop import read_reference, read_stats

from .helpers import HALF

DATA = Path(__file__).resolve().parents[1] / "data" / "timeloop"
DESIGNS = ("simple_weight_stationary", "simple_output_stationary", "eyeriss_like",
           "simba_like")


@pytest.fixture(scope="module", params=DESIGNS)
def design(request):
    folder = DATA / request.param
    config, layer, mapping = read_reference(folder)
    model = get_cost_model("asic", **config)
    return request.param, model, layer, mapping, read_stats(folder)


def test_reference_layer_and_stats():
    config, layer, mapping = read_reference(DATA / "eyeriss_like")
    assert layer.dims == {"G": 1, "M": 32, "C": 3, "P": 112, "Q": 112, "R": 3, "S": 3}
    assert layer.strides == (2, 2)
    assert mapping.levels[0].target == "DRAM"
    assert [lv["name"] for lv in config["hierarchy"]][-1] == "mac"
    ref = read_stats(DATA / "eyeriss_like")
    assert (ref["cycles"], ref["macs"]) == (86_016, 10_838_016)
    assert ref["energy_pj"] / 1e6 == pytest.approx(59.28, abs=0.005)  # "Energy: 59.28 uJ"


def test_counts_cycles_and_energy_match_timeloop(design):
    name, model, layer, mapping, ref = design
    ours = model.estimate_mapping(layer, mapping)
    assert ours["macs"] == ref["macs"] == layer.macs
    assert ours["cycles"] == ref["cycles"]
    # every level Timeloop reports, every dataspace it keeps: per-instance scalar counts
    assert set(ours["accesses"]) == set(ref["accesses"])
    for level, per_ds in ref["accesses"].items():
        for ds, counts in per_ds.items():
            assert ours["accesses"][level][ds] == counts, (name, level, ds)
        assert ours["instances"][level] == ref["instances"][level], (name, level)
    # energies: the issue asks for 2 % in total and 5 % per level; the model is exact to
    # the printed digits, so hold it to 0.01 %
    assert ours["energy_pj"] == pytest.approx(ref["energy_pj"], rel=1e-4)
    for level, pj in ref["energy_by_level_pj"].items():
        assert ours["energy_by_level_pj"][level] == pytest.approx(pj, rel=1e-4), (name, level)


def test_our_mapper_on_eyeriss_like_is_within_10_percent_of_timeloop_edp():
    config, layer, _ = read_reference(DATA / "eyeriss_like")
    ref = read_stats(DATA / "eyeriss_like")
    model = get_cost_model("asic", **config)
    found = model.estimate_mapping(layer, model.best_mapping(layer))
    timeloop_edp = ref["energy_pj"] * ref["cycles"]
    # measured: 86,016 cycles, 56.26 uJ, EDP 0.95 x Timeloop's
    assert found["edp"] <= 1.10 * timeloop_edp
    assert found["cycles"] == ref["cycles"]


def test_fast_estimate_close_to_exact_evaluation_of_its_mapping():
    model = get_cost_model("asic", "timeloop-eyeriss-like")
    layer = conv_layer(224, 224, 3, 32, 3, 2)
    fast = model.estimate([layer])
    exact = model.estimate_mapping(layer, model.best_mapping(layer))
    assert fast["latency_cycles"] == exact["cycles"]
    assert fast["energy_pj"] == pytest.approx(exact["energy_pj"], rel=0.15)


def test_template_hierarchy_counts_are_consistent():
    model = get_cost_model("asic", "eyeriss-45nm", perfect_factorization=True)
    for layer in (conv_layer(28, 28, 16, 32, 3, 1), conv_layer(14, 14, 64, 64, 3, 2, groups=64),
                  conv_layer(16, 16, 8, 8, 1, 1)):
        r = model.estimate_mapping(layer, model.best_mapping(layer))
        d = layer.dims
        dram = r["accesses"]["DRAM"]
        assert dram["Weights"]["reads"] >= layer.weights
        assert dram["Outputs"]["updates"] >= d["G"] * d["M"] * d["P"] * d["Q"]
        psum = r["accesses"]["psum_spad"]["Outputs"]
        assert psum["updates"] * r["instances"]["psum_spad"] == layer.macs
        assert r["cycles"] * model.config["pe_x"] * model.config["pe_y"] >= layer.macs


def test_mac_energy_scales_with_the_multiplier():
    model = get_cost_model("asic", "timeloop-eyeriss-like")
    layer = conv_layer(16, 16, 8, 8, 3)
    mapping = model.best_mapping(layer)
    exact = model.estimate_mapping(layer, mapping)
    half = model.estimate_mapping(conv_layer(16, 16, 8, 8, 3, multiplier=HALF), mapping)
    assert half["energy_by_level_pj"]["mac"] == pytest.approx(
        exact["energy_by_level_pj"]["mac"] * 0.5)
    assert half["accesses"] == exact["accesses"]


def test_bad_inputs_raise_user_errors(tmp_path):
    with pytest.raises(UserError, match="not a Timeloop output folder"):
        read_reference(tmp_path)
    config, layer, mapping = read_reference(DATA / "eyeriss_like")
    model = get_cost_model("asic", **config)
    levels = list(mapping.levels)
    dram = levels[0]
    imperfect = LevelMapping(dram.target, (("M", 3),) + dram.temporal[1:], (), dram.keep)
    with pytest.raises(UserError, match="factorise"):
        model.estimate_mapping(layer, Mapping((imperfect, *levels[1:])))
    # everything in the psum spad: far more than its 16 words
    psum = LevelMapping("psum_spad", (("M", 32), ("P", 112), ("Q", 112), ("C", 3), ("R", 3),
                                      ("S", 3)), (), frozenset({"Outputs"}))
    flat = [LevelMapping(lv.target, (), (), lv.keep) for lv in levels[:-1]] + [psum]
    with pytest.raises(UserError, match="holds 16"):
        model.estimate_mapping(layer, Mapping(tuple(flat)))
    nothing = [LevelMapping(lv.target, lv.temporal, lv.spatial, lv.keep - {"Weights"})
               for lv in levels]
    with pytest.raises(UserError, match="keeps Weights"):
        model.estimate_mapping(layer, Mapping(tuple(nothing)))
    with pytest.raises(UserError, match="lacks"):
        model.estimate_mapping(layer, Mapping((LevelMapping("L3_cache"),)))
    with pytest.raises(UserError, match="hierarchy"):
        get_cost_model("asic", hierarchy=[{"name": "x"}])
    (tmp_path / "timeloop-mapper.stats.txt").write_text("nothing here\n")
    with pytest.raises(UserError, match="Summary Stats"):
        read_stats(tmp_path)


def test_mapping_text_lists_the_nest():
    _, _, mapping = read_reference(DATA / "eyeriss_like")
    text = mapping.text()
    assert "for Q in [0:14) (Spatial-X)" in text
    assert text.index("DRAM") < text.index("shared_glb") < text.index("psum_spad")
    assert set(DATASPACES) == {"Weights", "Inputs", "Outputs"}
