"""Code that runs inside worker processes: training a candidate, testing a trained one.

Each worker opens the run directory and loads the dataset and multipliers once
(``init_worker``); TensorFlow is imported there, never in the main process.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import os
from pathlib import Path

from evoapproxnas.search.tasks import TestOutcome, TestTask, TrainOutcome, TrainTask

CRASH_RETRY_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "EVOAPPROXNAS_CRASH_RETRY": "1"}
"""Environment of the process that trains a candidate again after its worker crashed
(``WorkerPool(crash_retry_env=...)``): TensorFlow's Eigen float kernels instead of oneDNN's.
TensorFlow 2.21's oneDNN kernels corrupt the heap while training some networks (glibc aborts
"corrupted size vs. prev_size" in the conv filter gradient, or a SIGSEGV: the same candidate
every time, with or without the table op, whichever build of it); Eigen's train them."""

CRASH_RETRY_NOTE = "trained with TensorFlow's Eigen kernels after its worker crashed"
"""``reason`` of a successful record trained in the crash-retry environment."""


def init_worker(run_dir: str, threads: int) -> dict:
    """Per-process state: the run directory, its config, problem and dataset.

    ``threads`` sizes TensorFlow's thread pools (0 = TensorFlow's default, all cores). What
    the worker needs from outside (the run directory, the dataset) is opened first, before
    TensorFlow's import, so a worker that cannot start says why (``UserError``: the pool
    raises ``WorkerStartError``) within a second.
    """
    import logging

    from evoapproxnas.search.problem import load_data
    from evoapproxnas.search.study.rundir import RunDir
    from evoapproxnas.tf_env import apply_onednn_default

    run = RunDir(run_dir)
    cfg = run.config
    dataset = load_data(cfg)
    problem = run.problem
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    apply_onednn_default()
    tf = _import_tensorflow_quietly()

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    state = {"run": run, "cfg": cfg, "dataset": dataset, "problem": problem}
    # everything loaded so far lives as long as the process: out of the cyclic garbage
    # collector's sight, each collection during a candidate's model building is cheaper
    gc.freeze()
    return state


TF_NOTICES = ("oneDNN custom operations are on", "absl::InitializeLog() is called")
"""Start-up lines TensorFlow writes to the process's stderr before its logging is set up."""


def _import_tensorflow_quietly():
    """``import tensorflow`` with its start-up notices (``TF_NOTICES``) kept off the console:
    file descriptor 2 goes to a temporary file during the import, and every other line it
    received is written back to stderr."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not any(notice in line for notice in TF_NOTICES):
                    print(line, file=sys.stderr)
    return tf


def save_weights(model, path: Path) -> None:
    """``model.get_weights()`` as an ``.npz`` (the builder's deterministic order), atomically."""
    import numpy as np

    from evoapproxnas.atomic import write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, *model.get_weights())
    write_bytes(path, buffer.getvalue())


def train_task(state: dict, task: TrainTask) -> TrainOutcome:
    """Train one candidate as ``task`` says (from scratch, on from its rung's weights, or from
    a donor's weights); save its weights; return accuracies and timings (of this task's own
    training)."""
    if task.crash:
        os._exit(3)  # injected failure (debug.fail_fraction / debug.fail_hashes)
    if task.die_once:  # injected worker death, once per candidate (debug.die_once_*)
        marker = state["run"].models_dir / f".died-{task.hash}"
        if not marker.exists():
            marker.touch()
            os._exit(9)
    if state["cfg"].space.kind == "assignment":  # a fixed trained network (docs/byo.md)
        from evoapproxnas.search.byo.network import train_task as assignment_task

        return assignment_task(state, task)
    import time

    from evoapproxnas.errors import UserError
    from evoapproxnas.nn import TrainResult, train_and_evaluate
    from evoapproxnas.search.study.rundir import read_weights

    started_at = time.time()
    cfg, problem, run = state["cfg"], state["problem"], state["run"]
    graph = problem.decode(task.genome)
    budget = cfg.training
    epochs = task.epochs or budget.epochs
    done = task.continue_from or 0  # epochs of the rung it continues
    donor = task.inherit_from
    if donor:  # weight inheritance: train only inherit_epochs from the donor's weights
        done, start_from = epochs - task.inherit_epochs, run.weights_path(donor)
    else:
        start_from = run.weights_path(task.hash, done) if done else None
    if epochs - done != budget.epochs:  # a rung of successive halving, or inheritance
        budget = dataclasses.replace(budget, epochs=epochs - done,
                                     table_epochs=min(budget.table_epochs, epochs - done))
    try:
        initial = None if start_from is None else read_weights(start_from)
    except (OSError, ValueError, UserError) as exc:  # UserError: a damaged weights file
        source = f"candidate {donor}" if donor else f"the {done}-epoch rung"
        result = TrainResult(status="failed",
                             reason=f"cannot start from the weights of {source}: {exc}")
    else:
        result = train_and_evaluate(graph, problem.multipliers, state["dataset"], budget,
                                    task.seed, time_limit_s=cfg.executor.time_limit_s,
                                    evaluate_exact=epochs == cfg.training.epochs,
                                    return_model=True,
                                    weight_quantization=cfg.multipliers.weight_quantization,
                                    initial_weights=initial)
    if result.status == "ok":
        save_weights(result.model, run.weights_path(task.hash, epochs))
    return TrainOutcome(status=result.status, reason=result.reason,
                        val_accuracy=result.val_accuracy,
                        val_accuracy_exact=result.val_accuracy_exact,
                        train_seconds=result.train_seconds, eval_seconds=result.eval_seconds,
                        started_at=started_at, ended_at=time.time(),
                        crash_retry=os.environ.get("EVOAPPROXNAS_CRASH_RETRY") == "1")


def test_task(state: dict, task: TestTask) -> TestOutcome:
    """Accuracy of a trained candidate on the held-out test set (and validation again)."""
    if state["cfg"].space.kind == "assignment":
        from evoapproxnas.search.byo.network import test_task as assignment_test

        return assignment_test(state, task)
    from evoapproxnas.nn import evaluate
    from evoapproxnas.search.study.rundir import load_trained

    data, budget = state["dataset"], state["cfg"].training
    model = load_trained(state["problem"], state["run"].weights_path(task.hash), task.genome)
    xv, yv = data.x_val[: budget.val_samples], data.y_val[: budget.val_samples]
    return TestOutcome(test_accuracy=evaluate(model, data.x_test, data.y_test),
                       val_accuracy=evaluate(model, xv, yv))
