"""Worker start-up (TensorFlow's import notices stay off the console, other output does not)
and a promoted candidate's training on from the weights of its rung."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tf

SCRIPT = """
import os, sys
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
{body}
os.write(2, b"after the import\\n")
"""


def _stderr(body: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # as in a worker
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(body=body)], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return proc.stderr


def test_tensorflow_start_up_notices_are_filtered_and_other_stderr_kept():
    plain = _stderr("import tensorflow")
    # what the filter is for: the notice ignores TensorFlow's log level
    assert "oneDNN custom operations are on" in plain
    quiet = _stderr("from evoapproxnas.search.worker import _import_tensorflow_quietly\n"
                    "tf = _import_tensorflow_quietly()\n"
                    "print('not a notice', file=sys.stderr)")
    assert "oneDNN" not in quiet and "InitializeLog" not in quiet
    assert quiet.splitlines() == ["not a notice", "after the import"]


def test_a_promoted_candidate_continues_from_its_rung_weights(tmp_path):
    import numpy as np

    from evoapproxnas.search.campaign import create_run
    from evoapproxnas.search.problem import load_data
    from evoapproxnas.search.rundir import read_weights
    from evoapproxnas.search.worker import train_task

    tiny = os.path.join(os.path.dirname(__file__), "tiny.toml")
    run = create_run(tiny, tmp_path / "run", ["training.epochs=3", "search.rungs=[1]"])
    state = {"run": run, "cfg": run.config, "dataset": load_data(run.config),
             "problem": run.problem}
    genome = run.problem.space.sample(np.random.default_rng(3))
    key = run.problem.space.key(genome)
    task = {"genome": [int(v) for v in genome], "hash": key, "seed": 11}
    low = train_task(state, {**task, "epochs": 1})
    rung, full = run.weights_path(key, 1), run.weights_path(key)
    assert low["status"] == "ok" and rung.is_file() and not full.exists()
    rung_bytes = rung.read_bytes()

    first = train_task(state, {**task, "epochs": 3, "continue_from": 1})
    assert first["status"] == "ok" and full.is_file()
    assert rung.read_bytes() == rung_bytes  # the rung it continued from is kept as it was
    trained = read_weights(full)
    again = train_task(state, {**task, "epochs": 3, "continue_from": 1})
    assert again["val_accuracy"] == first["val_accuracy"]  # deterministic
    assert all(np.array_equal(a, b) for a, b in zip(read_weights(full), trained))

    # the rung's weights are the starting point: other starting weights, other result
    np.savez(rung, *[np.zeros_like(w) for w in read_weights(rung)])
    train_task(state, {**task, "epochs": 3, "continue_from": 1})
    assert not all(np.array_equal(a, b) for a, b in zip(read_weights(full), trained))

    rung.unlink()
    lost = train_task(state, {**task, "epochs": 3, "continue_from": 1})
    assert lost["status"] == "failed" and "cannot continue from the 1-epoch rung" in lost["reason"]
