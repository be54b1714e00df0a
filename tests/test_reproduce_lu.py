"""experiments/reproduce_lu.py without running a campaign: its cells, the overrides it gives
the campaign (which must load), and the table's verdicts on hand-made summaries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from evoapproxnas.config import load_config

ROOT = Path(__file__).parents[1]


def script():
    spec = importlib.util.spec_from_file_location("reproduce_lu",
                                                  ROOT / "experiments" / "reproduce_lu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(acc):
    best = None if acc is None else {
        "test_accuracy": acc, "val_accuracy": acc, "luts": 1000.0, "fps": 5000.0,
        "params": 1, "architecture": [[3, 8, 1, 1]], "widths": ["4x4 (2/3)", "8x8"]}
    return {"best": best, "trained": 3, "pruned": 3, "wall_s": 1.0}


def test_cells_and_overrides_load():
    lu = script()
    cells = lu.cells()
    assert len(cells) == 9 and cells[0][1] == min(lu.LUT_BUDGETS.values())
    arch = json.dumps([[3, 8, 1, 1], [5, 16, 2, 0]]).replace(" ", "")
    for scale in lu.SCALES.values():
        cfg = load_config(lu.CAMPAIGN, [*scale, *lu.EIGHT_BITS, f"space.architecture={arch}",
                                        lu.specs(2000, 16000)])
        assert cfg.search.constraints == ("luts <= 2000", "fps >= 16000")
        assert cfg.space.activation_bits == (8,) and len(cfg.space.architecture) == 2


def test_table_verdicts():
    lu = script()
    rls, rts = list(lu.LUT_BUDGETS.values()), lu.THROUGHPUTS
    runs = {}
    for i, rl in enumerate(rls):  # tight: sequential finds nothing at the highest rT
        for j, rt in enumerate(rts):
            runs[("joint", rl, rt)] = summary(0.70)
            runs[("seq", rl, rt)] = summary(None if (i, j) == (0, 2) else 0.70 - 0.1 * (2 - i)
                                            * (i < 2))
    fractions = {k: {f"{rl}-{rt}": 0.5 for _, rl, rt in lu.cells()} for k in ("8-bit", "mixed")}
    text = lu.table(None, runs, fractions)
    assert text.count("| no valid design |") == 1
    # gaps by hand: tight (0.2 + 0.2 + 0.7) / 3, medium 0.1, loose 0
    assert "tight +36.7, medium +10.0, loose +0.0: the gap rises" in text
    assert "joint >= sequential in 9 of the 9 cells both ran (of 9)" in text
    assert "no valid design (holds)" in text
    del runs[("seq", rls[1], rts[0])]  # a cell not run: neither a win nor a gap
    text = lu.table(None, runs, fractions)
    assert "in 8 of the 8 cells both ran (of 9); mean gap" in text
    for rt in rts[1:]:  # no loose cell left: no gap by rL
        del runs[("seq", rls[2], rt)]
    del runs[("seq", rls[2], rts[0])]
    assert "the gap by rL needs every budget run" in lu.table(None, runs, fractions)
    runs = {(m, rl, rt): summary(0.5) for m in ("seq", "joint") for rl in rls for rt in rts}
    # equal everywhere: the gap does not rise
    assert "the gap does not rise" in lu.table(None, runs, fractions)
