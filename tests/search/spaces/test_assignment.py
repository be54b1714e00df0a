import numpy as np
import pytest

from evoapproxnas.search.spaces.assignment import AssignmentSpace, AssignmentSpec

LAYERS = tuple({"name": f"layer{i}"} for i in range(6))


def space(share: float) -> AssignmentSpace:
    return AssignmentSpace(AssignmentSpec("m.keras", LAYERS, 5, uniform_share=share))


def test_without_a_uniform_share_the_draws_are_the_independent_genes_of_before():
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        assert np.array_equal(space(0.0).sample(rng), reference.integers(0, 5, 6))


@pytest.mark.parametrize("share", [0.25, 1.0])
def test_a_uniform_share_of_the_samples_put_one_multiplier_on_every_layer(share):
    rng = np.random.default_rng(0)
    s = space(share)
    samples = [s.sample(rng) for _ in range(400)]
    uniform = [x for x in samples if len(set(x.tolist())) == 1]
    # an independent draw is uniform with probability 5 / 5**6; the share is binomial
    assert abs(len(uniform) / 400 - share) < 0.07
    assert {int(x[0]) for x in uniform} == set(range(5))  # every multiplier drawn
    assert all(s.validate(x) is not None for x in samples)


def test_a_bad_uniform_share_is_one_line(tmp_path):
    from evoapproxnas.config import SpaceConfig
    from evoapproxnas.errors import UserError

    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(UserError, match=r"space.uniform_share = .* use a number from 0 to 1"):
            SpaceConfig(uniform_share=bad)
