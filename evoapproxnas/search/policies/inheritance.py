"""Weight inheritance: a new candidate whose network was already trained at the full budget
(the same layers, other multipliers) starts from those weights and fine-tunes for a few
epochs (``fidelity.inherit_epochs``; ``fidelity.final_repricing_epochs`` in the final re-pricing
batch) instead of training from scratch."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from evoapproxnas.search.study.records import EvaluationRecord, Status


class WeightInheritance:
    """Which candidate a new one inherits from, and for how many epochs it then trains.

    ``network_key(record)`` names a record's network whatever its multipliers;
    ``full_epochs`` is the full training budget (only full-budget candidates are donors).
    """

    def __init__(self, inherit_epochs: int, final_repricing_epochs: int, full_epochs: int,
                 network_key: Callable[[EvaluationRecord], str]) -> None:
        self.inherit_epochs = inherit_epochs
        self.final_repricing_epochs = final_repricing_epochs
        self.full_epochs = full_epochs
        self.network_key = network_key

    @property
    def enabled(self) -> bool:
        return self.inherit_epochs > 0

    def donors(self, records: Iterable[EvaluationRecord],
               generation: int) -> dict[str, EvaluationRecord]:
        """Network key -> the candidate whose weights a new candidate of that network starts
        from in ``generation``. Only full-budget candidates of earlier generations (all
        archived: the choice is the same after a resume); the most accurate with the exact
        multiplier, then the earliest. Empty when inheritance is off."""
        if not self.enabled:
            return {}
        donors: dict[str, EvaluationRecord] = {}
        for record in records:
            exact = record.metrics.get("val_accuracy_exact")
            if (record.generation >= generation or record.status != Status.OK or exact is None
                    or (record.fidelity is not None and record.fidelity < self.full_epochs)):
                continue
            key = self.network_key(record)
            best = donors.get(key)
            rank = (-exact, record.generation, record.index)
            if best is None or rank < (-best.metrics["val_accuracy_exact"], best.generation,
                                       best.index):
                donors[key] = record
        return donors

    def heir_epochs(self, record: EvaluationRecord, search_generations: int) -> int:
        """Epochs an heir of ``record``'s generation trains from its donor's weights:
        ``final_repricing_epochs`` in the final re-pricing batch (generation
        ``search_generations``) when set, else ``inherit_epochs``."""
        if record.generation >= search_generations and self.final_repricing_epochs:
            return self.final_repricing_epochs
        return self.inherit_epochs
