"""The fixed network of an assignment run directory (``space.kind = "assignment"``): load it
with one candidate's multipliers (and weights), and the worker task bodies that measure a
candidate (TensorFlow inside the functions)."""

from __future__ import annotations

import time
from pathlib import Path

_BASE: dict[str, tuple] = {}


def base_model(path: str):
    """The run's converted model (kept per process) and its trained weights."""
    if path not in _BASE:
        from evoapproxnas.approx.convert import load_model

        model = load_model(Path(path))
        _BASE[path] = (model, model.get_weights())
    return _BASE[path]


def candidate_model(problem, genome, weights: Path | None = None):
    """The fixed network with ``genome``'s multipliers and the trained weights (or those in
    ``weights``, an ``.npz`` of a fine-tuned candidate)."""
    from evoapproxnas.nn.fixed import assign

    space = problem.space
    model, trained = base_model(space.spec.model)
    arrays = trained if weights is None else _read_weights(weights)
    model.set_weights(arrays)
    choice = problem.choice
    assign(model, {name: (None if gene is None else choice.resolve(gene))
                   for name, gene in space.assignment(genome).items()}, choice.exact)
    return model


def _read_weights(path: Path) -> list:
    """The arrays of a candidate's weights ``.npz``; ``UserError`` if it is not one."""
    import zipfile

    import numpy as np

    from evoapproxnas.errors import UserError

    try:
        with np.load(path, allow_pickle=False) as arrays:
            return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable weights file ({exc}); restore the run "
                        "directory from a copy") from None


def save_weights(model, path: Path) -> None:
    """``model.get_weights()`` as an ``.npz``, atomically (as the campaign's workers save)."""
    import io

    import numpy as np

    from evoapproxnas.atomic import write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, *model.get_weights())
    write_bytes(path, buffer.getvalue())


def weights_of(run, key: str) -> Path | None:
    """The saved weights of a fine-tuned candidate, or ``None`` (it uses the model's own)."""
    path = run.weights_path(key)
    return path if path.is_file() else None


def train_task(state: dict, task):
    """Measure one assignment candidate (``TrainTask``): the fixed network with its
    multipliers, fine-tuned for ``training.table_epochs`` epochs first when
    ``space.fine_tune`` is on (its weights are then saved)."""
    import numpy as np

    from evoapproxnas.nn.fixed import accuracy, fine_tune
    from evoapproxnas.search.tasks import TrainOutcome

    started_at = time.time()
    cfg, problem, run, data = state["cfg"], state["problem"], state["run"], state["dataset"]
    budget = cfg.training
    model = candidate_model(problem, task.genome)
    epochs = budget.table_epochs if cfg.space.fine_tune else 0
    if epochs:
        x, y = data.x_train[: budget.train_samples], data.y_train[: budget.train_samples]
        fine_tune(model, x, y, epochs, task.seed, budget.batch_size, budget.learning_rate)
        save_weights(model, run.weights_path(task.hash))
    trained = time.time()
    xv, yv = data.x_val[: budget.val_samples], data.y_val[: budget.val_samples]
    val = accuracy(model, xv, np.asarray(yv))
    return TrainOutcome(status="ok", val_accuracy=val, train_seconds=trained - started_at,
                        eval_seconds=time.time() - trained, started_at=started_at,
                        ended_at=time.time())


def test_task(state: dict, task):
    """Test-set accuracy of an assignment candidate (``TestTask``)."""
    from evoapproxnas.nn.fixed import accuracy
    from evoapproxnas.search.tasks import TestOutcome

    data, budget, run = state["dataset"], state["cfg"].training, state["run"]
    model = candidate_model(state["problem"], task.genome, weights_of(run, task.hash))
    xv, yv = data.x_val[: budget.val_samples], data.y_val[: budget.val_samples]
    return TestOutcome(test_accuracy=accuracy(model, data.x_test, data.y_test),
                       val_accuracy=accuracy(model, xv, yv))
