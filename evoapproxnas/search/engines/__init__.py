"""Search engines: one ask/tell protocol and a registry the config validates against.

``ask()`` returns the next batch of candidates (integer vectors); ``tell(F, cv)`` gives back
their objective vectors (all minimized) and constraint violations (0 = feasible). An engine
is plain picklable state, its random generator included: pickling it is the checkpoint.

Built in (each registered under its name by ``register_engine``):

- ``pymoo``: pymoo's NSGA-II (``nsga2_pymoo.PymooEngine``) with the space's sampling and
  mutation, no crossover, duplicates removed by candidate key.
- ``deap``: (mu + lambda) with DEAP's ``selNSGA2`` survival (``nsga2_deap.DeapEngine``).
- ``random``: fresh random candidates every generation (``random_search.RandomEngine``).
- ``reinforce``: a REINFORCE controller (a GRU policy over the space's decisions,
  ``reinforce.ReinforceEngine``; generational mode only).
- ``dance``: the differentiable co-search (``dance.DanceEngine``): a supernet per
  ``dance.lambdas`` value, each giving one derived candidate (generational mode only).

``asynchronous=True`` gives any of them its steady-state mode
(``steady_state.SteadyStateEngine``), one candidate at a time.
"""

from __future__ import annotations

from evoapproxnas.search.engines.registry import ENGINES, Engine, engine_names, register_engine

__all__ = ["ENGINES", "Engine", "engine_names", "make_engine", "register_engine"]


def make_engine(name: str, space, n_obj: int, pop_size: int, seed: int,
                asynchronous: bool = False, config=None):
    """A new engine by name (the config validates it against ``ENGINES``);
    ``asynchronous`` gives its steady-state mode (``SteadyStateEngine``). With the
    campaign's ``config``, an engine class with an ``options(config)`` classmethod gets
    the keyword arguments it returns (the controller's settings and reward)."""
    if asynchronous:
        from evoapproxnas.search.engines.steady_state import SteadyStateEngine

        return SteadyStateEngine(space, n_obj, pop_size, seed, survival=name)
    cls = ENGINES[name]
    options = cls.options(config) if config is not None and hasattr(cls, "options") else {}
    return cls(space, n_obj, pop_size, seed, **options)


# the built-in engines register themselves on import, in this order
# isort: off
from evoapproxnas.search.engines import nsga2_pymoo  # noqa: E402, F401
from evoapproxnas.search.engines import nsga2_deap  # noqa: E402, F401
from evoapproxnas.search.engines import random_search  # noqa: E402, F401
from evoapproxnas.search.engines import reinforce  # noqa: E402, F401
from evoapproxnas.search.engines import dance  # noqa: E402, F401
# isort: on
