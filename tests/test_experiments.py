"""Every shipped campaign file loads and validates, and its multipliers exist."""

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
