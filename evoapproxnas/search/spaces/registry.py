"""The registry of search spaces by name (``[space] kind``) and the ``Decision`` record.

A space class registers itself with ``@register_space(name)`` (a second class of that name is
a ``ValueError``). The campaign's problem asks the registry for the class of
``cfg.space.kind`` and builds it in two steps, so a viewer of a run directory and every
worker get the same space from the resolved config:

- ``cls.make_spec(cfg, multipliers) -> spec``: the space's settings resolved against the
  campaign (its allowed multipliers); ``UserError`` (one line) on a bad value;
- ``cls(spec, input_shape, n_classes)``: the space itself (``SearchSpace`` protocol).

This module imports nothing of the spaces themselves (``search.spaces`` imports them, and
they register on import).
"""

from __future__ import annotations

from dataclasses import dataclass

from evoapproxnas.registry import registrar


@dataclass(frozen=True)
class Decision:
    """One categorical decision of a space: a gene taking ``n_options`` values.

    Option ``i`` (``0 <= i < n_options``) is the ``i``-th allowed value of the gene
    (``SearchSpace.compose`` turns a list of options into a candidate); ``name`` says what it
    decides (e.g. ``"layer2.kernel"``, ``"node5.input0"``).
    """

    name: str
    n_options: int


SPACES: dict[str, type] = {}
"""Search-space classes by name (``space.kind``), filled by ``register_space``."""


register_space = registrar(SPACES, "a search space", "kind")
"""Class decorator ``@register_space(name)``: register a search space under ``name`` (a
second one of that name is a ``ValueError``)."""


def space_names() -> tuple[str, ...]:
    """The registered spaces' names, in registration order."""
    return tuple(SPACES)
