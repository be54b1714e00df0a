"""The one record type of an evaluation, and of a Pareto-front member.

An ``EvaluationRecord`` is what the archive stores (one JSON line each), what the engines
rank, and what report, plots and export read. A ``FrontMember`` is a record plus what the
final test-set evaluation added. Both round-trip through plain JSON dicts; reading checks
the fields, so a hand-edited or foreign file gives one clear error.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from evoapproxnas.errors import UserError


class Status(str, Enum):
    """The state of an evaluation (Optuna's trial states). A ``str`` enum: it equals, and is
    stored in JSON as, its value."""

    PENDING = "pending"
    """Priced and feasible, waiting for (or in) training; never stored in a file."""
    OK = "ok"
    """Trained and measured."""
    FAILED = "failed"
    """Training, or pricing by a cost model, failed (``reason`` says why)."""
    INFEASIBLE = "infeasible"
    """Broke a cheap constraint and was never trained."""

    def __str__(self) -> str:
        return self.value


STATUSES = (Status.OK.value, Status.FAILED.value, Status.INFEASIBLE.value)
"""The statuses of stored (final) records."""


class RecordError(UserError, ValueError):
    """A stored record that does not have the fields of an ``EvaluationRecord`` (a damaged
    or hand-edited file: the CLI shows it as one line)."""


HASH_RE = re.compile(r"^[A-Za-z0-9_-]+$")
"""A candidate hash (it names the candidate's weight files, so no path separators)."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_or_none(v) -> bool:
    return v is None or _is_number(v)


def _str_or_none(v) -> bool:
    return v is None or isinstance(v, str)


FIELD_RULES = {
    "hash": (lambda v: isinstance(v, str) and HASH_RE.match(v) is not None,
             "a string of letters, digits, '_' and '-'"),
    "generation": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "index": (lambda v: _is_int(v) and v >= -1, "an integer >= -1"),
    "genome": (lambda v: isinstance(v, list) and all(_is_int(g) for g in v),
               "a list of integers"),
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "reason": (_str_or_none, "a string or null"),
    "violation": (lambda v: _is_number(v) and math.isfinite(v) and v >= 0, "a number >= 0"),
    "metrics": (lambda v: isinstance(v, dict), "an object"),
    "seed": (_is_int, "an integer"),
    "timings": (lambda v: isinstance(v, dict), "an object"),
    "objectives": (lambda v: isinstance(v, dict)
                   and all(_number_or_none(x) for x in v.values()),
                   "an object of numbers (or null)"),
    "fidelity": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 or null"),
    "inherited_from": (_str_or_none, "a string or null"),
}
"""What each stored field of an ``EvaluationRecord`` must hold."""

METRIC_RULES = {
    "params": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "multiplications": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "power_mw": (_is_number, "a number"),
    "power_rel": (_is_number, "a number"),
    "val_accuracy": (_number_or_none, "a number or null"),
    "multipliers": (lambda v: isinstance(v, dict)
                    and all(isinstance(x, str) for x in v.values()),
                    "an object of multiplier names"),
}
"""The metrics that report, plots and export read (checked when present)."""


@dataclass
class EvaluationRecord:
    """One evaluated candidate.

    ``metrics`` holds what was measured (``params``, ``power_mw``, ``power_rel``,
    ``multiplications``, ``multipliers`` per layer, hardware metrics, ``val_accuracy`` ...);
    ``objectives`` the values of the campaign's objectives (``None`` when unknown, e.g. the
    error of a failed candidate); ``timings`` wall-clock seconds (differ between runs).
    ``index`` is the candidate's slot in its generation's population, -1 for a draw that
    broke a cheap constraint and was re-drawn (it took no slot).
    """

    hash: str
    generation: int
    index: int
    genome: list[int]
    status: Status
    reason: str | None
    violation: float
    metrics: dict[str, Any]
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    objectives: dict[str, float | None] = field(default_factory=dict)
    fidelity: int | None = None
    """Training epochs behind ``val_accuracy`` (``None``: not trained, or an archive written
    before fidelities were recorded, i.e. the full budget)."""
    inherited_from: str | None = None
    """Weight inheritance: the hash of the full-budget candidate (same network, other
    multipliers) whose trained weights this one started from (``fidelity.inherit_epochs``)."""

    @property
    def val_accuracy(self) -> float | None:
        """Validation accuracy with the candidate's multipliers (``None`` if not trained)."""
        return self.metrics.get("val_accuracy")

    @property
    def feasible(self) -> bool:
        """Trained successfully and within every constraint."""
        return self.status == Status.OK and self.violation <= 0

    @property
    def pending(self) -> bool:
        """Waiting for training (not final: never archived)."""
        return self.status == Status.PENDING

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = Status(self.status).value
        return out

    def without_timings(self) -> dict[str, Any]:
        """The record minus wall-clock fields (for comparing runs)."""
        out = self.to_dict()
        out.pop("timings")
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> EvaluationRecord:
        """Parse a stored record; ``RecordError`` names what is missing or wrong."""
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        required = [f.name for f in fields(cls)
                    if f.name not in ("timings", "objectives", "fidelity", "inherited_from")]
        missing = [n for n in required if n not in data]
        if missing:
            raise RecordError(f"{where}: missing field(s) {', '.join(missing)}")
        if data["status"] not in STATUSES:
            raise RecordError(f"{where}: unknown status {data['status']!r}; "
                              f"expected one of {', '.join(STATUSES)}")
        for name, (rule, what) in FIELD_RULES.items():
            if name in data and not rule(data[name]):
                raise RecordError(f"{where}: field {name} must be {what}, "
                                  f"got {_short(data[name])}")
        for name, (rule, what) in METRIC_RULES.items():
            if name in data["metrics"] and not rule(data["metrics"][name]):
                raise RecordError(f"{where}: metric {name} must be {what}, "
                                  f"got {_short(data['metrics'][name])}")
        record = cls(**{n: data[n] for n in names if n in data})
        record.status = Status(record.status)
        return record


@dataclass
class FrontMember:
    """A record on the final Pareto front with its held-out test result."""

    record: EvaluationRecord
    test_accuracy: float | None = None
    val_accuracy_reloaded: float | None = None
    """Validation accuracy measured again from the saved weights (checks the reload)."""
    test_reason: str | None = None
    """Why there is no test accuracy (test evaluation failed or was skipped)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "test_accuracy": self.test_accuracy,
                "val_accuracy_reloaded": self.val_accuracy_reloaded,
                "test_reason": self.test_reason}

    @classmethod
    def from_dict(cls, data: Any, where: str = "front member") -> FrontMember:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        extra = {k: data.get(k) for k in ("test_accuracy", "val_accuracy_reloaded",
                                          "test_reason")}
        for name in ("test_accuracy", "val_accuracy_reloaded"):
            if not _number_or_none(extra[name]):
                raise RecordError(f"{where}: field {name} must be a number or null, "
                                  f"got {_short(extra[name])}")
        if not _str_or_none(extra["test_reason"]):
            raise RecordError(f"{where}: field test_reason must be a string or null, "
                              f"got {_short(extra['test_reason'])}")
        body = {k: v for k, v in data.items() if k not in extra}
        return cls(EvaluationRecord.from_dict(body, where), **extra)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, on one line (for error messages)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class HistoryEntry:
    """One finished generation of a run (``history.json``): counts of its population and the
    front and hypervolume of everything evaluated up to it (full-fidelity results only).
    ``infeasible`` counts the population's untrained candidates that break a constraint,
    ``below_floor`` its trained ones below ``search.min_accuracy``."""

    generation: int
    evaluations: int
    new: int
    failed: int
    infeasible: int
    below_floor: int
    front_size: int
    hypervolume: float
    population: list[str] = field(default_factory=list)
    """The hashes of the generation's population, in slot order (not kept in ``front.json``)."""
    pruned: int = 0
    """New candidates of the generation stopped before training by a cheap constraint (a
    hardware specification ...): the infeasible ones of the population and the re-drawn
    ones (archived ``infeasible`` with the reason; 0 in histories of earlier versions)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "history entry") -> HistoryEntry:
        """Parse a stored entry; ``RecordError`` names what is missing or wrong (counts are
        integers >= 0, the hypervolume a finite number; ``population`` and counts added by
        later versions may be missing: 0 / [])."""
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        values = {}
        for f in fields(cls):
            value = data.get(f.name, [] if f.name == "population" else 0)
            if f.name in ("generation", "hypervolume") and f.name not in data:
                raise RecordError(f"{where}: missing field {f.name}")
            if f.name == "hypervolume":
                ok = _is_number(value) and math.isfinite(value)
            elif f.name == "population":
                ok = isinstance(value, list) and all(isinstance(h, str) for h in value)
            else:
                ok = _is_int(value) and value >= 0
            if not ok:
                raise RecordError(f"{where}: field {f.name} must be "
                                  f"{'a number' if f.name == 'hypervolume' else 'valid'}, "
                                  f"got {_short(value)}")
            values[f.name] = value
        return cls(**values)

