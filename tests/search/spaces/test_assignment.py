import numpy as np
import pytest
from _fakes import cheapest_within

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


# ---- the sensitivity guide (space.sensitivity) ------------------------------------------

DROPS = ((0.0, 0.01, 0.05, 0.30), (0.0, 0.002, 0.20, 0.50), (0.0, -0.01, 0.0, 0.02))
POWER = (1.0, 0.8, 0.5, 0.2)


def test_the_guide_puts_the_cheapest_multiplier_within_a_drawn_tolerance_on_every_layer():
    from evoapproxnas.search.spaces.assignment import Guide

    guide = Guide(DROPS, POWER)
    rng = np.random.default_rng(1)
    drawn = {tuple(int(g) for g in guide.sample(rng)) for _ in range(400)}
    levels = sorted({d for row in DROPS for d in row})
    assert drawn == {cheapest_within(DROPS, POWER, t) for t in levels}
    # the loosest tolerance gives every layer the cheapest multiplier, the tightest the
    # multiplier that alone improves layer 2 and the exact one elsewhere
    assert (3, 3, 3) in drawn and (0, 0, 1) in drawn


def test_a_guided_share_of_the_samples_comes_from_the_guide():
    from evoapproxnas.search.spaces.assignment import Guide

    guide = Guide(DROPS, POWER)
    spec = AssignmentSpec("m.keras", LAYERS[:3], 4, guide=guide, guided_share=0.5)
    rng = np.random.default_rng(2)
    levels = {d for row in DROPS for d in row}
    guided = {cheapest_within(DROPS, POWER, t) for t in levels}
    samples = [tuple(int(g) for g in AssignmentSpace(spec).sample(rng)) for _ in range(600)]
    share = sum(x in guided for x in samples) / 600
    # independent draws hit one of the guided vectors with probability |guided| / 4**3
    assert abs(share - (0.5 + 0.5 * len(guided) / 64)) < 0.07


def _map(path, layers=("layer0", "layer1", "layer2"), multipliers=("e", "a", "b", "c")):
    import json

    path.write_text(json.dumps({"layers": list(layers), "multipliers": list(multipliers),
                                "power_rel": list(POWER), "base_accuracy": 0.9,
                                "accuracy": [[0.9 - d for d in row] for row in DROPS]}))
    return path


def test_read_guide_maps_the_file_onto_the_allowed_multipliers_and_gene_layers(tmp_path):
    from evoapproxnas.search.spaces.assignment import read_guide

    guide = read_guide(_map(tmp_path / "s.json"), ["c", "e", "x"], ["layer2", "layer0"])
    drops = np.array(guide.drops)
    assert drops[:, :2] == pytest.approx(np.array([[0.02, 0.0], [0.30, 0.0]]))
    assert np.isnan(drops[:, 2]).all() and np.isnan(guide.power[2])  # "x": not measured
    assert guide.power[:2] == (0.2, 1.0)


@pytest.mark.parametrize("case, message", [
    ("missing", "cannot be read"), ("garbage", "is not JSON"),
    ("shape", "is not a sensitivity map"), ("layer", "has no row for layer 'layer9'"),
    ("names", "measured none of the allowed multipliers")])
def test_a_bad_sensitivity_map_is_one_line(tmp_path, case, message):
    from evoapproxnas.errors import UserError
    from evoapproxnas.search.spaces.assignment import read_guide

    path = _map(tmp_path / "s.json")
    layers, names = ["layer0"], ["e"]
    if case == "missing":
        path = tmp_path / "none.json"
    elif case == "garbage":
        path.write_text("{not json")
    elif case == "shape":
        _map(path, layers=("layer0",))
    elif case == "layer":
        layers = ["layer9"]
    else:
        names = ["zz"]
    with pytest.raises(UserError, match=message) as info:
        read_guide(path, names, layers)
    assert "\n" not in str(info.value) and "evoapproxnas sensitivity" in str(info.value)


def test_sensitivity_settings_are_checked_in_one_line():
    from evoapproxnas.config import SpaceConfig
    from evoapproxnas.errors import UserError

    with pytest.raises(UserError, match=r"space.sensitivity_share = 2 .* from 0 to 1"):
        SpaceConfig(kind="assignment", sensitivity="s.json", sensitivity_share=2)
    with pytest.raises(UserError, match=r"uniform_share \(0.6\) \+ space.sensitivity_share "
                                        r"\(0.5\) is above 1"):
        SpaceConfig(kind="assignment", sensitivity="s.json", uniform_share=0.6)
    with pytest.raises(UserError, match="space.sensitivity is for kind = 'assignment'"):
        SpaceConfig(kind="cgp", sensitivity="s.json")
    SpaceConfig(kind="assignment", sensitivity="s.json", uniform_share=0.5)  # sum 1: fine
