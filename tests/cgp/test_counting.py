import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    count_multiplications,
    count_params,
    decode,
    multiplication_power,
    multiply_layers,
    random_genome,
)

from .helpers import genome, node

SPEC = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3,
               choices={"conv2d": {"filters": [16]}, "basic_residual": {"filters": [32]}})


def residual_network():
    return decode(genome(SPEC, [
        node(SPEC, "conv2d", params=(1, 0, 0, 0, 1), multiplier=0),          # 3x3, 16, s1, bias
        node(SPEC, "basic_residual", (1, 0), params=(0, 0, 1, 0), multiplier=1),  # 3x3, 32, s2
        node(SPEC, "residual_inverted", (2, 0), params=(0, 2, 0), multiplier=2),  # 3x3, x2, s1
    ], output=3), SPEC, (8, 8, 1), 10)


def test_hand_counted_parameters_and_multiplications():
    graph = residual_network()
    assert graph.nodes["node1"]["output_shape"] == (4, 4, 32)
    assert graph.nodes["node2"]["output_shape"] == (4, 4, 32)
    conv = 3 * 3 * 1 * 16 + 16
    basic = (3 * 3 * 16 * 32 + 4 * 32) + (3 * 3 * 32 * 32 + 4 * 32) + (16 * 32 + 4 * 32)
    inverted = (32 * 64 + 4 * 64) + (3 * 3 * 64 + 4 * 64) + (64 * 32 + 4 * 32)
    head = 32 * 10 + 10
    assert count_params(graph) == conv + basic + inverted + head
    assert count_multiplications(graph) == {
        0: 8 * 8 * 9 * 1 * 16,
        1: 4 * 4 * 9 * 16 * 32 + 4 * 4 * 9 * 32 * 32 + 4 * 4 * 16 * 32,
        2: 4 * 4 * 32 * 64 + 4 * 4 * 9 * 64 + 4 * 4 * 64 * 32,
        None: 32 * 10,
    }


def test_bottleneck_and_preactivation_blocks():
    spec = CGPSpec(rows=1, columns=3, levels_back=3)
    graph = decode(genome(spec, [
        node(spec, "basic_residual", params=(1, 0, 0, 1), multiplier=0),     # 4x4, 32, s1, pre
        node(spec, "residual_bottleneck", (1, 0), params=(1, 6, 1)),        # 4x4, /4, s2
    ], output=2), spec, (4, 4, 3), 5)
    pre = 4 * 3 + (16 * 3 * 32) + 4 * 32 + (16 * 32 * 32) + 3 * 32  # bn, conv, bn, conv, shortcut
    bottleneck = (32 * 8 + 32) + (16 * 8 * 8 + 32) + (8 * 32 + 128) + (32 * 32 + 128)
    assert count_params(graph) == pre + bottleneck + 32 * 5 + 5
    mults = count_multiplications(graph)
    assert mults[0] == 16 * (16 * 3 * 32 + 16 * 32 * 32 + 3 * 32) + 16 * 32 * 8 + (
        4 * 16 * 8 * 8 + 4 * 8 * 32 + 4 * 32 * 32)


def test_multiply_layers_contract():
    layers = multiply_layers(residual_network())
    names = [layer["name"] for layer in layers]
    assert names == ["node0/conv", "node1/conv_a", "node1/conv_b", "node1/shortcut",
                     "node2/expand", "node2/dwconv", "node2/project", "head/dense"]
    conv_a = layers[1]
    assert conv_a == {
        "node": "node1", "name": "node1/conv_a", "kind": "conv2d", "input_shape": (8, 8, 16),
        "output_shape": (4, 4, 32), "kernel": (3, 3), "strides": (2, 2), "padding": "same",
        "filters": 32, "groups": 1, "use_bias": False, "multiplier": 1,
        "multiplications": 4 * 4 * 9 * 16 * 32, "params": 9 * 16 * 32,
    }
    dw = layers[5]
    assert dw["kind"] == "depthwise_conv2d" and dw["groups"] == 64 and dw["filters"] == 64
    dense = layers[-1]
    assert dense["input_shape"] == (1, 1, 32) and dense["multiplier"] is None
    assert dense["params"] == 330 and dense["multiplications"] == 320


def test_counts_are_consistent_over_random_genomes():
    spec = CGPSpec(rows=3, columns=6, levels_back=3, n_multipliers=5)
    rng = np.random.default_rng(7)
    for _ in range(100):
        graph = decode(random_genome(spec, rng), spec, (28, 28, 1), 10)
        layers = multiply_layers(graph)
        assert sum(count_multiplications(graph).values()) == sum(
            layer["multiplications"] for layer in layers)
        for layer in layers:
            h, w, c = layer["output_shape"]
            kh, kw = layer["kernel"]
            cin = layer["input_shape"][2]
            assert layer["multiplications"] == h * w * kh * kw * cin * c // layer["groups"]


class FakeMultiplier:
    def __init__(self, power_mw, library="evoapproxlib8u"):
        self.power_mw, self.library = power_mw, library


def test_power_is_count_times_multiplier_power():
    from evoapproxnas.multipliers import load_library

    exact = load_library("evoapproxlib8u").exact
    graph = residual_network()
    counts = count_multiplications(graph)
    muls = [FakeMultiplier(0.1), FakeMultiplier(0.2), FakeMultiplier(0.05)]
    power = multiplication_power(graph, muls)
    expected = (counts[0] * 0.1 + counts[1] * 0.2 + counts[2] * 0.05
                + counts[None] * exact.power_mw)
    assert power["power_mw"] == pytest.approx(expected)
    total = sum(counts.values())
    assert power["power_rel"] == pytest.approx(expected / (total * exact.power_mw))
    as_dict = multiplication_power(graph, dict(enumerate(muls)))
    assert as_dict["power_mw"] == pytest.approx(expected)


def test_power_is_relative_to_the_exact_multiplier_of_the_library(tmp_path):
    from evoapproxnas.errors import UserError
    from evoapproxnas.multipliers import Multiplier, load_library, write_library
    from evoapproxnas.multipliers.metrics import exact_products

    exact_table = exact_products(False).astype(np.uint16)
    approx_table = (exact_products(False) & ~15).astype(np.uint16)
    lib = load_library(write_library(tmp_path / "lib", "user", [
        Multiplier.from_table("exact", exact_table, False, power_mw=0.8, area_um2=400.0),
        Multiplier.from_table("low", approx_table, False, power_mw=0.2),
        Multiplier.from_table("area", approx_table, False, area_um2=100.0),
    ]))
    graph = residual_network()
    counts = count_multiplications(graph)
    total = sum(counts.values())
    muls = [lib["low"], lib["area"], lib["exact"]]
    power = multiplication_power(graph, muls)
    # "area" has no power: its area ratio 100/400 of the exact power
    expected = (counts[0] * 0.2 + counts[1] * 0.25 * 0.8 + counts[2] * 0.8
                + counts[None] * 0.8)
    assert power["power_mw"] == pytest.approx(expected)
    assert power["exact_power_mw"] == pytest.approx(total * 0.8)
    assert power["power_rel"] == pytest.approx(
        (counts[0] * 0.25 + counts[1] * 0.25 + counts[2] + counts[None]) / total)
    no_power = load_library(write_library(tmp_path / "bare", "bare", [
        Multiplier.from_table("exact", exact_table, False)]))
    with pytest.raises(UserError, match="exact multiplier exact has no power_mw"):
        multiplication_power(graph, list(no_power) * 3)
    with pytest.raises(UserError, match="no multiplier for gene 2"):
        multiplication_power(graph, muls[:2])


def test_power_of_mixed_widths_costs_each_layer_by_its_own_multiplier():
    """A campaign's genes choose among 8x2, 8x4 (exact and approximate) and 8x8 circuits of
    evoapproxlib8xNu: each layer costs its multiplications x its multiplier's published power,
    relative to the exact 8x8 (0.391 mW), whatever the layer's width."""
    from evoapproxnas.multipliers import MultiplierChoice, load_library

    lib = load_library("evoapproxlib8xNu")
    names = ["mul8x2u_106", "mul8x4u_3Y3", "mul8u_1JFF"]
    choice = MultiplierChoice.from_library(lib, names)
    assert [m.weight_bits for m in choice.allowed] == [2, 4, 8]
    graph = residual_network()
    counts = count_multiplications(graph)
    published = {"mul8x2u_106": 0.033, "mul8x4u_3Y3": 0.063, "mul8u_1JFF": 0.391}
    expected = (counts[0] * published["mul8x2u_106"] + counts[1] * published["mul8x4u_3Y3"]
                + (counts[2] + counts[None]) * published["mul8u_1JFF"])
    power = multiplication_power(graph, choice)
    assert power["power_mw"] == pytest.approx(expected)
    assert power["power_rel"] == pytest.approx(expected / (sum(counts.values()) * 0.391))
    swapped = multiplication_power(graph, MultiplierChoice.from_library(lib, names[::-1]))
    assert swapped["power_mw"] == pytest.approx(
        counts[0] * 0.391 + counts[1] * 0.063 + counts[2] * 0.033 + counts[None] * 0.391)
