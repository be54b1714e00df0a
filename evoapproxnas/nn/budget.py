"""The training budget of a candidate (no TensorFlow: the campaign config parses into it)."""

from __future__ import annotations

from dataclasses import dataclass

from evoapproxnas.errors import UserError

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainBudget:
    """How much training one candidate gets: the ``[training]`` section of a campaign.

    Defaults: 10-30 s per candidate on two CPU cores.
    """

    epochs: int = 3
    """Training epochs of a candidate at the full budget (the last rung of successive
    halving)."""
    train_samples: int = 6000
    """Training images per epoch: the first N of the (seeded, shuffled) training split."""
    val_samples: int = 1000
    """Validation images the accuracy (and so the error objective) is measured on: the first
    N of the validation split."""
    batch_size: int = 64
    """Images per training step."""
    optimizer: str = "adam"
    """Keras optimizer: "adam", "sgd" or "rmsprop"."""
    learning_rate: float = 1e-3
    """Initial learning rate, in (0, 10); ``lr_schedule`` says how it changes."""
    table_epochs: int = 1
    """How many of the ``epochs`` (the last ones) train through the candidate's own product
    tables (approximation-aware: table forward, straight-through exact gradient). 0 trains
    exact only (the tables are used for evaluation only); ``epochs`` trains through the tables
    from the start."""
    lr_schedule: str = "constant"
    """``"constant"``: ``learning_rate`` throughout; ``"cosine"``: cosine decay from
    ``learning_rate`` to 0 over the candidate's whole training (all ``epochs``, exact and table
    epochs together; a lower rung of successive halving decays over its own epochs)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "train_samples", "val_samples", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"training.{name} must be a positive integer, got {value!r}")
        if (not isinstance(self.table_epochs, int) or isinstance(self.table_epochs, bool)
                or not 0 <= self.table_epochs <= self.epochs):
            raise UserError(
                f"training.table_epochs must be an integer from 0 to training.epochs "
                f"({self.epochs}), got {self.table_epochs!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise UserError(
                f"training.optimizer: unknown optimizer {self.optimizer!r}; use one of "
                f"{', '.join(OPTIMIZERS)}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(
                f"training.lr_schedule: unknown schedule {self.lr_schedule!r}; use one of "
                f"{', '.join(LR_SCHEDULES)}"
            )
        if not (isinstance(self.learning_rate, (int, float))
                and not isinstance(self.learning_rate, bool) and 0 < self.learning_rate < 10):
            raise UserError(
                f"training.learning_rate must be in (0, 10), got {self.learning_rate!r}"
            )
