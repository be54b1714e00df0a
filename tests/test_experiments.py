"""Every shipped campaign file loads and validates, and its multipliers exist; the indicators
of experiments/assignment_starts.py by hand."""

from pathlib import Path

import pytest

from evoapproxnas.config import load_config
from evoapproxnas.multipliers import load_library

EXPERIMENTS = sorted((Path(__file__).parents[1] / "experiments").glob("*.toml"))


def test_there_are_experiments():
    names = {p.stem for p in EXPERIMENTS}
    assert {"quickstart", "fmnist", "cifar10"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_config_is_valid(path):
    cfg = load_config(path)
    library = load_library(cfg.multipliers.library)
    for name in cfg.multipliers.allowed:
        if name != "all":
            assert name in library.names


def test_assignment_starts_indicators_by_hand():
    import importlib.util
    import sys

    folder = Path(__file__).resolve().parents[1] / "experiments"
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("assignment_starts",
                                                  folder / "assignment_starts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    uniform = [{"power_rel": 1.0, "test_accuracy": 0.9},  # the exact one: not counted
               {"power_rel": 0.7, "test_accuracy": 0.6},
               {"power_rel": 0.4, "test_accuracy": 0.5},
               {"power_rel": 0.2, "test_accuracy": 0.3}]
    members = [(0.6, 0.65), (0.4, 0.5), (0.1, 0.2)]
    got = module.front_indicators(members, [1.0, 1.0], uniform)
    # the staircase to the reference (1, 1), by hand, in (power, accuracy) strips
    assert got["hv"] == pytest.approx(0.65 * 0.4 + 0.5 * (0.6 - 0.4) + 0.2 * (0.9 - 0.6))
    # (0.6, 0.65) dominates the 0.7 point; (0.4, 0.5) only equals the 0.4 point; nothing is
    # as cheap as 0.2 and as accurate as 0.3
    assert got["dominated"] == 1
    assert got["acc@0.5x"] == 0.5
    assert module.front_indicators([], [1.0, 1.0], uniform)["hv"] == 0.0
