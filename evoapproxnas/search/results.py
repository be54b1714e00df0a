"""Pareto front and hypervolume of a run's records (pymoo's sorting and indicator).

Hypervolume: each objective (minimization form, maximized metrics negated) is divided by
the absolute value of its reference (``search.hv_reference``; defaults error 1.0,
power_rel 1.0, params 1e6), so the reference point is (+-1, ...) and, for the default
objectives, the hypervolume is a fraction of the unit box. Candidates beyond the reference
point add nothing.
"""

from __future__ import annotations

import numpy as np

from evoapproxnas.config import metric_direction
from evoapproxnas.search.evaluation import vectors


def feasible(records: list[dict]) -> list[dict]:
    """Trained, successful, constraint-satisfying records (deduplicated by hash, in order)."""
    seen, out = set(), []
    for r in records:
        if r["status"] == "ok" and r["violation"] <= 0 and r["hash"] not in seen:
            seen.add(r["hash"])
            out.append(r)
    return out


def pareto_front(records: list[dict], objectives) -> list[dict]:
    """Non-dominated feasible records, sorted by the first objective then hash."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    pool = feasible(records)
    if not pool:
        return []
    F, _ = vectors(pool, objectives)
    first = NonDominatedSorting().do(F, only_non_dominated_front=True)
    front = [pool[i] for i in first]
    return sorted(front, key=lambda r: (objective_key(r, objectives), r["hash"]))


def objective_key(record: dict, objectives) -> tuple:
    F, _ = vectors([record], objectives)
    return tuple(F[0])


def scaled_reference(objectives, reference) -> tuple[np.ndarray, np.ndarray]:
    ref = np.array([-r if metric_direction(n) == "max" else r
                    for n, r in zip(objectives, reference)], dtype=float)
    scale = np.where(np.abs(ref) > 0, np.abs(ref), 1.0)
    return ref / scale, scale


def hypervolume(records: list[dict], objectives, reference) -> float:
    from pymoo.indicators.hv import HV

    pool = feasible(records)
    if not pool:
        return 0.0
    F, _ = vectors(pool, objectives)
    ref, scale = scaled_reference(objectives, reference)
    return float(HV(ref_point=ref)(F / scale))
