"""Campaign config: parsing, overrides and one-line errors naming file, key and what is allowed."""

from pathlib import Path

import pytest

from evoapproxnas.config import (
    config_from_dict,
    load_config,
)
from evoapproxnas.errors import UserError
from evoapproxnas.metrics import DEFAULT_HV_REFERENCE

TINY = Path(__file__).parent / "search" / "tiny.toml"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_tiny_config_loads_with_defaults():
    cfg = load_config(TINY)
    assert cfg.data.name == "synthetic"
    assert cfg.search.population == 3 and cfg.search.engine == "pymoo"
    assert cfg.cgp.functions == ("conv2d", "depthwise_conv2d", "batch_norm")
    assert cfg.training.optimizer == "adam"  # default kept
    assert cfg.hv_reference() == [DEFAULT_HV_REFERENCE[k] for k in cfg.search.objectives]


def test_round_trip_through_resolved_dict():
    cfg = load_config(TINY, ["search.seed=11"])
    again = config_from_dict(cfg.to_dict(), "config.json")
    assert again.to_dict() == cfg.to_dict()
    assert again.search.seed == 11


def test_sections_are_the_types_their_packages_consume():
    from evoapproxnas.cgp import CGPSpec
    from evoapproxnas.hardware import HardwareConfig
    from evoapproxnas.nn import TrainBudget

    cfg = load_config(TINY)
    assert type(cfg.training) is TrainBudget and type(cfg.cgp) is CGPSpec
    assert type(cfg.hardware) is HardwareConfig
    assert cfg.training.optimizer == TrainBudget().optimizer  # defaults are the type's own
    again = config_from_dict(cfg.to_dict(), "config.json")  # a run directory's config.json
    assert again.to_dict() == cfg.to_dict() and again.cgp == cfg.cgp
    assert "n_multipliers" not in cfg.to_dict()["cgp"]  # derived from the allowed set
    with pytest.raises(UserError, match="unknown key cgp.n_multipliers"):
        load_config(TINY, ["cgp.n_multipliers=3"])


def test_overrides_apply_and_validate():
    cfg = load_config(TINY, ["search.engine=deap", "search.population=5",
                             "cgp.choices.conv2d.filters=[8]"])
    assert cfg.search.engine == "deap" and cfg.search.population == 5
    assert cfg.cgp.choices == {"conv2d": {"filters": [8]}}
    with pytest.raises(UserError, match="search.population"):
        load_config(TINY, ["search.population=zero"])
    with pytest.raises(UserError, match="section.key"):
        load_config(TINY, ["population=3"])


@pytest.mark.parametrize("text, needle", [
    ("[search\npopulation = 3", "malformed TOML"),
    ("[serch]\npopulation = 3", "unknown section [serch] (did you mean: search?)"),
    ("[search]\npopulaton = 3", "unknown key search.populaton (did you mean: population?)"),
    ("[search]\nengine = 'nsga3'", "search.engine = 'nsga3' is not allowed; use one of pymoo"),
    ("[search]\npopulation = 1", "search.population = 1 is not allowed"),
    ("[executor]\nworkers = 'two'", "executor.workers must be an integer"),
    ("[executor]\nkind = 'mpi'", "executor.kind = 'mpi' is not allowed"),
    ("[fidelity]\nrungs = [9]", "fidelity.rungs = [9] is not allowed"),
    ("[search]\nrungs = [1]\n[fidelity]\nrungs = [1]", "search.rungs and fidelity.rungs are both"),
    ("[search]\nobjectives = ['error', 'acuracy']", "unknown metric 'acuracy'"),
    ("[search]\nobjectives = ['error']", "at least two objectives"),
    ("[search]\nconstraints = ['params < 5']", "cannot read 'params < 5'"),
    ("[search]\nconstraints = ['error <= 0.1']", "constraints take metrics computed before"),
    ("[search]\nobjectives = ['error', 'power_mw']", "search.hv_reference.power_mw"),
    ("[data]\nname = 'mnist'", "data.name = 'mnist' is not allowed"),
    ("[training]\noptimizer = 'adamw'", "training.optimizer"),
    ("[training]\nepochs = 0", "training.epochs"),
    ("search = 3", "[search] must be a table"),
    ("[multipliers]\nweight_quantization = 'per_row'",
     "multipliers.weight_quantization must be one of 'per_tensor', 'per_channel'"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_config(path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_earlier_search_keys_are_read_with_one_deprecation_line(tmp_path, capsys):
    from evoapproxnas.cli import main
    from evoapproxnas.config import ConfigDeprecationWarning

    old = write(tmp_path, "[search]\nworkers = 1\nexecutor = 'process'\nrungs = [1]\n"
                          "[training]\nepochs = 2\n")
    with pytest.warns(ConfigDeprecationWarning) as caught:
        cfg = load_config(old, ["search.time_limit_s=50"])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert all(f"{old} -> {new}" in message for old, new in (
        ("search.workers", "executor.workers"), ("search.executor", "executor.kind"),
        ("search.time_limit_s", "executor.time_limit_s"), ("search.rungs", "fidelity.rungs")))
    assert (cfg.executor.workers, cfg.executor.kind, cfg.executor.time_limit_s,
            cfg.fidelity.rungs) == (1, "process", 50.0, (1,))
    new = tmp_path / "new.toml"
    new.write_text("[executor]\nworkers = 1\ntime_limit_s = 50\n[fidelity]\nrungs = [1]\n"
                   "[training]\nepochs = 2\n")
    new = load_config(new)
    assert new.to_dict() == cfg.to_dict()
    # a run directory's config.json of an earlier version is read without a word
    raw = cfg.to_dict()
    raw["search"]["workers"] = raw["executor"].pop("workers")
    assert config_from_dict(raw).executor.workers == 1
    # the CLI shows the deprecation as one line and goes on
    assert main(["run", str(old), "--out", str(tmp_path / "r"), "--set", "data.name=mnist"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0].startswith("evoapproxnas: deprecated: ") and "executor.workers" in lines[0]
    assert len(lines) == 2 and "data.name = 'mnist'" in lines[1]


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_constraints_parse_and_measure_violation(tmp_path):
    cfg = load_config(write(tmp_path, "[search]\nconstraints = ['params <= 1000', "
                                      "'power_rel>=0.5']"))
    params, power = cfg.parsed_constraints
    assert (params.metric, params.op, params.bound) == ("params", "<=", 1000.0)
    assert params.violation(900) == 0 and params.violation(1500) == pytest.approx(0.5)
    assert power.violation(0.6) == 0 and power.violation(0.25) == pytest.approx(0.25)


def test_constraints_are_parsed_once_and_checked_against_known_metrics():
    from evoapproxnas.metrics import Constraint, parse_constraint

    assert parse_constraint("fps >= 1000") == Constraint("fps", ">=", 1000.0)
    assert parse_constraint(" luts<=3e4 ") == Constraint("luts", "<=", 30000.0)
    assert parse_constraint("fps >= 1000").violation(500.0) == pytest.approx(0.5)
    assert parse_constraint("luts <= 30000").violation(20000.0) == 0.0
    with pytest.raises(UserError, match="METRIC <= NUMBER"):
        parse_constraint("fps = 3")
    with pytest.raises(UserError, match="did you mean: luts"):
        load_config(TINY, ["search.constraints=['lutz <= 3']", "hardware.model=fpga"])
    with pytest.raises(UserError, match="before training"):
        load_config(TINY, ["search.constraints=['error <= 0.1']"])


def test_weight_quantization_defaults_per_tensor_and_is_kept_in_the_resolved_dict():
    cfg = load_config(TINY)
    assert cfg.multipliers.weight_quantization == "per_tensor"
    cfg = load_config(TINY, ["multipliers.weight_quantization=per_channel"])
    again = config_from_dict(cfg.to_dict(), "config.json")
    assert again.multipliers.weight_quantization == "per_channel"
    old = cfg.to_dict()
    del old["multipliers"]["weight_quantization"]  # a run directory from before the key
    assert config_from_dict(old, "config.json").multipliers.weight_quantization == "per_tensor"
