"""Approximate 8x8-bit multipliers: the model, libraries (bundled and user), error metrics.

Free of TensorFlow. ``load_library(name_or_path)`` returns a cached :class:`MultiplierLibrary`;
``lib[name]`` a :class:`Multiplier` with ``lut[a, b]`` (a = activation code, b = weight code).
"""

from evoapproxnas.multipliers.library import (
    DEFAULT_LIBRARY,
    MultiplierLibrary,
    list_libraries,
    load_library,
    write_library,
)
from evoapproxnas.multipliers.metrics import (
    ErrorMetrics,
    compute_error_metrics,
    error_metrics,
)
from evoapproxnas.multipliers.model import Multiplier

__all__ = [
    "DEFAULT_LIBRARY",
    "ErrorMetrics",
    "Multiplier",
    "MultiplierLibrary",
    "compute_error_metrics",
    "error_metrics",
    "list_libraries",
    "load_library",
    "write_library",
]
