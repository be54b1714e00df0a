"""A learned accuracy predictor: which of many untrained offspring are worth training.

Features of a candidate (``features``), all known before training: the network's size
(parameters, multiplications per image, multiplying layers, nodes, depth, nodes per
operation), its multipliers' error (each layer's mean absolute error and mean relative
error, in percent, weighted by the layer's share of the multiplications, the largest layer
error, the first layer's), its relative power, and the epochs the accuracy is for.
``AccuracyPredictor`` fits a scikit-learn regressor (``search.predictor``: "forest", a
random forest; "ridge", a ridge regression on standardized features) to the validation
accuracies in the archive, each candidate's trainings at every fidelity, and predicts the
full-budget accuracy of new candidates. ``select`` keeps ``n`` of a pool of offspring: the
best by non-dominated rank on the predicted error and the exact cheap objectives, then
crowding distance, then predicted error, then pool order, with ``random_slots`` of them
drawn uniformly from the rest (exploration: the predictor only knows what was trained).
Fitting is deterministic (a fixed ``random_state``, one thread), so a resumed run refits
the same model from the same archive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evoapproxnas.metrics import direction
from evoapproxnas.search.study.records import EvaluationRecord

PREDICTORS = ("none", "forest", "ridge")
"""Values of ``search.predictor``."""
MIN_TRAINING = 4
"""Fewer distinct trained candidates than this: no model, ``select`` draws at random."""
FOREST_TREES = 100


def _op_names() -> tuple[str, ...]:
    from evoapproxnas.cgp.functions import FUNCTIONS

    return tuple(sorted(FUNCTIONS))


def features(graph, choice, power_rel: float, epochs: float) -> np.ndarray:
    """The feature vector of a decoded network priced by ``choice`` (gene -> multiplier),
    with relative power ``power_rel``, for an accuracy after ``epochs`` epochs."""
    import networkx as nx

    from evoapproxnas.cgp import count_params, multiply_layers

    layers = multiply_layers(graph)
    macs = np.array([float(layer["multiplications"]) for layer in layers])
    total = float(macs.sum())
    share = macs / total if total > 0 else np.zeros(len(macs))
    mae = np.array([float(choice.resolve(layer["multiplier"]).metrics.mae_pct)
                    for layer in layers])
    mre = np.array([float(choice.resolve(layer["multiplier"]).metrics.mre_pct)
                    for layer in layers])
    ops = [graph.nodes[n].get("op") for n in graph.nodes]
    counts = [sum(op == name for op in ops) for name in _op_names()]
    depth = nx.dag_longest_path_length(graph) if graph.number_of_nodes() else 0
    return np.array([
        math.log1p(count_params(graph)), math.log1p(total), len(layers), graph.number_of_nodes(),
        depth, *counts,
        float(share @ mae) if len(layers) else 0.0, float(share @ mre) if len(layers) else 0.0,
        float(mae.max()) if len(layers) else 0.0, float(mae[0]) if len(layers) else 0.0,
        float(share @ np.log1p(mae)) if len(layers) else 0.0,
        float(power_rel), float(epochs)], dtype=float)


def candidate_features(problem, genome, epochs: float) -> np.ndarray:
    """``features`` of a genome of ``problem`` (a ``CampaignProblem``)."""
    metrics = problem.price(genome)
    return features(problem.decode(genome), problem.choice, metrics["power_rel"], epochs)


def training_set(problem, records) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, validation accuracies and hashes of every successful training in
    ``records`` (one row per candidate and fidelity, archive order)."""
    full = problem.cfg.training.epochs
    rows, targets, hashes, seen = [], [], [], set()
    for record in records:
        acc = record.val_accuracy
        if record.status != "ok" or acc is None:
            continue
        epochs = record.fidelity if record.fidelity is not None else full
        if (record.hash, epochs) in seen:
            continue
        seen.add((record.hash, epochs))
        rows.append(candidate_features(problem, record.genome, epochs))
        targets.append(float(acc))
        hashes.append(record.hash)
    width = len(rows[0]) if rows else 0
    return np.array(rows, dtype=float).reshape(len(rows), width), np.array(targets), hashes


class AccuracyPredictor:
    """A regressor of validation accuracy on ``features`` (``kind``: "forest" or "ridge");
    ``seed`` fixes the forest's randomness."""

    def __init__(self, kind: str, seed: int) -> None:
        if kind not in PREDICTORS or kind == "none":
            raise ValueError(f"unknown predictor {kind!r}; use one of {PREDICTORS[1:]}")
        self.kind, self.seed = kind, int(seed)
        self.model = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> AccuracyPredictor:
        """Fit on rows ``X`` and accuracies ``y`` (no model with fewer than ``MIN_TRAINING``
        rows: ``ready`` is then false)."""
        self.model = None
        if len(y) < MIN_TRAINING:
            return self
        if self.kind == "forest":
            from sklearn.ensemble import RandomForestRegressor

            model = RandomForestRegressor(n_estimators=FOREST_TREES, min_samples_leaf=2,
                                          random_state=self.seed % 2**32, n_jobs=1)
        else:
            from sklearn.linear_model import RidgeCV
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        self.model = model.fit(X, y)
        return self

    @property
    def ready(self) -> bool:
        return self.model is not None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted accuracies of rows ``X`` (clipped to 0..1)."""
        if not len(X):
            return np.empty(0)
        return np.clip(self.model.predict(X), 0.0, 1.0)


def kendall_tau(predicted, measured) -> float:
    """Kendall's tau-b of two rankings (NaN with fewer than two distinct values in either)."""
    from scipy.stats import kendalltau

    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    if len(predicted) < 2 or np.ptp(predicted) == 0 or np.ptp(measured) == 0:
        return math.nan
    return float(kendalltau(predicted, measured).statistic)


def cheap_objectives(metrics: dict, objectives, predicted_error: float) -> list[float]:
    """The minimization vector of a priced candidate with its error predicted."""
    out = []
    for name in objectives:
        value = predicted_error if name == "error" else metrics.get(name)
        out.append(direction(name).minimized(1e12 if value is None else float(value)))
    return out


@dataclass(frozen=True)
class Selection:
    """What ``select`` kept: pool indices (ascending) and which of them were random slots."""

    kept: list[int]
    random: list[int]


def select(F: np.ndarray, cv: np.ndarray, n: int, random_slots: int,
           rng: np.random.Generator) -> Selection:
    """Keep ``n`` of the pool rows ``F`` (minimized, predicted error included) with
    violations ``cv``: ``n - random_slots`` by non-dominated rank among those within their
    constraints, crowding distance (larger first), first objective, pool order, then the
    others by violation; then ``random_slots`` drawn uniformly from the rest."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    total = len(F)
    if n >= total:
        return Selection(list(range(total)), [])
    slots = min(random_slots, n)
    meets = np.flatnonzero(cv <= 0)
    order: list[int] = []
    for part in (NonDominatedSorting().do(F[meets]) if len(meets) else []):
        front = sorted(int(meets[i]) for i in part)
        crowd = calc_crowding_distance(F[front]) if len(front) > 2 else np.full(len(front),
                                                                                np.inf)
        order += sorted(front, key=lambda i: (-crowd[front.index(i)], F[i, 0], i))
    order += sorted(np.flatnonzero(cv > 0).tolist(), key=lambda i: (cv[i], i))
    best = order[:n - slots]
    rest = sorted(set(range(total)) - set(best))
    drawn = sorted(int(i) for i in rng.choice(rest, size=slots, replace=False)) if slots else []
    return Selection(sorted(best + drawn), drawn)


def generation_tau(predictor: AccuracyPredictor, predicted: dict[str, np.ndarray],
                   records: list[EvaluationRecord]) -> tuple[float, int, int | None]:
    """Kendall tau between the accuracies ``predictor`` (fitted before the generation)
    predicts for the candidates of ``predicted`` (hash -> feature row) and their measured
    validation accuracies in ``records`` (the generation's trainings, every rung), at the
    lowest fidelity among them (the rung every new candidate trained at, so the ranking is
    not one of fidelities); with the number compared and those epochs."""
    trained = [r for r in records if r.hash in predicted and r.status == "ok"
               and r.val_accuracy is not None and r.fidelity is not None]
    if not trained:
        return math.nan, 0, None
    epochs = min(r.fidelity for r in trained)
    rows, measured = [], []
    for record in trained:
        if record.fidelity == epochs:
            x = predicted[record.hash].copy()
            x[-1] = epochs
            rows.append(x)
            measured.append(record.val_accuracy)
    if not predictor.ready or len(rows) < 2:
        return math.nan, len(rows), epochs
    return kendall_tau(predictor.predict(np.array(rows)), measured), len(rows), epochs


def fit_seed(campaign_seed: int, generation: int) -> int:
    """The model's random state in a generation (a function of the run's seed and the
    generation alone, so a resume refits the same model)."""
    return (int(campaign_seed) * 1_000_003 + int(generation)) % 2**32
