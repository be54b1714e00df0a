"""NSGA-II after DEAP: (mu + lambda) with ``selNSGA2`` survival; parents by binary tournament
on DEAP's Pareto rank and crowding distance; infeasible candidates get a delta penalty that
ranks them behind every feasible one. Its fitness classes serve the steady-state engine too."""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.engines.registry import register_engine
from evoapproxnas.search.engines.variation import vary
from evoapproxnas.search.spaces import unique_samples

PENALTY = 1e9
"""Objective value of an infeasible candidate, plus its violation (delta penalty)."""

MAX_OBJECTIVES = 8


def _make_fitness_classes() -> dict:
    """DEAP fitness classes with all-minimize weights, one per objective count (picklable)."""
    from deap import base

    classes = {}
    for n in range(1, MAX_OBJECTIVES + 1):
        name = f"MinFitness{n}"
        cls = type(name, (base.Fitness,), {"weights": (-1.0,) * n, "__module__": __name__})
        globals()[name] = classes[n] = cls
    return classes


_FITNESS = _make_fitness_classes()


class Individual:
    """A candidate and its DEAP fitness (minimized objectives)."""

    def __init__(self, x: np.ndarray, values) -> None:
        self.x = x
        values = tuple(float(v) for v in values)
        self.fitness = _FITNESS[len(values)](values)


@register_engine("deap")
class DeapEngine:
    """NSGA-II after DEAP: (mu + lambda) with ``selNSGA2`` survival and binary tournaments on
    Pareto rank and crowding; infeasible candidates ranked behind every feasible one."""

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 n_offspring: int | None = None) -> None:
        self.space, self.n_obj, self.pop_size = space, n_obj, pop_size
        self.n_offspring = n_offspring or pop_size
        """Offspring asked per generation after the first (``keep`` chooses those told)."""
        self.rng = np.random.default_rng(seed)
        self.population: list[Individual] = []
        self._asked: list[np.ndarray] = []

    def ask(self) -> list[np.ndarray]:
        """Random candidates first, then mutated tournament winners, all new to the population."""
        seen = {self.space.key(ind.x) for ind in self.population}
        if not self.population:
            self._asked = unique_samples(self.space, self.pop_size, self.rng, seen)
            return list(self._asked)
        from deap import tools

        for front_rank, front in enumerate(tools.sortNondominated(self.population,
                                                                   len(self.population))):
            tools.emo.assignCrowdingDist(front)
            for ind in front:
                ind.rank = front_rank

        def winner(rng):
            a, b = rng.choice(len(self.population), 2, replace=False)
            pa, pb = self.population[a], self.population[b]
            return min((pa, pb), key=lambda i: (i.rank, -i.fitness.crowding_dist))

        def child(rng):
            better = winner(rng)
            if getattr(self.space, "crossover_rate", 0.0):  # a second parent for a crossover
                return vary(self.space, better.x, winner(rng).x, rng)
            return self.space.mutate(better.x, rng)

        n = getattr(self, "n_offspring", None) or self.pop_size  # checkpoints before it
        self._asked = unique_samples(self.space, n, self.rng, seen, make=child)
        return list(self._asked)

    def keep(self, indices) -> None:
        """Evaluate only the asked candidates at ``indices`` (in that order): ``tell`` then
        takes their rows alone."""
        self._asked = [self._asked[int(i)] for i in indices]

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Merge the evaluated batch into the population and keep the NSGA-II best."""
        from deap import tools

        offspring = [Individual(x, f if c <= 0 else np.full(self.n_obj, PENALTY + c))
                     for x, f, c in zip(self._asked, np.asarray(F, float), np.asarray(cv))]
        self.population = tools.selNSGA2(self.population + offspring, self.pop_size)
        self._asked = []
