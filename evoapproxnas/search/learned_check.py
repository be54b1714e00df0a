"""The end of a campaign priced by the learned evaluator (``hardware.evaluator = "learned"``):
the front's hardware figures computed again by the analytical cost model, and how far the
learned ones were from them.

The archive keeps what the search saw (the learned figures); the front that ``front.json``
stores carries the analytical figures in ``metrics`` and ``objectives``, and the learned ones
under ``metrics["learned_hardware"]``.
"""

from __future__ import annotations

import dataclasses
import math

from evoapproxnas.search.study.records import EvaluationRecord

LEARNED_KEY = "learned_hardware"
"""Where a re-priced front member keeps the learned evaluator's figures."""


def reprice_front(problem, front: list[EvaluationRecord],
                  log=None) -> list[EvaluationRecord]:
    """Copies of ``front`` with the hardware figures of the analytical model (within the
    campaign's constraints, its hardware search when ``hardware.search``); ``log`` receives
    one line per objective: the mean and largest relative difference learned vs analytical."""
    from evoapproxnas.hardware import layers_from_graph

    cfg = problem.cfg
    hw = cfg.hardware.analytical()
    out, diffs = [], {}
    for record in front:
        layers = layers_from_graph(problem.decode(record.genome), problem.choice)
        result = hw.estimate(layers, cfg.parsed_constraints)
        exact = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
        if isinstance(result.get("hardware_design"), str):
            exact["hardware_design"] = result["hardware_design"]
        learned = {k: record.metrics[k] for k in exact if k in record.metrics}
        metrics = {**record.metrics, **exact, LEARNED_KEY: learned}
        values = {**metrics, "error": record.objectives.get("error")}
        objectives = {name: values.get(name) for name in record.objectives}
        out.append(dataclasses.replace(record, metrics=metrics, objectives=objectives))
        for name, value in learned.items():
            if isinstance(value, (int, float)) and exact[name]:
                diffs.setdefault(name, []).append(abs(value / exact[name] - 1.0) * 100.0)
    if log is not None and out:
        shown = [n for n in cfg.search.objectives if n in diffs] or sorted(diffs)[:3]
        parts = [f"{n} mean {sum(diffs[n]) / len(diffs[n]):.2f} % (max {max(diffs[n]):.2f} %)"
                 for n in shown if not any(math.isnan(d) for d in diffs[n])]
        log(f"learned evaluator: the {len(out)} front members re-priced by the analytical "
            f"model differ by {'; '.join(parts) or 'nothing'}")
    return out
