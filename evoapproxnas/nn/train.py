"""Training a candidate for a budget and measuring its accuracy with approximate multipliers.

``train_and_evaluate`` sets TensorFlow's global seeds (``keras.utils.set_random_seed``) and
op determinism: run it in a worker process of its own when the caller needs its globals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION
from evoapproxnas.nn.budget import TrainBudget


@dataclass
class TrainResult:
    """Outcome of one candidate; ``status`` is "ok" or "failed" (with ``reason``)."""

    status: str
    reason: str | None = None
    val_accuracy: float | None = None
    val_accuracy_exact: float | None = None
    test_accuracy: float | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    model: object = field(default=None, repr=False)


class _Failure(Exception):
    """A candidate failed in a way that is its own, not the campaign's."""


def _optimizer(budget: TrainBudget, steps: int):
    """The budget's optimizer; with the cosine schedule its rate decays to 0 over ``steps``."""
    import keras

    classes = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
               "rmsprop": keras.optimizers.RMSprop}
    rate = budget.learning_rate
    if budget.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, steps))
    return classes[budget.optimizer](learning_rate=rate)


def _fit(model, x, y, budget: TrainBudget, deadline, shuffle_seed: int) -> None:
    """``budget.epochs`` epochs, the last ``budget.table_epochs`` through the product tables
    (one optimizer throughout: the switch changes the forward pass, not the training state)."""
    import keras

    steps = math.ceil(len(x) / budget.batch_size) * budget.epochs
    model.compile(optimizer=_optimizer(budget, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(shuffle_seed)
    exact_epochs = budget.epochs - budget.table_epochs
    phases = [(exact_epochs, False), (budget.table_epochs, True)]
    for epochs, through_tables in phases:
        if epochs <= 0:
            continue
        set_approx_training(model, through_tables)
        step = training_step(model, x, y)
        for _ in range(epochs):
            train_epoch(step, x, y, budget.batch_size, rng, deadline)
    set_approx_training(model, False)


def training_step(model, x: np.ndarray, y: np.ndarray):
    """One traced mini-batch step of ``model``'s compiled optimizer and loss (plus the
    layers' own losses), with the forward pass its approximate layers have now (exact, or
    through the tables: ``set_approx_training``); returns the batch's loss. ``x`` and ``y``
    give the shapes and dtypes; any batch size runs in the same graph."""
    import tensorflow as tf

    optimizer, loss_fn = model.optimizer, model.loss
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function(input_signature=[tf.TensorSpec((None, *x.shape[1:]), x.dtype),
                                  tf.TensorSpec((None, *y.shape[1:]), y.dtype)])
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def train_epoch(step, x: np.ndarray, y: np.ndarray, batch_size: int,
                rng: np.random.Generator, deadline: float | None = None) -> None:
    """One epoch of ``step`` (``training_step``) over ``x, y`` in the order of a permutation
    drawn from ``rng``; ``_Failure`` on a NaN or infinite loss or past ``deadline``.

    A plain loop over array slices: no ``tf.data`` pipeline. Keras ``fit`` feeds its steps
    through a prefetching ``tf.data`` iterator, and on these two-core machines that left the
    core of a one-thread worker idle 1-3 s of a 13 s epoch in most processes and about 10 s
    in some (wall time against CPU time, ``benchmarks/approx_training.py`` measures it)."""
    order = rng.permutation(len(x))
    xs, ys = x[order], y[order]
    for start in range(0, len(x), batch_size):
        loss = float(step(xs[start:start + batch_size], ys[start:start + batch_size]))
        if not math.isfinite(loss):
            raise _Failure("loss became NaN or infinite")
        if deadline is not None and time.perf_counter() > deadline:
            raise _Failure("time limit exceeded during training")


def set_approx_training(model, enabled: bool) -> None:
    """Switch every approximate layer of ``model`` to train through its tables (or not);
    a step traced before (``training_step``, Keras ``fit``'s) keeps the forward it had, so
    trace the next one after the switch (``fit``'s compiled step is dropped here)."""
    from evoapproxnas.approx.layers import approx_layers

    for layer in approx_layers(model):
        layer.approx_training = bool(enabled)
    model.train_function = None


EVAL_BATCH = 500
"""Images per inference batch: the table op gathers its product table once per call, so large
batches are cheaper, and an image's output does not depend on its batch."""


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = EVAL_BATCH) -> float:
    """Top-1 accuracy of ``model`` in inference mode (approximate layers use their tables).

    The batches run eagerly (``model(batch, training=False)``): a candidate is evaluated on
    a few batches only, and tracing ``predict``'s graph cost more than it saved (0.4 s of a
    0.7 s validation of a 2 M-multiplication network on one thread); the kernels are the same.
    """
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(model(x[start:start + batch_size], training=False))
        correct += int(np.sum(np.argmax(logits, axis=-1) == np.asarray(y[start:start + batch_size])))
    return correct / len(x) if len(x) else float("nan")


def train_and_evaluate(graph, multipliers, dataset, budget: TrainBudget, seed: int, *,
                       time_limit_s: float | None = None, evaluate_test: bool = False,
                       evaluate_exact: bool = True, return_model: bool = False,
                       weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION,
                       initial_weights: list[np.ndarray] | None = None) -> TrainResult:
    """Train the network of ``graph`` on the first ``budget.train_samples`` training images,
    then measure validation accuracy with its approximate multipliers and with the exact one.

    ``multipliers`` as for ``build_model``; ``None`` trains and evaluates a float network
    (both accuracies are then the float accuracy). ``evaluate_exact=False`` skips the
    evaluation with the exact multiplier (``val_accuracy_exact`` stays ``None``). NaN loss, resource exhaustion, TensorFlow
    runtime errors and ``time_limit_s`` (training and evaluation together) give
    ``status="failed"`` instead of raising. ``weight_quantization`` (``"per_tensor"`` or
    ``"per_channel"``) is passed to ``build_model`` for both models. ``initial_weights``
    (``model.get_weights()`` of the same network) continues an earlier training: the budget's
    epochs are trained on from those weights with a fresh optimizer (its learning-rate
    schedule restarts: a warm restart) and a shuffle order of their own.
    """
    import keras
    import tensorflow as tf

    from evoapproxnas.cgp import count_multiplications
    from evoapproxnas.nn.builder import build_model
    from evoapproxnas.nn.layers import resolve_multipliers

    # a continued training shuffles differently from the one it continues
    run_seed = int(seed) + (0 if initial_weights is None else 1)
    keras.utils.set_random_seed(run_seed)
    tf.config.experimental.enable_op_determinism()
    keras.backend.clear_session()
    start = time.perf_counter()
    deadline = None if time_limit_s is None else start + float(time_limit_s)
    result = TrainResult(status="ok")
    x, y = dataset.x_train[: budget.train_samples], dataset.y_train[: budget.train_samples]
    xv, yv = dataset.x_val[: budget.val_samples], dataset.y_val[: budget.val_samples]
    try:
        model = build_model(graph, multipliers, seed=seed,
                            weight_quantization=weight_quantization)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        _fit(model, x, y, budget, deadline, run_seed)
        result.train_seconds = time.perf_counter() - start
        eval_start = time.perf_counter()
        result.val_accuracy = evaluate(model, xv, yv)
        if multipliers is None:
            result.val_accuracy_exact = result.val_accuracy
        elif evaluate_exact:
            genes = list(count_multiplications(graph))
            exact = resolve_multipliers([None], multipliers)[None]
            exact_model = build_model(graph, {g: exact for g in genes if g is not None},
                                      seed=seed, weight_quantization=weight_quantization)
            exact_model.set_weights(model.get_weights())
            result.val_accuracy_exact = evaluate(exact_model, xv, yv)
        if evaluate_test:
            result.test_accuracy = evaluate(model, dataset.x_test, dataset.y_test)
        result.eval_seconds = time.perf_counter() - eval_start
        if deadline is not None and time.perf_counter() > deadline:
            raise _Failure("time limit exceeded during evaluation")
        if return_model:
            result.model = model
    except _Failure as exc:
        result.status, result.reason = "failed", str(exc)
    except (tf.errors.ResourceExhaustedError, MemoryError) as exc:
        result.status, result.reason = "failed", f"resource exhausted: {_first_line(exc)}"
    except tf.errors.OpError as exc:
        result.status, result.reason = "failed", f"TensorFlow error: {_first_line(exc)}"
    if result.status == "failed":
        result.train_seconds = result.train_seconds or time.perf_counter() - start
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
