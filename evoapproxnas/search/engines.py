"""Search engines with one ask/tell interface, so the campaign can checkpoint every generation.

``ask()`` returns the next batch of candidates (integer vectors); ``tell(F, cv)`` gives back
their objective vectors (all minimized) and constraint violations (0 = feasible). An engine
is plain picklable state, its random generator included: pickling it is the checkpoint.

- ``PymooEngine``: pymoo's NSGA-II (its mating, survival, non-dominated sorting and crowding)
  with the space's sampling and mutation, no crossover, duplicates removed by candidate key.
- ``DeapEngine``: (mu + lambda) with DEAP's ``selNSGA2`` survival; parents by binary
  tournament on DEAP's Pareto rank and crowding distance; infeasible candidates get a
  delta penalty that ranks them behind every feasible one.
- ``RandomEngine``: fresh random candidates every generation (the baseline).
- ``SteadyStateEngine``: the asynchronous mode of all three, one candidate at a time, so that
  no worker waits for the slowest candidate of a generation.
"""

from __future__ import annotations

import numpy as np

from evoapproxnas.search.space import unique_samples

PENALTY = 1e9


class PymooEngine:
    """pymoo's NSGA-II driven through ``ask``/``tell`` (mutation only, duplicates removed).

    ``space`` samples, mutates and identifies candidates; ``n_obj`` objectives are minimized;
    ``pop_size`` candidates per generation; ``seed`` fixes every random choice.
    """

    name = "pymoo"

    def __init__(self, space, n_obj: int, pop_size: int, seed: int) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.nox import NoCrossover

        from evoapproxnas.search.operators import (
            KeyDuplicateElimination,
            SpaceMutation,
            SpaceProblem,
            SpaceSampling,
        )

        self.space = space
        self.problem = SpaceProblem(space, n_obj)
        self.algorithm = NSGA2(pop_size=pop_size, sampling=SpaceSampling(),
                               crossover=NoCrossover(), mutation=SpaceMutation(),
                               eliminate_duplicates=KeyDuplicateElimination(space))
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=int(seed),
                             verbose=False)
        self._asked = None

    def ask(self) -> list[np.ndarray]:
        """The next generation's candidates (the initial population first)."""
        self._asked = self.algorithm.ask()
        return [np.asarray(x, dtype=np.int64) for x in self._asked.get("X")]

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


class _Individual:
    def __init__(self, x: np.ndarray, values) -> None:
        self.x = x
        values = tuple(float(v) for v in values)
        self.fitness = _FITNESS[len(values)](values)


class DeapEngine:
    """NSGA-II after DEAP: (mu + lambda) with ``selNSGA2`` survival and binary tournaments on
    Pareto rank and crowding; infeasible candidates ranked behind every feasible one."""

    name = "deap"

    def __init__(self, space, n_obj: int, pop_size: int, seed: int) -> None:
        self.space, self.n_obj, self.pop_size = space, n_obj, pop_size
        self.rng = np.random.default_rng(seed)
        self.population: list[_Individual] = []
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

        def child(rng):
            a, b = rng.choice(len(self.population), 2, replace=False)
            pa, pb = self.population[a], self.population[b]
            better = min((pa, pb), key=lambda i: (i.rank, -i.fitness.crowding_dist))
            return self.space.mutate(better.x, rng)

        self._asked = unique_samples(self.space, self.pop_size, self.rng, seen, make=child)
        return list(self._asked)

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Merge the evaluated batch into the population and keep the NSGA-II best."""
        from deap import tools

        offspring = [_Individual(x, f if c <= 0 else np.full(self.n_obj, PENALTY + c))
                     for x, f, c in zip(self._asked, np.asarray(F, float), np.asarray(cv))]
        self.population = tools.selNSGA2(self.population + offspring, self.pop_size)
        self._asked = []


class RandomEngine:
    """The baseline: every generation fresh random candidates never asked before."""

    name = "random"

    def __init__(self, space, n_obj: int, pop_size: int, seed: int) -> None:
        self.space, self.pop_size = space, pop_size
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def ask(self) -> list[np.ndarray]:
        """``pop_size`` random candidates with keys not seen before."""
        return unique_samples(self.space, self.pop_size, self.rng, self.seen)

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Ignored: random search learns nothing."""


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
        self.population: list[_Individual] = []
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
        self.population.append(_Individual(np.asarray(x, dtype=np.int64), values))
        if len(self.population) > self.pop_size:
            self.population = self._survive()

    def _survive(self) -> list[_Individual]:
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


ENGINES = {"pymoo": PymooEngine, "deap": DeapEngine, "random": RandomEngine}


def make_engine(name: str, space, n_obj: int, pop_size: int, seed: int,
                asynchronous: bool = False):
    """A new engine by name (``pymoo``, ``deap``, ``random``; the config validates it);
    ``asynchronous`` gives its steady-state mode (``SteadyStateEngine``)."""
    if asynchronous:
        return SteadyStateEngine(space, n_obj, pop_size, seed, survival=name)
    return ENGINES[name](space, n_obj, pop_size, seed)
