"""The ``[space]`` and ``[controller]`` sections: defaults, and every bad value refused in
one line naming its key (``UserError``; the CLI exits 2 and creates nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError

TINY = Path(__file__).parent / "search" / "tiny.toml"


def test_defaults_are_todays_cgp_campaign_and_the_papers_choices():
    cfg = load_config(TINY)
    assert cfg.space.kind == "cgp"
    assert cfg.space.kernel_sizes == (1, 3, 5, 7) and cfg.space.filters == (24, 36, 48, 64)
    assert cfg.to_dict()["space"]["kind"] == "cgp"
    layers = load_config(TINY, ["space.kind=layers", "space.min_layers=3",
                                "space.max_layers=3", "space.strides=[1]",
                                "search.engine=reinforce"])
    assert (layers.space.min_layers, layers.space.strides) == (3, (1,))


@pytest.mark.parametrize("override, key", [
    ("space.kind=bogus", "space.kind"),
    ("space.kind=layer", "space.kind"),
    ("space.min_layers=0", "space.min_layers"),
    ("space.max_layers=65", "space.max_layers"),
    ("space.max_layers=1", "space.max_layers"),  # below min_layers (2)
    ("space.kernel_sizes=[0, 3]", "space.kernel_sizes"),
    ("space.kernel_sizes=[3, 3]", "space.kernel_sizes"),
    ("space.kernel_sizes=[3.5]", "space.kernel_sizes"),
    ("space.filters=[1000000]", "space.filters"),
    ("space.strides=[3]", "space.strides"),
    ("space.pooling=1", "space.pooling"),
    ("space.multipliers=each", "space.multipliers"),
    ("space.activation_bits=[1, 4]", "space.activation_bits"),
    ("space.weight_bits=[9]", "space.weight_bits"),
    ("space.weight_bits=[4, 4]", "space.weight_bits"),
    ("space.fixed_point=true", "space.fixed_point"),  # without space.weight_bits
    ("space.fixed_point=1", "space.fixed_point"),
    ("space.activation_frac_bits=[9]", "space.activation_frac_bits"),
    ("space.weight_frac_bits=[-1]", "space.weight_frac_bits"),
    ("space.architecture=[[3, 16, 3, 1]]", "space.architecture"),
    ("space.architecture=[[3, 16]]", "space.architecture"),
    ("controller.hidden_units=0", "controller.hidden_units"),
    ("controller.learning_rate=0", "controller.learning_rate"),
    ("controller.baseline_decay=1", "controller.baseline_decay"),
    ("controller.entropy_weight=-1", "controller.entropy_weight"),
    ("controller.violation_penalty=-0.5", "controller.violation_penalty"),
    ("controller.reward_weights={error=nan}", "controller.reward_weights"),
    ("controller.reward_weights={fps=1}", "controller.reward_weights"),
    ("controller.reward_weights=3", "controller.reward_weights"),
    ("controller.bogus=1", "controller.bogus"),
])
def test_bad_values_are_one_line_naming_the_key(override, key):
    with pytest.raises(UserError) as info:
        load_config(TINY, [override])
    message = str(info.value)
    assert key in message and "\n" not in message, message


def test_the_controller_needs_the_generational_mode():
    with pytest.raises(UserError, match="search.engine.*generational"):
        load_config(TINY, ["search.engine=reinforce", "search.mode=asynchronous",
                           "executor.kind=dask"])


def test_unknown_kind_names_the_closest_and_the_known_ones():
    with pytest.raises(UserError, match=r"did you mean: layers\?\).*|layers"):
        load_config(TINY, ["space.kind=layer"])


@pytest.mark.parametrize("args", [["space.kind=bogus"], ["space.filters=[0]"],
                                  ["space.weight_bits=[9]"]])
def test_run_command_exits_2_in_one_line_and_creates_nothing(tmp_path, args):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "run", str(TINY), "--out",
                           str(out), "--quiet", "--set", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    err = proc.stderr.strip()
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert args[0].split("=")[0] in err
    assert not out.exists()
