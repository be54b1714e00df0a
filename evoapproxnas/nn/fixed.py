"""A fixed, trained network with approximate layers (bring your own network): assign one
multiplier per layer, fine-tune through the tables, measure accuracy (TensorFlow).

The model comes from ``approx.convert`` (a user's Keras model whose multiplying layers are
approximate); nothing here builds a network from a graph.
"""

from __future__ import annotations

import math

import numpy as np

from evoapproxnas.approx.layers import approx_layers, set_multiplier
from evoapproxnas.nn.train import evaluate, set_approx_training, train_epoch, training_step

FINE_TUNE_BATCH = 64
"""Images per step of a fine-tuning epoch."""
FINE_TUNE_RATE = 1e-4
"""Adam's learning rate when fine-tuning a trained network (small: it starts trained)."""


def assign(model, assignment: dict, exact) -> None:
    """Give each approximate layer of ``model`` its multiplier: ``assignment`` maps layer
    names to ``Multiplier`` objects (``None``: ``exact``); layers it does not name take
    ``exact``."""
    plan = {layer.name: exact for layer in approx_layers(model)}
    plan.update({name: (mult if mult is not None else exact)
                 for name, mult in assignment.items()})
    set_multiplier(model, plan)


def outputs_logits(model) -> bool:
    """False when the model ends in a softmax (its outputs are probabilities)."""
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "") if activation is not None else ""
    return not (name == "softmax" or type(last).__name__ == "Softmax")


def fine_tune(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int,
              batch_size: int = FINE_TUNE_BATCH, learning_rate: float = FINE_TUNE_RATE) -> None:
    """``epochs`` epochs of approximation-aware training (table forward, straight-through
    gradient) of ``model`` on ``x, y`` with Adam; the shuffle order comes from ``seed``."""
    import keras
    import tensorflow as tf

    if epochs <= 0:
        return
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=outputs_logits(model)))
    set_approx_training(model, True)
    try:
        step = training_step(model, x, y)
        rng = np.random.default_rng(int(seed))
        for _ in range(epochs):
            train_epoch(step, x, y, batch_size, rng)
    finally:
        set_approx_training(model, False)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` in inference mode (through the tables)."""
    value = evaluate(model, x, y)
    return value if math.isfinite(value) else 0.0
