"""Verilog through yosys: tables against numpy, estimates, bad modules; the gate evaluator."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers import import_library, netlist, read_verilog
from evoapproxnas.multipliers.importers.verilog import AREA_SOURCE, LUTS_SOURCE
from evoapproxnas.multipliers.library import load_library

CODES = np.arange(256, dtype=np.int64)
A = CODES[:, None]
B = CODES[None, :]

# the first port (p) loses its two low bits: table[a, b] = (a & ~3) * b, not symmetric
TRUNC = """// a truncated multiplier
module trunc8(input [7:0] p, input [7:0] q, output [15:0] r);
  assign r = {p[7:2], 2'b00} * q;
endmodule
"""
SIGNED = """module smul(input signed [7:0] x, input signed [7:0] y, output signed [15:0] o);
  assign o = x * y;
endmodule
"""


def test_truncated_module_table_order_and_estimates(tmp_path):
    path = tmp_path / "trunc8.v"
    path.write_text(TRUNC)
    circuit = read_verilog(path, luts=False)
    assert circuit.name == "trunc8" and circuit.signed is False
    np.testing.assert_array_equal(circuit.lut, (A & ~3) * B)
    assert circuit.figures["area_um2"] > 0 and "luts" not in circuit.figures
    assert circuit.sources["area_um2"] == AREA_SOURCE
    info = circuit.info
    assert info["gate_count"] == sum(info["gates"].values()) and info["logic_levels"] > 3
    counts = Counter({f"$_{k}_": n for k, n in info["gates"].items()})
    assert circuit.figures["area_um2"] == pytest.approx(netlist.estimate_area_um2(counts), 0.01)


def test_a_port_chooses_the_activation_operand(tmp_path):
    path = tmp_path / "trunc8.v"
    path.write_text(TRUNC)
    circuit = read_verilog(path, luts=False, a_port="q")
    np.testing.assert_array_equal(circuit.lut, A * (B & ~3))
    assert circuit.info["operand_ports"] == ["q", "p"]
    with pytest.raises(UserError, match="no input port 'x'.*p, q"):
        read_verilog(path, luts=False, a_port="x")
    with pytest.raises(UserError, match="Verilog only"):
        import_library("tfapprox-bin", [path], tmp_path / "lib", a_port="q")
    assert not (tmp_path / "lib").exists()


@pytest.mark.slow  # yosys synth_xilinx
def test_signed_ports_and_xilinx_luts(tmp_path):
    path = tmp_path / "smul.v"
    path.write_text(SIGNED)
    circuit = read_verilog(path)  # the one test that runs synth_xilinx
    sa, sb = (np.where(v >= 128, v - 256, v) for v in (A, B))
    assert circuit.signed is True
    np.testing.assert_array_equal(circuit.lut, sa * sb)
    assert 20 <= circuit.figures["luts"] <= 400
    assert circuit.sources["luts"] == LUTS_SOURCE
    assert circuit.to_multiplier().is_exact


@pytest.mark.parametrize(
    "source, message",
    [
        (("module m(input [7:0] a, input [7:0] b, output [15:0] o);\n  assign o = a * ;\n"
         "endmodule\n"), "yosys cannot read"),
        (("module m(input [7:0] a, input [3:0] b, output [11:0] o);\n  assign o = a * b;\n"
         "endmodule\n"), "two 8-bit inputs and one 16-bit output"),
        (("module m(input clk, input [7:0] a, input [7:0] b, output reg [15:0] o);\n"
         "  always @(posedge clk) o <= a * b;\nendmodule\n"), "two 8-bit inputs"),
        (("module m(input [7:0] a, input [7:0] b, output reg [15:0] o);\n"
         "  always @* if (a[0]) o = a * b;\nendmodule\n"), "not combinational"),
        (("module m(input [7:0] a, input [7:0] b, output [15:0] o);\n  assign o = a * b;\n"
         "endmodule\nmodule n(input [7:0] a, input [7:0] b, output [15:0] o);\n"
         "  assign o = a + b;\nendmodule\n"), "several top-level modules"),
    ],
)
def test_bad_verilog(tmp_path, source, message):
    path = tmp_path / "bad.v"
    path.write_text(source)
    with pytest.raises(UserError, match=message) as info:
        read_verilog(path, luts=False)
    assert "bad.v" in str(info.value)


def test_import_library_from_verilog(tmp_path):
    path = tmp_path / "trunc8.v"
    path.write_text(TRUNC)
    out = import_library("verilog", [path], tmp_path / "vlib", luts=False)
    mul = load_library(out)["trunc8"]
    assert mul.area_um2 > 0 and mul.sources["area_um2"].startswith("estimated by yosys")
    assert mul.power_mw is None and mul.luts is None
    assert mul.metrics.wce == 3 * 255


# ---- the bit-parallel gate evaluator on a hand-written netlist (no yosys) ----

def gate_module() -> dict:
    """o[k] = gate_k(a-bits, b-bits) for every supported gate type; nets 2..9 = a, 10..17 = b."""
    a = list(range(2, 10))
    b = list(range(10, 18))
    cells, out = {}, []
    nid = 100
    for k, (kind, pins) in enumerate(sorted(
            (t, [p for p in "ABCDS" if p in _PINS[t]]) for t in netlist.GATES)):
        conns = {p: [a[(k + i) % 8] if i % 2 == 0 else b[(k + i) % 8]] for i, p in enumerate(pins)}
        conns["Y"] = [nid]
        cells[f"c{k}"] = {"type": kind, "connections": conns}
        out.append(nid)
        nid += 1
    ports = {"a": {"direction": "input", "bits": a}, "b": {"direction": "input", "bits": b},
             "o": {"direction": "output", "bits": out}}
    return {"ports": ports, "cells": cells}


_PINS = {t: "A" if t in ("$_BUF_", "$_NOT_") else "ABS" if "MUX" in t else
         "ABCD" if t.endswith("4_") else "ABC" if t.endswith("3_") else "AB"
         for t in netlist.GATES}

REFERENCE = {
    "$_BUF_": lambda A, **_: A, "$_NOT_": lambda A, **_: 1 - A,
    "$_AND_": lambda A, B, **_: A & B, "$_NAND_": lambda A, B, **_: 1 - (A & B),
    "$_OR_": lambda A, B, **_: A | B, "$_NOR_": lambda A, B, **_: 1 - (A | B),
    "$_XOR_": lambda A, B, **_: A ^ B, "$_XNOR_": lambda A, B, **_: 1 - (A ^ B),
    "$_ANDNOT_": lambda A, B, **_: A & (1 - B), "$_ORNOT_": lambda A, B, **_: A | (1 - B),
    "$_MUX_": lambda A, B, S, **_: np.where(S == 1, B, A),
    "$_NMUX_": lambda A, B, S, **_: 1 - np.where(S == 1, B, A),
    "$_AOI3_": lambda A, B, C, **_: 1 - ((A & B) | C),
    "$_OAI3_": lambda A, B, C, **_: 1 - ((A | B) & C),
    "$_AOI4_": lambda A, B, C, D, **_: 1 - ((A & B) | (C & D)),
    "$_OAI4_": lambda A, B, C, D, **_: 1 - ((A | B) & (C | D)),
}


def test_gate_evaluator_matches_truth_tables():
    module = gate_module()
    first, second = netlist.operand_bits()
    bits = netlist.evaluate(module, {"a": first, "b": second}, "o", "hand.json")
    v = np.arange(65536)
    abits = [(v >> (8 + i)) & 1 for i in range(8)]
    bbits = [(v >> i) & 1 for i in range(8)]
    for k, cell in enumerate(module["cells"].values()):
        args = {}
        for pin, (net,) in cell["connections"].items():
            if pin != "Y":
                args[pin] = abits[net - 2] if net < 10 else bbits[net - 10]
        np.testing.assert_array_equal(bits[k], REFERENCE[cell["type"]](**args), cell["type"])


def test_gate_evaluator_refuses_loops_and_flip_flops():
    module = {"ports": {"o": {"direction": "output", "bits": [5]}},
              "cells": {"x": {"type": "$_AND_", "connections": {"A": [5], "B": [6], "Y": [5]}},
                        "y": {"type": "$_NOT_", "connections": {"A": [5], "Y": [6]}}}}
    with pytest.raises(UserError, match="combinational loop"):
        netlist.evaluate(module, {}, "o", "loop.json")
    module["cells"]["y"]["type"] = "$_DFF_P_"
    with pytest.raises(UserError, match=r"\$_DFF_P_"):
        netlist.evaluate(module, {}, "o", "ff.json")
