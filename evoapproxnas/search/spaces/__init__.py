"""Search spaces: what engines need to know about candidates (sample, mutate, identify).

``cgp.CGPSpace`` wraps the CGP genome functions, ``layers.LayerSpace`` is a chain of conv
layers (``[space] kind = "layers"``); each registers under its ``space.kind``
(``registry.register_space``) and decodes to the one graph format of ``cgp.decode``. Tests
may pass any object with the methods engines use (``SearchSpace`` protocol: sample, mutate,
key; the controller also ``decisions`` and ``compose``), so engines run without the CGP
package or TensorFlow.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from evoapproxnas.search.spaces.registry import SPACES, Decision, register_space, space_names


class SearchSpace(Protocol):
    """Candidates as integer vectors within ``lower``..``upper``; ``key`` identifies one.

    ``decisions()`` lists the candidate's categorical decisions (one ``Decision`` per gene,
    in gene order) and ``compose(options)`` makes the candidate of one option per decision:
    what a policy over decisions (the REINFORCE controller) needs. Campaign spaces also
    ``decode`` a candidate to the layer graph of ``cgp.decode``, ``validate`` one read back
    from a file (``ValueError``/``UserError``), give its ``network_key`` (multipliers
    aside) and re-price it with one multiplier gene everywhere (``priced_with``, over
    ``n_multipliers`` genes), and take the campaign's cheap-constraint filter
    (``set_filter`` / ``take_rejected``, ``redraw.Redrawing``).
    """

    n_var: int
    lower: np.ndarray
    upper: np.ndarray

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def key(self, x: np.ndarray) -> str: ...

    def decisions(self) -> list[Decision]: ...

    def compose(self, options) -> np.ndarray: ...


def unique_samples(space: SearchSpace, n: int, rng: np.random.Generator, seen: set[str],
                   make=None, max_tries: int = 200) -> list[np.ndarray]:
    """``n`` candidates whose keys are not in ``seen`` (``seen`` is updated).

    ``make(rng)`` draws one candidate (default ``space.sample``); after ``max_tries`` draws
    per slot a duplicate is accepted rather than looping forever on a tiny space.
    """
    make = make or space.sample
    out = []
    for _ in range(n):
        for _attempt in range(max_tries):
            x = make(rng)
            key = space.key(x)
            if key not in seen:
                break
        seen.add(key)
        out.append(np.asarray(x, dtype=np.int64))
    return out


# the built-in spaces register themselves on import, in this order
# isort: off
from evoapproxnas.search.spaces import cgp  # noqa: E402, F401
from evoapproxnas.search.spaces import layers  # noqa: E402, F401
from evoapproxnas.search.spaces import assignment  # noqa: E402, F401
# isort: on

__all__ = ["SPACES", "Decision", "SearchSpace", "register_space", "space_names",
           "unique_samples"]
