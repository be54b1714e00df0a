"""The sequential hardware mode's second step (``hardware.mode = "sequential"``): after a
search on the preset's fixed design, the best design of the hardware design space for each
front member, and the front re-priced with it (Jiang et al.'s "sequential optimization").

The archive keeps what the search saw (the fixed design); the re-priced members go to
``front.json`` only. A re-priced record's ``metrics`` hold the best design's metrics and its
``hardware_design`` text, and ``fixed_design`` the hardware metrics it had during the search.
"""

from __future__ import annotations

from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.study.results import pareto_front


def reprice(problem, record: EvaluationRecord) -> EvaluationRecord:
    """A copy of ``record`` on the best design for its network (``HardwareConfig.optimize``
    within the campaign's constraints), its objectives recomputed; the record as it is when
    that design would break a constraint the fixed one kept."""
    from evoapproxnas.hardware import get_cost_model, layers_from_graph

    cfg = problem.cfg
    hw = cfg.hardware
    layers = layers_from_graph(problem.decode(record.genome), problem.choice)
    best = hw.optimize(layers, cfg.parsed_constraints)
    names = set(get_cost_model(hw.model, hw.preset or None, **dict(hw.overrides)).METRICS)
    fixed = {k: v for k, v in record.metrics.items() if k in names or k == "hardware_design"}
    new = {k: float(v) for k, v in best.items() if k in names}
    metrics = {**record.metrics, **new, "hardware_design": best["hardware_design"],
               "fixed_design": fixed}
    if problem.violation(metrics) > problem.violation(record.metrics):
        return record
    out = EvaluationRecord.from_dict(record.to_dict())
    out.metrics = metrics
    acc = out.val_accuracy
    out.objectives = {name: (1.0 - acc if acc is not None else None) if name == "error"
                      else metrics.get(name) for name in cfg.search.objectives}
    return out


def reprice_front(problem, front: list[EvaluationRecord]) -> list[EvaluationRecord]:
    """The front members re-priced (``reprice``), those still non-dominated among them."""
    repriced = [reprice(problem, record) for record in front]
    return pareto_front(repriced, problem.cfg.search.objectives)
