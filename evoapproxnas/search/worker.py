"""Code that runs inside worker processes: training a candidate, testing a trained one.

Each worker loads the dataset and multipliers once (``init_worker``); TensorFlow is imported
there, never in the main process.
"""

from __future__ import annotations

import io
import os
from pathlib import Path


def init_worker(config_dict: dict, run_dir: str, threads: int) -> dict:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
    from evoapproxnas.config import config_from_dict
    from evoapproxnas.search.problem import CampaignProblem, load_data

    cfg = config_from_dict(config_dict, "config.json")
    dataset = load_data(cfg)
    return {"cfg": cfg, "dataset": dataset, "problem": CampaignProblem.build(cfg, dataset),
            "models": Path(run_dir) / "models"}


def weights_path(models_dir, key: str) -> Path:
    """Trained weights of a candidate: ``model.get_weights()`` as an ``.npz`` (arrays in the
    builder's deterministic order, every variable included)."""
    return Path(models_dir) / f"{key}.weights.npz"


def save_weights(model, path: Path) -> None:
    import numpy as np

    from evoapproxnas.atomic import write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, *model.get_weights())
    write_bytes(path, buffer.getvalue())


def train_task(state: dict, payload: dict) -> dict:
    """Train one candidate; save its weights; return accuracies and timings."""
    if payload.get("crash"):
        os._exit(3)  # injected failure (debug.fail_fraction / debug.fail_hashes)
    from evoapproxnas.nn import TrainBudget, train_and_evaluate

    cfg, problem = state["cfg"], state["problem"]
    graph = problem.decode(payload["genome"])
    budget = TrainBudget(**vars(cfg.training))
    result = train_and_evaluate(graph, problem.multipliers, state["dataset"], budget,
                                payload["seed"], time_limit_s=cfg.search.time_limit_s,
                                return_model=True)
    if result.status == "ok":
        save_weights(result.model, weights_path(state["models"], payload["hash"]))
    return {"status": result.status, "reason": result.reason,
            "val_accuracy": result.val_accuracy, "val_accuracy_exact": result.val_accuracy_exact,
            "train_seconds": result.train_seconds, "eval_seconds": result.eval_seconds}


def load_trained(problem, models_dir, genome, key: str):
    """The candidate's Keras model with its approximate multipliers and trained weights."""
    import numpy as np

    from evoapproxnas.nn import build_model

    model = build_model(problem.decode(genome), problem.multipliers)
    with np.load(weights_path(models_dir, key)) as arrays:
        model.set_weights([arrays[f"arr_{i}"] for i in range(len(arrays.files))])
    return model


def test_task(state: dict, payload: dict) -> dict:
    """Accuracy of a trained candidate on the held-out test set (and validation again)."""
    from evoapproxnas.nn import evaluate

    data, batch = state["dataset"], state["cfg"].training.batch_size
    model = load_trained(state["problem"], state["models"], payload["genome"], payload["hash"])
    xv, yv = data.x_val[: state["cfg"].training.val_samples], data.y_val[
        : state["cfg"].training.val_samples]
    return {"test_accuracy": evaluate(model, data.x_test, data.y_test, batch),
            "val_accuracy": evaluate(model, xv, yv, batch)}
