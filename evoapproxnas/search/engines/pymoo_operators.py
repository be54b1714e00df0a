"""pymoo operators for a ``SearchSpace``: sampling, mutation, duplicate elimination by key."""

from __future__ import annotations

import numpy as np
from pymoo.core.crossover import Crossover
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling

from evoapproxnas.search.engines.variation import vary


class SpaceProblem(Problem):
    """The problem pymoo sees: integer vectors of the space, evaluated outside pymoo."""

    def __init__(self, space, n_obj: int) -> None:
        super().__init__(n_var=space.n_var, n_obj=n_obj, n_ieq_constr=1, xl=space.lower,
                         xu=space.upper, vtype=int)
        self.space = space

    def _evaluate(self, x, out, *args, **kwargs):
        raise RuntimeError("candidates are evaluated by the campaign, not by pymoo")


class SpaceSampling(Sampling):
    """Random candidates of the space, distinct by key."""

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
        space = problem.space
        seen: set[str] = set()
        out = []
        for _ in range(n_samples):
            for _attempt in range(200):
                x = space.sample(random_state)
                key = space.key(x)
                if key not in seen:
                    break
            seen.add(key)
            out.append(x)
        return np.array(out, dtype=np.int64)


class SpaceMutation(Mutation):
    """The space's own mutation (for CGP: point mutation until an active gene changes)."""

    def __init__(self) -> None:
        super().__init__(prob=1.0)

    def do(self, problem, pop, inplace=True, *args, **kwargs):
        # never in place: without crossover the offspring are the parents' own objects
        return super().do(problem, pop, False, *args, **kwargs)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        space = problem.space
        return np.array([space.mutate(x, random_state) for x in X], dtype=np.int64)


class SpaceVariation(Crossover):
    """Crossover or mutation, one offspring per pair of parents: with probability
    ``space.crossover_rate`` the space's ``recombine`` of the two (where it applies: parents
    that build the same layers), else the space's mutation of the first. Used instead of
    pymoo's separate crossover and mutation when the space recombines
    (``cgp.multiplier_crossover``), so a crossover child is not mutated on top."""

    def __init__(self) -> None:
        super().__init__(n_parents=2, n_offsprings=1, prob=1.0)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        space = problem.space
        children = [vary(space, a, b, random_state) for a, b in zip(X[0], X[1])]
        return np.array(children, dtype=np.int64)[None, :, :]


class KeyDuplicateElimination(DuplicateElimination):
    """Two candidates are duplicates when their space keys (candidate hashes) are equal."""

    def __init__(self, space) -> None:
        super().__init__()
        self.space = space

    def _do(self, pop, other, is_duplicate):
        seen = set()
        if other is not None:
            seen.update(self.space.key(ind.X) for ind in other)
        for i, ind in enumerate(pop):
            key = self.space.key(ind.X)
            if key in seen:
                is_duplicate[i] = True
            else:
                seen.add(key)
        return is_duplicate
