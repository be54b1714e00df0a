import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware.asic_mapping import RELEVANT, footprint, refetch
from evoapproxnas.hardware.timeloop import read_stats

from .helpers import EXACT, HALF

TIMELOOP_EYERISS = Path(__file__).resolve().parents[1] / "data" / "timeloop" / "eyeriss_like"


def test_fast_estimate_against_timeloop_eyeriss_like():
    """The fast path (its own mapper and access counting) against Timeloop's result for the
    eyeriss-like example (tests/data/timeloop; the exact mapping evaluation is checked in
    test_timeloop.py)."""
    ref = read_stats(TIMELOOP_EYERISS)
    model = get_cost_model("asic", "timeloop-eyeriss-like")
    layer = conv_layer(224, 224, 3, 32, 3, 2)
    metrics = model.estimate([layer])
    assert layer.macs == ref["macs"] == 10_838_016
    assert metrics["latency_cycles"] == ref["cycles"]  # 86,016: 126 of 168 PEs, as Timeloop
    assert metrics["utilization"] == pytest.approx(0.75)
    assert metrics["energy_pj"] == pytest.approx(ref["energy_pj"], rel=0.05)  # +3.4 %
    ours = model.breakdown([layer])
    theirs = ref["energy_by_level_pj"]
    for mine, timeloop in (("dram", "DRAM"), ("weights_spad", "weights_spad"), ("mac", "mac")):
        assert ours[mine] == pytest.approx(theirs[timeloop], rel=0.05), mine
    top2 = sorted(ours, key=ours.get, reverse=True)[:2]
    assert top2 == ["dram", "weights_spad"]
    assert sorted(theirs, key=theirs.get, reverse=True)[:2] == ["DRAM", "weights_spad"]


def test_refetch_matches_loop_simulation():
    rng = np.random.default_rng(0)
    dims = "GMCPQRS"
    for _ in range(60):
        picked = rng.choice(list(dims), size=rng.integers(1, 5), replace=False)
        loops = [(d, int(rng.integers(1, 4))) for d in picked]
        for dtype, rel in RELEVANT.items():
            idx = [i for i, (d, _) in enumerate(loops) if d in rel]
            fetches, last, seen = 0, None, set()
            for it in itertools.product(*(range(b) for _, b in loops)):
                tile = tuple(it[i] for i in idx)
                fetches += tile != last
                last = tile
                seen.add(tile)
            assert refetch(dtype, loops) == (fetches, len(seen)), (dtype, loops)


def test_input_footprint_matches_enumeration():
    rng = np.random.default_rng(1)
    for _ in range(40):
        t = {d: int(rng.integers(1, 5)) for d in "GMCPQRS"}
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        rows = {p * stride[0] + r for p in range(t["P"]) for r in range(t["R"])}
        cols = {q * stride[1] + s for q in range(t["Q"]) for s in range(t["S"])}
        if stride[0] > t["R"] or stride[1] > t["S"]:
            continue  # gaps between windows: the dense halo formula is an upper bound
        assert footprint("inputs", t, stride) == t["G"] * t["C"] * len(rows) * len(cols)
        assert footprint("weights", t, stride) == t["G"] * t["M"] * t["C"] * t["R"] * t["S"]


@pytest.mark.parametrize("preset", ["eyeriss-45nm", "timeloop-eyeriss-like", "edge-8x8-ws",
                                    "server-32x32-os"])
@pytest.mark.parametrize("dataflow", ["rs", "ws", "os"])
def test_dram_traffic_at_least_compulsory(preset, dataflow):
    model = get_cost_model("asic", preset, dataflow=dataflow)
    tech = model._tech
    for layer in (conv_layer(28, 28, 16, 32, 3, 1), conv_layer(14, 14, 64, 64, 3, 2, groups=64),
                  conv_layer(56, 56, 64, 128, 1, 1), dense_layer(512, 100)):
        d = layer.dims
        p, q = d["P"], d["Q"]
        compulsory_bits = 8 * (layer.weights + layer.output_shape[2] * p * q
                               + d["G"] * d["C"] * min(layer.input_shape[0], p * layer.strides[0])
                               * min(layer.input_shape[1], q * layer.strides[1]))
        cost = model.layer_costs([layer])[0]
        dram_bits = cost["energy_pj"]["dram"] / tech["dram_pj"] * tech["dram_word_bits"]
        assert dram_bits >= 0.99 * compulsory_bits
        assert cost["cycles"] * cost["pes_used"] >= layer.macs
        assert cost["pes_used"] <= model.config["pe_x"] * model.config["pe_y"]


@pytest.mark.parametrize("dataflow", ["rs", "ws", "os"])
def test_cheaper_multiplier_lowers_energy_and_area(dataflow):
    model = get_cost_model("asic", dataflow=dataflow)
    net = [conv_layer(32, 32, 16, 32, 3, 1), dense_layer(2048, 10)]
    exact = model.estimate([conv_layer(32, 32, 16, 32, 3, 1, multiplier=EXACT),
                            dense_layer(2048, 10, multiplier=EXACT)])
    half = model.estimate([conv_layer(32, 32, 16, 32, 3, 1, multiplier=HALF),
                           dense_layer(2048, 10, multiplier=HALF)])
    none = model.estimate(net)
    assert none["energy_pj"] == pytest.approx(exact["energy_pj"])
    saved = exact["energy_pj"] - half["energy_pj"]
    macs = exact["macs"]
    assert saved == pytest.approx(macs * model.config["tech"]["mult_pj"] * 0.5)
    assert half["area_um2"] < exact["area_um2"]
    assert half["edap"] < exact["edap"]
    assert half["latency_cycles"] == exact["latency_cycles"]


@pytest.mark.parametrize("dataflow", ["rs", "ws", "os"])
def test_bigger_layer_costs_more(dataflow):
    model = get_cost_model("asic", dataflow=dataflow)
    small = model.estimate([conv_layer(16, 16, 16, 16, 3, 1)])
    for big in (conv_layer(32, 32, 16, 16, 3, 1), conv_layer(16, 16, 32, 16, 3, 1),
                conv_layer(16, 16, 16, 64, 3, 1), conv_layer(16, 16, 16, 16, 5, 1)):
        m = model.estimate([big])
        assert m["energy_pj"] > small["energy_pj"]
        assert m["latency_cycles"] > small["latency_cycles"]
        assert m["fps"] < small["fps"]


def test_bigger_buffer_costs_area_and_config_errors():
    small = get_cost_model("asic", glb_kib=32.0).estimate([conv_layer(8, 8, 8, 8, 3)])
    big = get_cost_model("asic", glb_kib=256.0).estimate([conv_layer(8, 8, 8, 8, 3)])
    assert big["area_um2"] > small["area_um2"]
    with pytest.raises(UserError, match="dataflow"):
        get_cost_model("asic", dataflow="xs")
    with pytest.raises(UserError, match="pe_xx"):
        get_cost_model("asic", pe_xx=3)
    with pytest.raises(UserError, match="must be a int"):
        get_cost_model("asic", pe_x="wide")
    with pytest.raises(UserError, match="positive"):
        get_cost_model("asic", pe_x=0)
    with pytest.raises(UserError, match="preset"):
        get_cost_model("asic", "eyeris")
    with pytest.raises(UserError, match="cost model"):
        get_cost_model("gpu")
    with pytest.raises(UserError, match="no multiplying layers"):
        get_cost_model("asic").estimate([])


def test_nested_override_and_toml_preset(tmp_path):
    layer = conv_layer(16, 16, 8, 8, 3)
    base = get_cost_model("asic", "timeloop-eyeriss-like")
    cheap = get_cost_model("asic", "timeloop-eyeriss-like", tech__dram_pj=256.0)
    e0 = base.breakdown([layer])["dram"]
    assert cheap.breakdown([layer])["dram"] == pytest.approx(e0 / 2)
    path = tmp_path / "mine.toml"
    path.write_text('preset = "timeloop-eyeriss-like"\npe_x = 7\n[tech]\ndram_pj = 256.0\n')
    from_file = get_cost_model("asic", str(path))
    assert from_file.config["pe_x"] == 7
    assert from_file.config["tech"]["dram_pj"] == 256.0
    assert math.isclose(from_file.config["tech"]["mult_pj"], 0.2077)
    path.write_text('preset = "timeloop-eyeriss-like"\n[tech]\ndram_energy = 1.0\n')
    with pytest.raises(UserError, match="dram_energy"):
        get_cost_model("asic", str(path))
