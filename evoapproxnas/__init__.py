"""evoapproxnas: evolutionary multi-objective NAS with approximate 8-bit multipliers.

Importing the package never imports TensorFlow; only ``evoapproxnas.approx`` layers,
``evoapproxnas.nn`` and the commands that train networks do, lazily.
"""

__version__ = "0.1.0"
