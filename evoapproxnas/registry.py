"""Registries of classes by name: the one decorator behind ``register_engine``,
``register_space`` and ``register_model``.

A registry is a plain ``dict`` (name -> class) owned by the module that reads it; this module
only fills it. Below every floor: it imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=type)


def registrar(table: dict[str, type], what: str, attribute: str) -> Callable[[str], Callable[[T], T]]:
    """A ``register(name)`` class decorator for ``table``: the class is stored under
    ``name`` and gets ``cls.<attribute> = name``; a second class of that name is a
    ``ValueError`` naming the first one (``what`` says what is registered, e.g.
    ``"an engine"``)."""

    def register(name: str) -> Callable[[T], T]:
        def decorate(cls: T) -> T:
            if name in table:
                first = table[name]
                raise ValueError(f"{what} named {name!r} is already registered "
                                 f"({first.__module__}.{first.__qualname__})")
            setattr(cls, attribute, name)
            table[name] = cls
            return cls

        return decorate

    return register
