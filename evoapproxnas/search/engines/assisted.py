"""Predictor-assisted search (``search.predictor``): an engine asks several times more
offspring than a generation trains, and a learned accuracy predictor chooses which to train.

``PredictorAssisted`` wraps any generational engine that can ask ``n_offspring`` candidates
and ``keep`` a subset of them (pymoo, DEAP, random). Before each generation the campaign
gives it the archive (``learn``: every record of the earlier generations); ``ask`` then
fits ``policies.predictor.AccuracyPredictor`` on it and keeps ``population`` of the
``population x search.predictor_pool`` offspring (``policies.predictor.select``: predicted
error and the exact cheap objectives, ``search.predictor_random`` random slots). The first
generation (the engine's random initial population) is trained as asked. ``report`` gives
the log line's Kendall tau of the predictions against the accuracies then measured.

Only the wrapped engine and the wrapper's own random generator are pickled with a
checkpoint; the model is refitted from the archive on resume (the same records, the same
seed: the same model), so a resumed run keeps the same candidates.
"""

from __future__ import annotations

import math

import numpy as np

from evoapproxnas.search.engines import ENGINES, make_engine


class PredictorAssisted:
    """``inner`` (asking ``pool`` x ``pop_size`` offspring) with a ``kind`` predictor
    choosing the ``pop_size`` it trains, ``random_slots`` of them at random; ``seed`` fixes
    the wrapper's choices."""

    def __init__(self, inner, pop_size: int, kind: str, random_slots: int, seed: int) -> None:
        self.inner, self.pop_size, self.kind = inner, pop_size, kind
        self.random_slots, self.seed = random_slots, int(seed)
        self.rng = np.random.default_rng([int(seed), 33])
        self.name = f"{getattr(inner, 'name', 'engine')}+{kind}"
        self._reset()

    def _reset(self) -> None:
        self._problem, self._records, self._generation = None, [], 0
        self._predictor, self._rows = None, {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("_problem", "_records", "_predictor", "_rows"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    @property
    def space(self):
        return self.inner.space

    @space.setter
    def space(self, value) -> None:
        self.inner.space = value

    def learn(self, problem, records, generation: int) -> None:
        """The archive before ``generation`` (every rung of every candidate) and the
        campaign's problem (features are decoded and priced through it)."""
        self._problem, self._records, self._generation = problem, list(records), generation

    def ask(self) -> list[np.ndarray]:
        """The candidates to train: the inner engine's batch, cut to ``pop_size`` by the
        predictor when it asked more."""
        from evoapproxnas.search.policies import predictor as pp

        pool = self.inner.ask()
        self._predictor, self._rows = None, {}
        if len(pool) <= self.pop_size:
            return pool
        problem = self._problem
        if problem is None:
            raise RuntimeError("PredictorAssisted.ask needs learn() first (the campaign's "
                               "archive and problem)")
        X, y, _ = pp.training_set(problem, self._records)
        model = pp.AccuracyPredictor(self.kind, pp.fit_seed(self.seed, self._generation))
        model.fit(X, y)
        objectives = problem.cfg.search.objectives
        full = problem.cfg.training.epochs
        rows, F, cv = [], [], []
        for x in pool:
            metrics = problem.price(x)
            rows.append(pp.candidate_features(problem, x, full))
            cv.append(problem.violation(metrics))
            F.append(metrics)
        rows = np.array(rows)
        accuracy = model.predict(rows) if model.ready else np.zeros(len(pool))
        F = np.array([pp.cheap_objectives(m, objectives, 1.0 - a)
                      for m, a in zip(F, accuracy)])
        slots = self.random_slots if model.ready else self.pop_size
        chosen = pp.select(F, np.array(cv), self.pop_size, slots, self.rng)
        self.inner.keep(chosen.kept)
        self._predictor = model
        kept = [pool[i] for i in chosen.kept]
        self._rows = {problem.space.key(x): rows[i] for x, i in zip(kept, chosen.kept)}
        return kept

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """The trained candidates' objectives and violations (``ask``'s order)."""
        self.inner.tell(F, cv)

    def report(self, records) -> str:
        """The log line's part: Kendall tau of the predictor fitted before this generation
        on the candidates it chose, at the first fidelity they trained for (``records``:
        the archive; empty in a generation without a model)."""
        from evoapproxnas.search.policies.predictor import generation_tau

        if self._predictor is None or not self._predictor.ready:
            return ""
        mine = [r for r in records if r.generation == self._generation]
        tau, n, epochs = generation_tau(self._predictor, self._rows, mine)
        text = "n/a" if math.isnan(tau) else f"{tau:+.2f}"
        return f", predictor tau {text} on {n} at {epochs} epoch(s)"


def make_search_engine(cfg, space):
    """The campaign's generational engine: ``search.engine``, wrapped in
    ``PredictorAssisted`` when ``search.predictor`` is not "none"."""
    s = cfg.search
    kind = getattr(s, "predictor", "none")
    if kind == "none":
        return make_engine(s.engine, space, len(s.objectives), s.population, s.seed,
                           config=cfg)
    cls = ENGINES[s.engine]
    options = cls.options(cfg) if hasattr(cls, "options") else {}
    inner = cls(space, len(s.objectives), s.population, s.seed,
                n_offspring=s.population * s.predictor_pool, **options)
    return PredictorAssisted(inner, s.population, kind, s.predictor_random, s.seed)
