"""The search-quality benchmark's indicators against hypervolumes computed by hand, and its
table from stored raw results (no run: the benchmark's runs take minutes each)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # search_quality imports its neighbour stats.py
_SPEC = importlib.util.spec_from_file_location("search_quality", BENCHMARKS / "search_quality.py")
sq = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = sq
_SPEC.loader.exec_module(sq)

OBJECTIVES = ["error", "power_rel", "params"]
REFERENCE = [1.0, 1.0, 200000.0]


def member(test_accuracy, power_rel, params):
    return {"hash": f"{test_accuracy}-{power_rel}", "test_accuracy": test_accuracy,
            "objectives": {"error": 0.0, "power_rel": power_rel, "params": params}}


def test_indicators_against_hand_computed_boxes():
    # A: (error 0.1, power 0.5, params 0.5 of the reference) -> box 0.9 * 0.5 * 0.5 = 0.225
    # B: (0.2, 0.25, 0.25) -> 0.8 * 0.75 * 0.75 = 0.45; overlap 0.8 * 0.5 * 0.5 = 0.2
    a, b = member(0.9, 0.5, 100000), member(0.8, 0.25, 50000)
    untested = {**member(0.99, 0.1, 1000), "test_accuracy": None}  # a failed test: left out
    values = sq.indicators([a, b, untested], OBJECTIVES, REFERENCE)
    assert values["hv"] == pytest.approx(0.225 + 0.45 - 0.2)
    assert values["hv@0.80"] == pytest.approx(0.475)
    assert values["hv@0.85"] == pytest.approx(0.225)
    assert values["best"] == 0.9
    assert values["acc@0.5x"] == 0.9 and values["acc@0.25x"] == 0.8
    assert sq.indicators([], OBJECTIVES, REFERENCE)["hv"] == 0.0
    assert list(values) == list(sq.INDICATORS)


def test_the_table_pairs_finished_seeds_and_compares_with_random(tmp_path):
    raws = {}
    for seed in (1, 2, 3):
        for variant, acc in (("random", 0.80), ("pymoo", 0.85), ("deap", 0.79)):
            raw = {"setting": "quickstart", "variant": variant, "seed": seed,
                   "wall_s": 300.0, "generations": 4, "full_budget": 20,
                   "objectives": OBJECTIVES, "hv_reference": REFERENCE,
                   "front": [member(acc + 0.01 * seed, 0.4, 60000)], "extra_test": {}}
            path = sq.result_path(tmp_path, "quickstart", variant, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(raw))
    sq.result_path(tmp_path, "quickstart", "pymoo", 4).write_text(
        json.dumps({**raw, "seed": 4}))  # seed 4 only for one variant: not paired
    raws = sq.load_results(tmp_path, "quickstart", ("pymoo", "deap", "random"), sq.SEEDS)
    text = sq.tables("quickstart", ("pymoo", "deap", "random"), raws, tmp_path, tmp_path,
                     second_view=False)
    assert "Seeds finished by every variant: 1, 2, 3 " in text
    best = [line for line in text.splitlines() if line.startswith("| best | pymoo |")]
    # ratios 0.86/0.81, 0.87/0.82, 0.88/0.83 = 1.0617, 1.0610, 1.0602; all ahead: p = 2/8
    assert best == ["| best | pymoo | 0.860 0.870 0.880 | 0.870 | 1.061 [1.060, 1.062] | 3/0 "
                    "| 0.250 | 0.250 |"]
    assert "| best | deap | 0.800 0.810 0.820 | 0.810 | 0.988" in text
    # headroom: pymoo's best accuracy over random's one box (acc x 0.6 x 0.7), per seed
    bounds = [(0.85 + 0.01 * s) / ((0.80 + 0.01 * s) * 0.6 * 0.7) for s in (1, 2, 3)]
    assert (f"per seed {bounds[0]:.3f} {bounds[1]:.3f} {bounds[2]:.3f} (median "
            f"{bounds[1]:.3f})") in text
