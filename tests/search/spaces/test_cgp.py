"""Re-drawing candidates that break a cheap constraint (``CGPSpace`` with a filter)."""

import pickle
from pathlib import Path

import numpy as np

from evoapproxnas.config import load_config
from evoapproxnas.search.evaluation import Evaluator
from evoapproxnas.search.problem import CampaignProblem, load_data
from evoapproxnas.search.spaces.cgp import REPAIR_TRIES
from evoapproxnas.search.study.archive import Archive

TINY = Path(__file__).parents[1] / "tiny.toml"
LIMIT = "search.constraints=['params <= 300']"


def problem_for(*overrides):
    cfg = load_config(TINY, list(overrides))
    data = load_data(cfg)
    return CampaignProblem.build(cfg, data.input_shape, data.n_classes)


def params_of(problem, genome) -> int:
    from evoapproxnas.cgp import count_params

    return count_params(problem.decode(genome))


def test_samples_and_offspring_keep_the_cheap_constraints():
    problem = problem_for(LIMIT)
    space = problem.space
    rng = np.random.default_rng(3)
    drawn = [space.sample(rng) for _ in range(30)]
    drawn += [space.mutate(parent, rng) for parent in drawn[:30]]
    assert all(params_of(problem, g) <= 300 for g in drawn)
    rejected = space.take_rejected()
    assert rejected, "the limit should reject some draws of this space"
    assert all(params_of(problem, g) > 300 for g in rejected)
    assert space.take_rejected() == []
    # without the filter the same generator draws some of them
    space.set_filter(None)
    free = [space.sample(np.random.default_rng(3)) for _ in range(30)]
    assert any(params_of(problem, g) > 300 for g in free)


def test_redrawing_is_deterministic_and_bounded():
    a, b = problem_for(LIMIT).space, problem_for(LIMIT).space
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(10):
        np.testing.assert_array_equal(a.sample(ra), b.sample(rb))
    impossible = problem_for("search.constraints=['params <= 1']").space
    impossible.sample(np.random.default_rng(0))  # no feasible network: accepted after the tries
    assert len(impossible.take_rejected()) == REPAIR_TRIES - 1


def test_the_filter_is_not_pickled_and_redrawn_ones_are_archived(tmp_path):
    problem = problem_for(LIMIT)
    space = problem.space
    rng = np.random.default_rng(3)
    population = [space.sample(rng) for _ in range(10)]
    restored = pickle.loads(pickle.dumps(space))
    assert restored.feasible is None and restored.rejected == []
    archive = Archive(tmp_path / "archive.jsonl")
    evaluator = Evaluator(problem, archive, {}, pool=None)
    redrawn = space.take_rejected()
    evaluator.record_redrawn(redrawn, 0)
    evaluator.record_redrawn(redrawn, 0)  # each once
    records = archive.records()
    assert len(records) == len({problem.space.key(g) for g in redrawn}) > 0
    assert all(r.status == "infeasible" and r.index == -1 and "re-drawn" in r.reason
               for r in records)
    assert not {r.hash for r in records} & {problem.space.key(g) for g in population}
