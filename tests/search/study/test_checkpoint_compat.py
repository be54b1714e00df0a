"""Checkpoints written before ``search/`` had its rooms (engines in ``search.engines``, the
CGP space in ``search.space``) still load, and the engine goes on exactly as the old code
went on. The files in ``data/`` were written by that code: one generation of a pymoo and of
a DEAP engine on ``tiny.toml``'s space, then the batch the old engine asked next."""

from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.search.engines.nsga2_deap import DeapEngine
from evoapproxnas.search.engines.nsga2_pymoo import PymooEngine
from evoapproxnas.search.spaces.cgp import CGPSpace
from evoapproxnas.search.study.checkpoint import load_checkpoint

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name, cls", [("pymoo", PymooEngine), ("deap", DeapEngine)])
def test_an_earlier_versions_checkpoint_continues_as_it_would_have(name, cls):
    state = load_checkpoint(DATA / name)
    assert state is not None and state.generation == 1
    engine = state.engine
    assert type(engine) is cls and isinstance(engine.space, CGPSpace)
    expected = np.load(DATA / name / "next_ask.npy")
    assert np.array_equal(np.array(engine.ask()), expected)
