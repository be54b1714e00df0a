"""Worker start-up (TensorFlow's import notices stay off the console, other output does not)
and a promoted candidate's training on from the weights of its rung."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from evoapproxnas.search.tasks import TrainTask

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
    from evoapproxnas.search.study.rundir import read_weights
    from evoapproxnas.search.worker import train_task

    tiny = os.path.join(os.path.dirname(__file__), "tiny.toml")
    run = create_run(tiny, tmp_path / "run", ["training.epochs=3", "fidelity.rungs=[1]"])
    state = {"run": run, "cfg": run.config, "dataset": load_data(run.config),
             "problem": run.problem}
    genome = run.problem.space.sample(np.random.default_rng(3))
    key = run.problem.space.key(genome)
    task = TrainTask(genome=[int(v) for v in genome], hash=key, seed=11, epochs=1)
    low = train_task(state, task)
    rung, full = run.weights_path(key, 1), run.weights_path(key)
    assert low.status == "ok" and rung.is_file() and not full.exists()
    rung_bytes = rung.read_bytes()

    first = train_task(state, replace(task, epochs=3, continue_from=1))
    assert first.status == "ok" and full.is_file()
    assert rung.read_bytes() == rung_bytes  # the rung it continued from is kept as it was
    trained = read_weights(full)
    again = train_task(state, replace(task, epochs=3, continue_from=1))
    assert again.val_accuracy == first.val_accuracy  # deterministic
    assert all(np.array_equal(a, b) for a, b in zip(read_weights(full), trained))

    # the rung's weights are the starting point: other starting weights, other result
    np.savez(rung, *[np.zeros_like(w) for w in read_weights(rung)])
    train_task(state, replace(task, epochs=3, continue_from=1))
    assert not all(np.array_equal(a, b) for a, b in zip(read_weights(full), trained))

    rung.unlink()
    lost = train_task(state, replace(task, epochs=3, continue_from=1))
    assert lost.status == "failed"
    assert "cannot start from the weights of the 1-epoch rung" in lost.reason


def test_an_heir_trains_from_its_donors_weights(tmp_path):
    import numpy as np

    from evoapproxnas.cgp.genome import multiplier_gene_indices
    from evoapproxnas.search.campaign import create_run
    from evoapproxnas.search.problem import load_data
    from evoapproxnas.search.study.rundir import read_weights
    from evoapproxnas.search.worker import train_task

    tiny = os.path.join(os.path.dirname(__file__), "tiny.toml")
    run = create_run(tiny, tmp_path / "run", ["training.epochs=2", "fidelity.inherit_epochs=1"])
    state = {"run": run, "cfg": run.config, "dataset": load_data(run.config),
             "problem": run.problem}
    space = run.problem.space
    genome = space.sample(np.random.default_rng(3))
    genome[multiplier_gene_indices(space.spec)] = 0  # exact everywhere
    heir = genome.copy()
    heir[multiplier_gene_indices(space.spec)] = 2    # mul8u_17KS everywhere
    donor_key, heir_key = space.key(genome), space.key(heir)
    assert donor_key != heir_key and space.network_key(genome) == space.network_key(heir)

    donor = train_task(state, TrainTask(genome=genome.tolist(), hash=donor_key, seed=5,
                                        epochs=2))
    assert donor.status == "ok"
    donor_bytes = run.weights_path(donor_key).read_bytes()
    task = TrainTask(genome=heir.tolist(), hash=heir_key, seed=6, epochs=2,
                     inherit_from=donor_key, inherit_epochs=1)
    first = train_task(state, task)
    assert first.status == "ok" and first.val_accuracy_exact is not None
    assert run.weights_path(donor_key).read_bytes() == donor_bytes
    trained = read_weights(run.weights_path(heir_key))
    assert train_task(state, task).val_accuracy == first.val_accuracy
    assert all(np.array_equal(a, b) for a, b in zip(read_weights(run.weights_path(heir_key)),
                                                     trained))
    # from the donor's weights, not from scratch: other donor weights, other result
    np.savez(run.weights_path(donor_key), *[w * 0.5 for w in read_weights(
        run.weights_path(donor_key))])
    train_task(state, task)
    assert not all(np.array_equal(a, b) for a, b in zip(
        read_weights(run.weights_path(heir_key)), trained))

    run.weights_path(donor_key).unlink()
    lost = train_task(state, task)
    assert lost.status == "failed" and f"candidate {donor_key}" in lost.reason
