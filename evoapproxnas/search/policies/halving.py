"""Multi-fidelity evaluation: successive halving inside each generation.

The rungs are ``fidelity.rungs`` (training epochs, in all) followed by ``training.epochs``.
Every feasible candidate of a generation trains at the first rung; of the ``n`` candidates a
rung trained successfully, ``ceil(n / fidelity.eta)`` (rounded up to a multiple of
``executor.workers``, at most ``n``) continue to the next rung. A candidate that continues
trains on from the weights its previous rung saved (``models/<hash>.e<epochs>.weights.npz``)
for the difference in epochs, with a fresh optimizer whose learning-rate schedule restarts
(a warm restart); so the full budget costs a promoted candidate only the epochs it has not
trained yet, and every result is a function of its candidate and the rungs below it. Who
continues (``promote``) is decided by NSGA-II's own order on the rung's results:
non-dominated rank first, then crowding distance (larger first, the extremes of a front
infinite), then the rung's error (lower first), then the position in the population; those
below ``search.min_accuracy`` come after all others, by their shortfall. Deterministic, and a resumed run recomputes the same decisions from the archived rung
records (and finds the rung weights on disk). The error comes before the position because
with three objectives most members of a small front are extremes of one of them, all at
infinite crowding: ordered by position, a rung of the 36-multiplier campaign promoted two
networks at 0.59 and 0.54 accuracy and left its best, 0.86, at one epoch; training is what
a rung measures, and the other objectives are known before it.

What NSGA-II sees: every candidate with the result of the highest rung it reached, so a
candidate stopped early competes with its (pessimistic) low-fidelity error. Pareto fronts and
hypervolumes count full-fidelity results only (``results.at_full_fidelity``); the archive records
every rung's result with its ``fidelity`` (the epochs it trained in all).
"""

from __future__ import annotations

import math

import numpy as np

from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.study.results import vectors


def n_promoted(n: int, eta: int, workers: int = 1) -> int:
    """How many of ``n`` trained candidates continue to the next rung: ``ceil(n / eta)``,
    rounded up to a multiple of ``workers`` (so that no worker idles while the rung trains),
    at most ``n``."""
    keep = math.ceil(n / eta) if n else 0
    return min(n, math.ceil(keep / workers) * workers)


def promote(records: list[EvaluationRecord], objectives, n_keep: int) -> list[EvaluationRecord]:
    """The ``n_keep`` best of ``records`` (given in population order): those within their
    constraints by non-dominated rank, then crowding distance, then error (when an
    objective), then order; then the others by violation, then order. Returned in population
    order."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    if n_keep >= len(records):
        return list(records)
    F, cv = vectors(records, objectives)
    error = F[:, list(objectives).index("error")] if "error" in objectives else np.zeros(len(F))
    meets = np.flatnonzero(cv <= 0)
    below = sorted(np.flatnonzero(cv > 0).tolist(), key=lambda i: (cv[i], i))
    order = []
    for part in (NonDominatedSorting().do(F[meets]) if len(meets) else []):
        front = sorted(int(meets[i]) for i in part)
        crowding = calc_crowding_distance(F[front]) if len(front) > 2 else np.full(
            len(front), np.inf)
        order += sorted(front, key=lambda i: (-crowding[front.index(i)], error[i], i))
    order += below
    kept = sorted(order[:n_keep])
    return [records[i] for i in kept]


class SuccessiveHalving:
    """The rungs of a campaign (``rungs``: epochs, the full budget last) and who continues
    from one rung to the next (``survivors``)."""

    def __init__(self, rungs, full_epochs: int, eta: int, workers: int, objectives) -> None:
        self.rungs = [*rungs, full_epochs]
        self.eta, self.workers, self.objectives = eta, workers, tuple(objectives)

    @classmethod
    def of(cls, cfg) -> SuccessiveHalving:
        """The policy of a campaign config (``fidelity.rungs``, ``fidelity.eta``)."""
        f = cfg.fidelity
        return cls(f.rungs, cfg.training.epochs, f.eta, cfg.executor.workers,
                   cfg.search.objectives)

    @property
    def enabled(self) -> bool:
        return len(self.rungs) > 1

    def survivors(self, records: list[EvaluationRecord]) -> list[EvaluationRecord]:
        """The candidates of one rung (population order) that continue (``promote``)."""
        return promote(records, self.objectives,
                       n_promoted(len(records), self.eta, self.workers))

