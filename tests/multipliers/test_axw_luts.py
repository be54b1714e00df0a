"""The shipped LUT table of exact AxW multipliers: complete, monotonic in both widths, and
reproduced by re-synthesizing small widths (when yosys is installed; otherwise a visible
skip); the synthesized LUT4 netlist computes the exact products."""

from __future__ import annotations

import json
import shutil

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.axw_luts import DATA
from evoapproxnas.multipliers.importers import axw_luts

ROWS = json.loads(DATA.read_text(encoding="utf-8"))
BY_KEY = {(r["activation_bits"], r["weight_bits"], r["kind"]): r for r in ROWS["rows"]}
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="yosys is not installed: the synthesis is not re-run")


def test_table_is_complete_and_names_its_tool_and_commands():
    assert set(BY_KEY) == {(a, w, k) for a in range(2, 9) for w in range(2, 9)
                           for k in ("us", "uu")}
    assert ROWS["tool"].startswith("Yosys ")
    assert ROWS["flows"] == {f: f"read_verilog -sv mul.v; {c}" for f, c in axw_luts.FLOWS.items()}


@pytest.mark.parametrize("fabric", ["lut6", "lut4", "cycloneive"])
@pytest.mark.parametrize("kind", ["us", "uu"])
def test_luts_grow_with_either_width(fabric, kind):
    for a in range(2, 9):
        for w in range(2, 9):
            here = BY_KEY[(a, w, kind)][fabric]
            if a < 8:
                assert BY_KEY[(a + 1, w, kind)][fabric] >= here, (a, w)
            if w < 8:
                assert BY_KEY[(a, w + 1, kind)][fabric] >= here, (a, w)
    assert BY_KEY[(8, 8, kind)][fabric] > 4 * BY_KEY[(2, 2, kind)][fabric]


@needs_yosys
@pytest.mark.parametrize("a,w,kind", [(2, 3, "us"), (3, 2, "uu")])
def test_small_widths_resynthesize_to_the_shipped_counts(a, w, kind):
    row = BY_KEY[(a, w, kind)]
    assert axw_luts.check_lut4_function(a, w, kind) == row["lut4"]  # and the function is a*b
    cells = axw_luts.cell_counts(a, w, kind, "cycloneive")
    assert cells["cycloneive_lcell_comb"] == row["cycloneive"]


@needs_yosys
@pytest.mark.slow
def test_xilinx_flow_resynthesizes_to_the_shipped_count():
    cells = axw_luts.cell_counts(3, 3, "us", "lut6")
    assert sum(cells[f"LUT{i}"] for i in range(1, 7)) == BY_KEY[(3, 3, "us")]["lut6"]
    assert cells["CARRY4"] == BY_KEY[(3, 3, "us")]["carry4"]


def test_netlist_evaluation_reads_luts_by_hand():
    """A two-LUT netlist written by hand: p0 = a0 AND b0 (LUT 1000), p1 = a0 XOR b0 (0110)."""
    import numpy as np

    module = {"ports": {"a": {"bits": [2]}, "b": {"bits": [3]}, "p": {"bits": [4, 5]}},
              "cells": {"x": {"type": "$lut", "parameters": {"LUT": "0110"},
                              "connections": {"A": [2, 3], "Y": [5]}},
                        "y": {"type": "$lut", "parameters": {"LUT": "1000"},
                              "connections": {"A": [2, 3], "Y": [4]}}}}
    a, b = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert axw_luts.evaluate_lut_netlist(module, a, b).tolist() == [0, 2, 2, 1]


def test_bad_widths_are_user_errors():
    with pytest.raises(UserError, match="activation width must be a whole number 2..8"):
        axw_luts.verilog_source(1, 4)
    with pytest.raises(UserError, match="weight width"):
        axw_luts.verilog_source(4, 9)
    with pytest.raises(UserError, match="operand kind"):
        axw_luts.verilog_source(4, 4, "ss")
