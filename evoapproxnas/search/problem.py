"""The campaign's problem: CGP spec, allowed multipliers, dataset shape and cheap metrics.

Built the same way in the main process and in every worker from the resolved config, so a
genome means the same network everywhere. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from evoapproxnas.config import CampaignConfig, metric_direction, uses_hardware
from evoapproxnas.errors import UserError

FAILED_CV = 1000.0
"""Constraint violation given to a candidate whose training failed (ranks it last)."""


def load_data(cfg: CampaignConfig):
    """The campaign's dataset (``UserError`` if it is missing)."""
    from evoapproxnas.data import load_dataset

    kwargs = dict(cfg.data.synthetic) if cfg.data.name == "synthetic" else {}
    return load_dataset(cfg.data.name, cfg.data.dir or None, val_fraction=cfg.data.val_fraction,
                        seed=cfg.search.seed, **kwargs)


def allowed_multipliers(cfg: CampaignConfig) -> list:
    """The ``Multiplier`` objects multiplier genes index, in config order."""
    from evoapproxnas.multipliers import load_library

    library = load_library(cfg.multipliers.library)
    names = list(cfg.multipliers.allowed)
    if not names or names == ["all"]:
        return list(library)
    if len(set(names)) != len(names):
        raise UserError(f"{cfg.source}: multipliers.allowed names a multiplier twice")
    try:
        return [library[name] for name in names]
    except UserError as exc:
        raise UserError(f"{cfg.source}: multipliers.allowed: {exc}") from None


def make_spec(cfg: CampaignConfig, n_multipliers: int):
    from evoapproxnas.cgp import CGPSpec

    g = cfg.cgp
    kwargs = {"rows": g.rows, "columns": g.columns, "levels_back": g.levels_back,
              "choices": g.choices, "n_multipliers": n_multipliers,
              "mutation_rate": g.mutation_rate, "mutate_until_active": g.mutate_until_active,
              "min_active_nodes": g.min_active_nodes}
    if g.functions:
        kwargs["functions"] = tuple(g.functions)
    try:
        return CGPSpec(**kwargs)
    except UserError as exc:
        raise UserError(f"{cfg.source}: [cgp]: {exc}") from None


def training_seed(campaign_seed: int, key: str) -> int:
    """Seed of one candidate's training: depends only on the campaign seed and its hash."""
    digest = hashlib.sha256(f"{campaign_seed}:{key}".encode()).hexdigest()
    return int(digest[:8], 16)


@dataclass
class CampaignProblem:
    cfg: CampaignConfig
    spec: object
    multipliers: list
    input_shape: tuple
    n_classes: int

    @classmethod
    def build(cls, cfg: CampaignConfig, dataset) -> CampaignProblem:
        multipliers = allowed_multipliers(cfg)
        return cls(cfg, make_spec(cfg, len(multipliers)), multipliers,
                   tuple(dataset.input_shape), int(dataset.n_classes))

    @property
    def space(self):
        from evoapproxnas.search.space import CGPSpace

        if getattr(self, "_space", None) is None:
            self._space = CGPSpace(self.spec)
        return self._space

    def decode(self, genome):
        from evoapproxnas.cgp import decode

        return decode(np.asarray(genome, dtype=np.int64), self.spec, self.input_shape,
                      self.n_classes)

    def cheap_metrics(self, graph) -> dict:
        """Metrics known before training: parameters, multiplication power, hardware cost."""
        from evoapproxnas.cgp import count_params, multiplication_power, multiply_layers

        power = multiplication_power(graph, self.multipliers, self.cfg.multipliers.library)
        metrics = {"params": int(count_params(graph)), "power_mw": power["power_mw"],
                   "power_rel": power["power_rel"],
                   "multiplications": int(power["multiplications"])}
        exact = None
        names = {}
        for layer in multiply_layers(graph):
            gene = layer["multiplier"]
            if gene is None:
                if exact is None:
                    from evoapproxnas.multipliers import load_library

                    exact = load_library(self.cfg.multipliers.library).exact.name
                names[layer["name"]] = exact
            else:
                names[layer["name"]] = self.multipliers[gene].name
        metrics["multipliers"] = names
        if uses_hardware(self.cfg):
            metrics.update(self._hardware(graph))
        return metrics

    def _hardware(self, graph) -> dict:
        from evoapproxnas.hardware import estimate_network, layers_from_graph
        from evoapproxnas.multipliers import load_library

        hw = self.cfg.hardware
        exact = load_library(self.cfg.multipliers.library).exact
        layers = layers_from_graph(graph, self.multipliers, exact=exact)
        result = estimate_network(layers, hw.model,
                                  hw.preset or None, search=hw.search,
                                  search_metric=hw.search_metric, overrides=dict(hw.overrides))
        return {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}

    def violation(self, metrics: dict) -> float:
        return float(sum(c.violation(metrics[c.metric]) for c in self.cfg.parsed_constraints))


def objective_vector(record: dict, objectives) -> list[float]:
    """Minimization vector of a record: maximized metrics negated, missing error = 1."""
    out = []
    for name in objectives:
        value = record["objectives"].get(name)
        if value is None:
            value = 1.0 if name == "error" else 1e12
        out.append(-value if metric_direction(name) == "max" else value)
    return out


def record_cv(record: dict) -> float:
    return float(record["violation"]) + (FAILED_CV if record["status"] == "failed" else 0.0)
