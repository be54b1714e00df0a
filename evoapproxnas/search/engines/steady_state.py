"""The asynchronous (steady-state) mode of the engines: one candidate at a time, so that no
worker waits for the slowest candidate of a generation."""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.engines.nsga2_deap import PENALTY, Individual
from evoapproxnas.search.spaces import unique_samples


class SteadyStateEngine:
    """The asynchronous (steady-state) mode of the NSGA-II engines: one candidate at a time.

    ``ask_one()`` returns a new candidate whenever a worker frees up: random ones until
    ``pop_size`` have been asked, then the mutated winner of a binary tournament on Pareto
    rank and crowding among the candidates evaluated so far. ``tell_one`` adds a result and
    keeps the ``pop_size`` best by NSGA-II survival: DEAP's ``selNSGA2`` (``survival="deap"``)
    or pymoo's ``RankAndCrowding`` (``"pymoo"``); ``"random"`` never selects. The engine is
    deterministic given the order of its asks and tells, which the archive records.
    """

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 survival: str = "deap") -> None:
        self.space, self.n_obj, self.pop_size, self.survival = space, n_obj, pop_size, survival
        self.rng = np.random.default_rng(seed)
        self.population: list[Individual] = []
        self.seen: set[str] = set()
        self.asked = 0

    def ask_one(self) -> np.ndarray:
        """The next candidate (never one asked before, unless the space is exhausted)."""
        self.asked += 1
        if self.survival == "random" or self.asked <= self.pop_size or len(
                self.population) < 2:
            return unique_samples(self.space, 1, self.rng, self.seen)[0]
        rank, crowding = self._rank_and_crowding()

        def child(rng):
            a, b = rng.choice(len(self.population), 2, replace=False)
            better = min((a, b), key=lambda i: (rank[i], -crowding[i]))
            return self.space.mutate(self.population[better].x, rng)

        return unique_samples(self.space, 1, self.rng, self.seen, make=child)[0]

    def tell_one(self, x: np.ndarray, f: np.ndarray, cv: float) -> None:
        """One evaluated candidate (objectives minimized, violation 0 = feasible)."""
        if self.survival == "random":
            return
        values = np.asarray(f, float) if cv <= 0 else np.full(self.n_obj, PENALTY + cv)
        self.population.append(Individual(np.asarray(x, dtype=np.int64), values))
        if len(self.population) > self.pop_size:
            self.population = self._survive()

    def _survive(self) -> list[Individual]:
        if self.survival == "deap":
            from deap import tools

            return tools.selNSGA2(self.population, self.pop_size)
        from pymoo.core.population import Population
        from pymoo.core.problem import Problem
        from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

        pop = Population.new("F", np.array([i.fitness.values for i in self.population]),
                             "index", np.arange(len(self.population)))
        pop.set("CV", np.zeros((len(pop), 1)))  # infeasible ones carry the penalty in F
        problem = Problem(n_var=self.space.n_var, n_obj=self.n_obj)
        kept = RankAndCrowding().do(problem, pop, n_survive=self.pop_size,
                                    random_state=self.rng)
        return [self.population[int(i)] for i in sorted(kept.get("index"))]

    def _rank_and_crowding(self) -> tuple[list[int], list[float]]:
        from deap import tools

        rank, crowding = {}, {}
        for r, front in enumerate(tools.sortNondominated(self.population,
                                                         len(self.population))):
            tools.emo.assignCrowdingDist(front)
            for ind in front:
                rank[id(ind)], crowding[id(ind)] = r, ind.fitness.crowding_dist
        return ([rank[id(i)] for i in self.population],
                [crowding[id(i)] for i in self.population])
