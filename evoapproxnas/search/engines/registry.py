"""The engine protocol and the registry of engines by name."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from evoapproxnas.registry import registrar


class Engine(Protocol):
    """What the campaign loop needs of a generational engine."""

    name: str
    space: object

    def ask(self) -> list[np.ndarray]:
        """The next generation's candidates."""

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Objective rows (minimized) and violations (0 = feasible) of the asked batch."""


ENGINES: dict[str, type] = {}
"""Engine classes by name (``search.engine``), filled by ``register_engine``."""


register_engine = registrar(ENGINES, "an engine", "name")
"""Class decorator ``@register_engine(name)``: register an engine under ``name`` (a second one
of that name is a ``ValueError``). Its constructor takes ``(space, n_obj, pop_size, seed)``."""


def engine_names() -> tuple[str, ...]:
    """The registered engines' names, in registration order."""
    return tuple(ENGINES)
