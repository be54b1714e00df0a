"""Approximate 8xN-bit multipliers: the model, libraries (bundled and user), error metrics.

Free of TensorFlow. ``load_library(name_or_path)`` returns a cached :class:`MultiplierLibrary`;
``lib[name]`` a :class:`Multiplier` with ``lut[a, b]`` (a = 8-bit activation code, b = weight
code of ``weight_bits`` N = 2..8 bits; ``lut.shape == (256, 2**N)``, 256x256 for 8x8).
:class:`MultiplierChoice` resolves multiplier genes (``None`` = the exact multiplier) and
``relative_power`` measures a multiplier against the exact one of its own library.
"""

from evoapproxnas.multipliers.choice import (
    MultiplierChoice,
    library_exact,
    reference_exact,
    relative_power,
)
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
    "MultiplierChoice",
    "MultiplierLibrary",
    "compute_error_metrics",
    "error_metrics",
    "library_exact",
    "list_libraries",
    "load_library",
    "reference_exact",
    "relative_power",
    "write_library",
]
