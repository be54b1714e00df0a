"""The typed messages between the campaign and its workers: what a task asks
(``TrainTask``, ``TestTask``) and what it answers (``TrainOutcome``, ``TestOutcome``). They
cross a process (pickled by the pool or by Dask), so they are plain frozen dataclasses of
builtin values; the task bodies that consume them are in ``search.worker``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainTask:
    """Train one candidate for ``epochs`` epochs in all: from scratch, on from the weights of
    its ``continue_from``-epoch rung (successive halving), or for ``inherit_epochs`` from the
    full-budget weights of candidate ``inherit_from`` (weight inheritance)."""

    genome: list[int]
    hash: str
    seed: int
    """Training seed (``problem.training_seed`` of the campaign seed and the hash)."""
    epochs: int | None
    """Epochs in all (``None``: the config's ``training.epochs``)."""
    continue_from: int | None = None
    inherit_from: str | None = None
    inherit_epochs: int = 0
    crash: bool = False
    """Injected failure: the worker process exits (``debug.fail_fraction`` / ``fail_hashes``)."""
    die_once: bool = False
    """Injected worker death, once per candidate (``debug.die_once_fraction``)."""


@dataclass(frozen=True)
class TrainOutcome:
    """What training a candidate gave: ``status`` "ok" (accuracies measured) or "failed"
    (``reason`` says why: NaN loss, time limit, weights that cannot be read ...)."""

    status: str
    reason: str | None = None
    val_accuracy: float | None = None
    """Validation accuracy with the candidate's own multipliers."""
    val_accuracy_exact: float | None = None
    """The same network's validation accuracy with exact multiplication (full budget only)."""
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    started_at: float | None = None
    """Unix time the worker started the task (worker utilisation; ``None``: unknown)."""
    ended_at: float | None = None
    crash_retry: bool = False
    """Trained in the crash-retry environment after its first worker crashed."""


@dataclass(frozen=True)
class TestTask:
    """Evaluate a trained candidate (its saved full-budget weights) on the held-out test set."""

    __test__ = False  # not a pytest test class

    genome: list[int]
    hash: str


@dataclass(frozen=True)
class TestOutcome:
    """Test accuracy of a trained candidate, and its validation accuracy measured again from
    the saved weights (checks the reload)."""

    __test__ = False

    test_accuracy: float
    val_accuracy: float
