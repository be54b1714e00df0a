"""A tiny campaign whose genes mix 8xN widths with per-channel weights: the trained models the
run directory rebuilds (re-evaluation, export) have the campaign's scheme and each layer its
multiplier's width."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.search.study.rundir import RunDir

pytestmark = [pytest.mark.slow, pytest.mark.tf]

TINY = Path(__file__).parent / "tiny.toml"
ALLOWED = '["mul8x2u_106", "mul8x4u_3Y3", "mul8x6u_4RX", "mul8u_1JFF"]'


def test_per_channel_8xn_campaign_rebuilds_its_models(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "evoapproxnas", "run", str(TINY), "--out", str(out), "--quiet",
         "--no-plots", "--set", "search.generations=1", "--set", "multipliers.library="
         "evoapproxlib8xNu", "--set", f"multipliers.allowed={ALLOWED}", "--set",
         "multipliers.weight_quantization=per_channel"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = RunDir(out)
    assert run.config.multipliers.weight_quantization == "per_channel"
    member = run.front().members[0]
    model = run.load_model(member)
    from evoapproxnas.approx.layers import approx_layers
    from evoapproxnas.multipliers import load_library

    lib = load_library("evoapproxlib8xNu")
    layers = approx_layers(model)
    assert layers and {la.weight_quantization for la in layers} == {"per_channel"}
    assert all(la.weight_bits == lib[la.multiplier].weight_bits for la in layers)
    # the worker trained and evaluated the same model the run directory rebuilds
    assert member.val_accuracy_reloaded == member.record.metrics["val_accuracy"]
    # the re-evaluated accuracy is the one of this model on the test set
    data_x, data_y = _test_set(run)
    accuracy = float(np.mean(np.argmax(model.predict(data_x, verbose=0), -1) == data_y))
    assert accuracy == pytest.approx(member.test_accuracy)


def _test_set(run: RunDir):
    from evoapproxnas.search.problem import load_data

    data = load_data(run.config)
    return data.x_test, data.y_test
