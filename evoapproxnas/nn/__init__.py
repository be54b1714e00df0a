"""Graph -> Keras model with approximate layers, training and evaluation (imports TensorFlow)."""

from evoapproxnas.nn.builder import build_model
from evoapproxnas.nn.layers import make_layer, resolve_multipliers
from evoapproxnas.nn.train import TrainBudget, TrainResult, evaluate, train_and_evaluate

__all__ = [
    "TrainBudget",
    "TrainResult",
    "build_model",
    "evaluate",
    "make_layer",
    "resolve_multipliers",
    "train_and_evaluate",
]
