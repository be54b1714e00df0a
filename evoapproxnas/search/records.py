"""The one record type of an evaluation, and of a Pareto-front member.

An ``EvaluationRecord`` is what the archive stores (one JSON line each), what the engines
rank, and what report, plots and export read. A ``FrontMember`` is a record plus what the
final test-set evaluation added. Both round-trip through plain JSON dicts; reading checks
the fields, so a hand-edited or foreign file gives one clear error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUSES = ("ok", "failed", "infeasible")
"""``ok``: trained and measured; ``failed``: training failed (reason given); ``infeasible``:
broke a cheap constraint and was never trained."""


class RecordError(ValueError):
    """A stored record that does not have the fields of an ``EvaluationRecord``."""


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
    status: str
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
    multipliers) whose trained weights this one started from (``search.inherit_epochs``)."""

    @property
    def val_accuracy(self) -> float | None:
        """Validation accuracy with the candidate's multipliers (``None`` if not trained)."""
        return self.metrics.get("val_accuracy")

    @property
    def feasible(self) -> bool:
        """Trained successfully and within every constraint."""
        return self.status == "ok" and self.violation <= 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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
        record = cls(**{n: data[n] for n in names if n in data})
        if record.status not in STATUSES:
            raise RecordError(f"{where}: unknown status {record.status!r}")
        if not isinstance(record.metrics, dict) or not isinstance(record.genome, list):
            raise RecordError(f"{where}: metrics must be an object and genome a list")
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
            raise RecordError(f"{where}: expected a JSON object")
        extra = {k: data.get(k) for k in ("test_accuracy", "val_accuracy_reloaded",
                                          "test_reason")}
        body = {k: v for k, v in data.items() if k not in extra}
        return cls(EvaluationRecord.from_dict(body, where), **extra)
