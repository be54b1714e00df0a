"""Networks whose layers use different multipliers on one accelerator (docs/hardware.md,
"Networks that mix multipliers"): property tests over random mixes, each figure compared with
a hand computation written here from the layer shapes and the published rule."""

import math

import numpy as np
import pytest

from evoapproxnas.hardware import conv_layer, dense_layer, estimate_network, get_cost_model

from .helpers import FakeMultiplier

EXACT_POWER, EXACT_AREA = 0.391, 709.6  # mul8u_1JFF, the reference of library-less multipliers
EXACT = FakeMultiplier("exact", EXACT_POWER, EXACT_AREA, 80.0, is_exact=True)


def _pool(rng, n=4):
    """``n`` approximate multipliers, each cheaper than the previous in power, area and LUTs."""
    power = np.sort(rng.uniform(0.01, 0.38, n))[::-1]
    area = np.sort(rng.uniform(30.0, 700.0, n))[::-1]
    luts = np.sort(rng.uniform(5.0, 78.0, n))[::-1]
    return [FakeMultiplier(f"m{k}", float(p), float(a), float(lu))
            for k, (p, a, lu) in enumerate(zip(power, area, luts))]


def _shapes(rng):
    """A random chain: (h, w, c_in, c_out, kernel, stride, groups) per conv, then a dense."""
    h, c = int(rng.choice([8, 14, 28])), int(rng.choice([1, 3]))
    out = []
    for _ in range(int(rng.integers(2, 5))):
        k, s = int(rng.choice([1, 3, 5])), int(rng.choice([1, 2]))
        if c > 1 and rng.random() < 0.3:
            out.append((h, h, c, c, k, s, c))  # depthwise
        else:
            cout = int(rng.choice([4, 8, 16]))
            out.append((h, h, c, cout, k, s, 1))
            c = cout
        h = -(-h // s)
    return out, h * h * c


def _hand_macs(shape) -> int:
    h, w, cin, cout, k, s, g = shape
    return -(-h // s) * -(-w // s) * k * k * (cin // g) * cout


def _net(shapes, n_dense, mults):
    layers = [conv_layer(h, w, ci, co, k, s, groups=g, multiplier=m)
              for (h, w, ci, co, k, s, g), m in zip(shapes, mults)]
    return layers + [dense_layer(n_dense, 10, multiplier=mults[-1])]


def _macs(shapes, n_dense):
    return [_hand_macs(x) for x in shapes] + [n_dense * 10]


def _case(seed):
    rng = np.random.default_rng(seed)
    shapes, n_dense = _shapes(rng)
    pool = [EXACT, *_pool(rng)]
    mults = [pool[i] for i in rng.integers(0, len(pool), len(shapes) + 1)]
    return rng, shapes, n_dense, pool, mults


ASIC = get_cost_model("asic", "eyeriss-45nm")
FPGA_LUT = get_cost_model("fpga", "zynq7020-lut")
FPGA_DSP = get_cost_model("fpga", "zynq7020")


@pytest.mark.parametrize("seed", range(25))
def test_asic_area_and_energy_of_a_mix_by_hand(seed):
    _, shapes, n_dense, _, mults = _case(seed)
    macs = _macs(shapes, n_dense)
    mix = ASIC.estimate(_net(shapes, n_dense, mults))
    exact = ASIC.estimate(_net(shapes, n_dense, [EXACT] * len(mults)))
    c, t = ASIC.config, ASIC.config["tech"]
    # PEs form one bank per multiplier sized by its share of the MACs
    mean_area = sum(n * m.area_um2 for n, m in zip(macs, mults)) / sum(macs)
    rf_bits = (c["rf_ifmap_words"] * c["input_bits"] + c["rf_weights_words"] * c["weight_bits"]
               + c["rf_psum_words"] * c["psum_bits"])
    pe = (mean_area * t["mult_area_scale"] + t["adder_um2"] + t["pe_overhead_um2"]
          + rf_bits * t["rf_um2_per_bit"])
    assert mix["area_um2"] == pytest.approx(c["pe_x"] * c["pe_y"] * pe
                                            + c["glb_kib"] * 8192 * t["sram_um2_per_bit"])
    # energy falls by each layer's multiplier share: MACs x multiply energy x (1 - power ratio)
    saved = sum(n * t["mult_pj"] * (1 - m.power_mw / EXACT_POWER) for n, m in zip(macs, mults))
    assert exact["energy_pj"] - mix["energy_pj"] == pytest.approx(saved)
    assert mix["latency_cycles"] == exact["latency_cycles"]
    assert mix["macs"] == sum(macs)


@pytest.mark.parametrize("seed", range(25))
def test_fpga_luts_and_dsps_of_a_mix_by_hand(seed):
    rng, shapes, n_dense, _, mults = _case(seed)
    macs = _macs(shapes, n_dense)
    tm, tn = int(rng.choice([2, 4, 8, 16])), int(rng.choice([2, 4, 8]))
    n = tm * tn
    for model in (FPGA_LUT, FPGA_DSP):
        on_dsp = model.config["exact_on_dsp"]
        cfg = dict(model.config, tm=tm, tn=tn)
        mix = get_cost_model("fpga", **cfg).estimate(_net(shapes, n_dense, mults))
        # the same engine with multipliers that cost nothing: buffers, adders, control
        free = FakeMultiplier("free", 0.0, 0.0, 0.0)
        base = get_cost_model("fpga", **cfg).estimate(_net(shapes, n_dense, [free] * len(mults)))
        logic = [(k, m) for k, m in zip(macs, mults) if not (on_dsp and m.is_exact)]
        want = n * sum(k * m.luts for k, m in logic) / sum(macs)
        assert mix["luts"] - base["luts"] == pytest.approx(want)
        exact_macs = sum(k for k, m in zip(macs, mults) if on_dsp and m.is_exact)
        assert mix["dsps"] == math.ceil(n * exact_macs / sum(macs))
        assert mix["latency_cycles"] == base["latency_cycles"]


def _cheaper_switch(rng, pool, mults):
    """``(before, after, i)``: ``after`` is ``before`` with layer ``i`` switched to a strictly
    cheaper multiplier (``before`` is ``mults``, or all-dearest when every layer is at the
    cheapest already)."""
    order = {m.name: k for k, m in enumerate(pool)}  # pool is sorted: later = cheaper
    movable = [i for i, m in enumerate(mults) if order[m.name] < len(pool) - 1]
    if not movable:
        mults, movable = [pool[0]] * len(mults), list(range(len(mults)))
    i = int(rng.choice(movable))
    after = list(mults)
    after[i] = pool[int(rng.integers(order[mults[i].name] + 1, len(pool)))]
    return list(mults), after, i


@pytest.mark.parametrize("seed", range(40))
def test_a_cheaper_multiplier_never_raises_cost(seed):
    rng, shapes, n_dense, pool, mults = _case(seed)
    for _ in range(4):
        before, after, i = _cheaper_switch(rng, pool, mults)
        a, b = _net(shapes, n_dense, before), _net(shapes, n_dense, after)
        for key in ("area_um2", "energy_pj", "edap"):
            assert ASIC.estimate(b)[key] < ASIC.estimate(a)[key], key
        assert FPGA_LUT.estimate(b)["luts"] < FPGA_LUT.estimate(a)["luts"]
        dsp_a, dsp_b = FPGA_DSP.estimate(a), FPGA_DSP.estimate(b)
        assert dsp_b["dsps"] <= dsp_a["dsps"]
        if not before[i].is_exact:  # between approximate (logic) multipliers, LUTs fall too
            assert dsp_b["luts"] < dsp_a["luts"]
        mults = after


@pytest.mark.parametrize("seed", range(25))
def test_a_mix_of_two_multipliers_lies_between_the_uniform_networks(seed):
    rng, shapes, n_dense, pool, _ = _case(seed)
    hi, lo = sorted(rng.choice(len(pool), 2, replace=False))
    pick = rng.random(len(shapes) + 1) < 0.5
    mix = [pool[lo] if p else pool[hi] for p in pick]
    nets = [_net(shapes, n_dense, m) for m in ([pool[hi]] * len(mix), mix, [pool[lo]] * len(mix))]
    for model, keys in ((ASIC, ("area_um2", "energy_pj", "edap")),
                        (FPGA_LUT, ("luts",)), (FPGA_DSP, ("luts", "dsps"))):
        for key in keys:
            dear, mixed, cheap = (model.estimate(n)[key] for n in nets)
            low, high = min(dear, cheap), max(dear, cheap)
            assert low * (1 - 1e-12) <= mixed <= high * (1 + 1e-12), (model.name, key)


def test_the_exact_head_adds_only_its_share():
    """The issue's case: three convolutions approximate, the head exact. The exact head's bank
    holds its share of the MACs, no second array: cost stays close to the all-approximate
    network and well below the all-exact one."""
    half = FakeMultiplier("half", EXACT_POWER / 2, EXACT_AREA / 2, 40.0)
    shapes = [(28, 28, 1, 16, 3, 1, 1), (28, 28, 16, 32, 3, 2, 1), (14, 14, 32, 32, 3, 2, 1)]
    head_share = 32 * 10 / sum(_macs(shapes, 32))
    exact = _net(shapes, 32, [EXACT] * 4)
    mixed = _net(shapes, 32, [half, half, half, EXACT])
    approx = _net(shapes, 32, [half] * 4)
    for model, key in ((ASIC, "area_um2"), (FPGA_LUT, "luts")):
        e, m, a = (model.estimate(n)[key] for n in (exact, mixed, approx))
        assert a < m < e
        assert (m - a) / (e - a) == pytest.approx(head_share)  # linear in the MAC share
    assert head_share < 0.005


def test_library_multipliers_buy_cost_with_an_exact_head():
    """With the bundled EvoApproxLib figures (whatever their LUT source), switching the three
    convolutions to cheaper multipliers lowers ASIC area, EDAP and LUT-preset LUTs."""
    from evoapproxnas.multipliers import load_library

    lib = load_library("evoapproxlib8u")
    shapes = [(28, 28, 1, 16, 3, 1, 1), (28, 28, 16, 32, 3, 2, 1), (14, 14, 32, 32, 3, 2, 1)]
    exact = _net(shapes, 32, [lib.exact] * 4)
    previous = None
    for name in ("mul8u_NGR", "mul8u_17KS", "mul8u_JV3"):  # power 0.276, 0.104, 0.034 mW
        mult = lib[name]
        net = _net(shapes, 32, [mult, mult, mult, lib.exact])
        ratios = {key: model.estimate(net)[key] / model.estimate(exact)[key]
                  for model, key in ((ASIC, "area_um2"), (ASIC, "edap"), (ASIC, "energy_pj"),
                                     (FPGA_LUT, "luts"))}
        assert all(r < 1 for r in ratios.values()), (name, ratios)
        if previous is not None:
            assert ratios["area_um2"] < previous["area_um2"]
            assert ratios["energy_pj"] < previous["energy_pj"]
        previous = ratios


@pytest.mark.parametrize("seed", range(8))
def test_searched_designs_never_get_worse_with_cheaper_multipliers(seed):
    """With the hardware search every design available to the dearer network is available,
    cheaper, to the cheaper one: the searched optimum never gets worse."""
    rng, shapes, n_dense, pool, mults = _case(seed)
    before, after, _ = _cheaper_switch(rng, pool, mults)
    a, b = _net(shapes, n_dense, before), _net(shapes, n_dense, after)
    for model, preset, metric, better in (("asic", None, "edap", min),
                                          ("asic", None, "area_um2", min),
                                          ("fpga", "zynq7020-lut", "fps", max),
                                          ("fpga", "zynq7020-lut", "luts", min)):
        va = estimate_network(a, model, preset, search=True, search_metric=metric)[metric]
        vb = estimate_network(b, model, preset, search=True, search_metric=metric)[metric]
        assert better(va, vb) == vb or va == vb, (model, metric)
    part = get_cost_model("fpga", "zynq7020-partition")
    assert part.estimate(b)["fps"] >= part.estimate(a)["fps"]
