"""Pareto front and hypervolume of a run's records (pymoo's sorting and indicator).

Hypervolume: each objective (minimization form, maximized metrics negated) is divided by
the absolute value of its reference (``search.hv_reference``; defaults error 1.0,
power_rel 1.0, params 1e6), so the reference point is (+-1, ...) and, for the default
objectives, the hypervolume is a fraction of the unit box. Candidates beyond the reference
point add nothing.
"""

from __future__ import annotations

import numpy as np

from evoapproxnas.metrics import direction
from evoapproxnas.search.study.records import EvaluationRecord, HistoryEntry

FAILED_CV = 1000.0
"""Constraint violation given to a candidate whose training failed (ranks it last)."""


def objective_vector(record: EvaluationRecord, objectives) -> list[float]:
    """Minimization vector of a record: maximized metrics negated, missing error = 1."""
    out = []
    for name in objectives:
        value = record.objectives.get(name)
        if value is None:
            value = 1.0 if name == "error" else 1e12
        out.append(direction(name).minimized(value))
    return out


def constraint_violation(record: EvaluationRecord) -> float:
    """The record's violation, plus ``FAILED_CV`` when its training failed."""
    return float(record.violation) + (FAILED_CV if record.status == "failed" else 0.0)


def vectors(records: list[EvaluationRecord], objectives) -> tuple[np.ndarray, np.ndarray]:
    """Objective matrix (minimization form) and constraint violations of ``records``."""
    F = np.array([objective_vector(r, objectives) for r in records], dtype=float)
    cv = np.array([constraint_violation(r) for r in records], dtype=float)
    return F, cv


def first_per_hash(records: list[EvaluationRecord]) -> list[EvaluationRecord]:
    """The first record of every network hash, in order."""
    seen, out = set(), []
    for r in records:
        if r.hash not in seen:
            seen.add(r.hash)
            out.append(r)
    return out


def feasible(records: list[EvaluationRecord]) -> list[EvaluationRecord]:
    """Trained, successful, constraint-satisfying records (deduplicated by hash, in order)."""
    return first_per_hash([r for r in records if r.feasible])


def pareto_front(records: list[EvaluationRecord], objectives) -> list[EvaluationRecord]:
    """Non-dominated feasible records, sorted by the first objective then hash."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    pool = feasible(records)
    if not pool:
        return []
    F, _ = vectors(pool, objectives)
    first = NonDominatedSorting().do(F, only_non_dominated_front=True)
    front = [pool[i] for i in first]
    return sorted(front, key=lambda r: (tuple(objective_vector(r, objectives)), r.hash))


def scaled_reference(objectives, reference) -> tuple[np.ndarray, np.ndarray]:
    """Reference point in minimization form divided by its scale, and the scale."""
    ref = np.array([direction(n).minimized(r) for n, r in zip(objectives, reference)],
                   dtype=float)
    scale = np.where(np.abs(ref) > 0, np.abs(ref), 1.0)
    return ref / scale, scale


def hypervolume(records: list[EvaluationRecord], objectives, reference) -> float:
    """Hypervolume of the feasible records (normalized as the module docstring says)."""
    return hypervolume_of(feasible(records), objectives, reference)


def hypervolume_of(records: list[EvaluationRecord], objectives, reference) -> float:
    """The same indicator over ``records`` as given, feasible or not."""
    from pymoo.indicators.hv import HV

    if not records:
        return 0.0
    F, _ = vectors(records, objectives)
    ref, scale = scaled_reference(objectives, reference)
    return float(HV(ref_point=ref)(F / scale))


def at_full_fidelity(records, cfg) -> list[EvaluationRecord]:
    """The records measured at the full training budget (and every untrained one: their
    status, not their accuracy, is what counts); archives written before fidelities were
    recorded count as full."""
    full = cfg.training.epochs
    return [r for r in records if r.fidelity is None or r.fidelity >= full]


def history_entry(cfg, generation: int, so_far: list[EvaluationRecord],
                  batch: list[EvaluationRecord]) -> HistoryEntry:
    """The ``HistoryEntry`` of the search after ``generation`` (``so_far``: every record
    evaluated up to it; ``batch``: that generation's population). Front and hypervolume count
    full-fidelity results only."""
    s = cfg.search
    full = at_full_fidelity(so_far, cfg)
    return HistoryEntry(
        generation=generation,
        evaluations=len(so_far),
        new=sum(r.generation == generation for r in so_far),
        failed=sum(r.status == "failed" for r in batch),
        infeasible=sum(r.status == "infeasible" for r in batch),
        below_floor=sum(r.status == "ok" and r.violation > 0 for r in batch),
        pruned=sum(r.generation == generation and r.status == "infeasible" for r in so_far),
        front_size=len(pareto_front(full, s.objectives)),
        hypervolume=hypervolume(full, s.objectives, cfg.hv_reference()),
        population=[r.hash for r in batch],
    )
