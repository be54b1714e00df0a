"""pymoo's NSGA-II driven through ``ask``/``tell`` (its mating, survival, non-dominated
sorting and crowding), with the space's sampling and mutation."""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.engines.registry import register_engine


@register_engine("pymoo")
class PymooEngine:
    """pymoo's NSGA-II driven through ``ask``/``tell`` (mutation only, duplicates removed).

    ``space`` samples, mutates and identifies candidates; ``n_obj`` objectives are minimized;
    ``pop_size`` candidates per generation (``n_offspring`` offspring asked per generation
    after the first, default ``pop_size``); ``seed`` fixes every random choice. Where the
    space recombines (``crossover_rate``), an offspring is a crossover or a mutation
    (``pymoo_operators.SpaceVariation``).
    """

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 n_offspring: int | None = None) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.nox import NoCrossover
        from pymoo.operators.mutation.nom import NoMutation

        from evoapproxnas.search.engines.pymoo_operators import (
            KeyDuplicateElimination,
            SpaceMutation,
            SpaceProblem,
            SpaceSampling,
            SpaceVariation,
        )

        self.space = space
        self.problem = SpaceProblem(space, n_obj)
        if getattr(space, "crossover_rate", 0.0):  # crossover or mutation, never both
            variation = {"crossover": SpaceVariation(), "mutation": NoMutation()}
        else:
            variation = {"crossover": NoCrossover(), "mutation": SpaceMutation()}
        self.n_offspring = n_offspring or pop_size
        self.algorithm = NSGA2(pop_size=pop_size, n_offsprings=self.n_offspring,
                               sampling=SpaceSampling(), **variation,
                               eliminate_duplicates=KeyDuplicateElimination(space))
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=int(seed),
                             verbose=False)
        self._asked = None

    def ask(self) -> list[np.ndarray]:
        """The next generation's candidates (the initial population first)."""
        self._asked = self.algorithm.ask()
        return [np.asarray(x, dtype=np.int64) for x in self._asked.get("X")]

    def keep(self, indices) -> None:
        """Evaluate only the asked candidates at ``indices`` (in that order): ``tell`` then
        takes their rows alone (the predictor-assisted search trains a few of many
        offspring)."""
        self._asked = self._asked[np.asarray(indices, dtype=int)]

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Objective rows (minimized) and violations (0 = feasible) of the asked batch."""
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        static = StaticProblem(self.problem, F=np.asarray(F, float),
                               G=np.asarray(cv, float).reshape(-1, 1))
        # offspring are copies of their parents: re-evaluate all, never "already evaluated"
        Evaluator(skip_already_evaluated=False).eval(static, self._asked)
        self.algorithm.tell(infills=self._asked)
        self._asked = None
