"""Graph -> Keras model with approximate layers, training and evaluation.

The modules that build and train import TensorFlow; ``evoapproxnas.nn.budget`` does not, and
this package loads the others only when one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from evoapproxnas.nn.budget import TrainBudget

_LAZY = {
    "build_model": "evoapproxnas.nn.builder",
    "make_layer": "evoapproxnas.nn.layers",
    "resolve_multipliers": "evoapproxnas.nn.layers",
    "TrainResult": "evoapproxnas.nn.train",
    "evaluate": "evoapproxnas.nn.train",
    "train_and_evaluate": "evoapproxnas.nn.train",
}

__all__ = ["TrainBudget", "TrainResult", "build_model", "evaluate", "make_layer",
           "resolve_multipliers", "train_and_evaluate"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
