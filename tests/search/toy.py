"""A small discrete bi-objective search space for engine tests (no CGP, no TensorFlow)."""

import numpy as np

N_VAR = 20
LEVELS = 16


class ToySpace:
    """Vectors in {0..15}^20; f1 = mean(x), f2 = mean((1 - x)^2) + 0.5 * var(x) (scaled)."""

    n_var = N_VAR
    lower = np.zeros(N_VAR)
    upper = np.full(N_VAR, LEVELS - 1.0)

    def sample(self, rng):
        return rng.integers(0, LEVELS, N_VAR)

    def mutate(self, x, rng):
        child = np.array(x, copy=True)
        hit = rng.random(N_VAR) < 0.15
        hit[rng.integers(N_VAR)] = True
        child[hit] = rng.integers(0, LEVELS, int(hit.sum()))
        return child

    def key(self, x):
        return ",".join(str(int(v)) for v in x)


def objectives(X):
    X = np.asarray(X, dtype=float) / (LEVELS - 1)
    f1 = X.mean(axis=1)
    f2 = ((1 - X) ** 2).mean(axis=1) + 0.5 * X.var(axis=1)
    return np.c_[f1, f2]


def constraint(X):
    """Violation when the first gene is above 12 (some candidates infeasible)."""
    X = np.asarray(X)
    return np.maximum(0, X[:, 0] - 12).astype(float)
