"""The campaign's problem: the space's spec, allowed multipliers, dataset shape and cheap metrics.

Built the same way in the main process and in every worker from the resolved config, so a
genome means the same network everywhere. No TensorFlow here.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np

from evoapproxnas.config import CampaignConfig, uses_hardware
from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.metrics import METRICS


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


def make_spec(cfg: CampaignConfig, multipliers: list):
    """The campaign's ``[cgp]`` spec with its multiplier genes sized to the allowed set and
    a ``head_multiplier`` name resolved to its gene (``UserError`` if it is not allowed);
    ``spaces.cgp.make_cgp_spec``."""
    from evoapproxnas.search.spaces.cgp import make_cgp_spec

    return make_cgp_spec(cfg, multipliers)


def space_class(cfg: CampaignConfig) -> type:
    """The registered space class of ``space.kind`` (``search.spaces.registry``)."""
    from evoapproxnas.search.spaces import SPACES

    return SPACES[cfg.space.kind]


def check_hardware(cfg: CampaignConfig) -> None:
    """``UserError`` for a ``[hardware]`` section no candidate could be priced with (a bad
    preset or override, a search metric or a hardware objective/constraint the model does
    not compute), so a configuration mistake stops the campaign before it starts."""
    from evoapproxnas.hardware import get_cost_model

    hw = cfg.hardware
    try:
        model = get_cost_model(hw.model, hw.preset or None, **dict(hw.overrides))
    except UserError as exc:
        raise UserError(f"{cfg.source}: [hardware]: {exc}") from None
    if hw.evaluator == "learned":  # a missing or foreign evaluator stops the campaign here
        from evoapproxnas.hardware.learned.evaluator import load_evaluator

        try:
            load_evaluator(hw.evaluator_path).check_settings(hw.preset or None, hw.overrides)
        except UserError as exc:
            raise UserError(f"{cfg.source}: [hardware]: {exc}") from None
    wanted = [("hardware.search_metric", hw.search_metric)] \
        if hw.mode in ("inner", "sequential") else []
    wanted += [("search.objectives", m) for m in cfg.search.objectives]
    wanted += [("search.constraints", c.metric) for c in cfg.parsed_constraints]
    for key, metric in wanted:
        campaigns_own = metric in METRICS and not METRICS[metric].hardware
        if not campaigns_own and metric not in model.METRICS:
            raise UserError(
                f"{cfg.source}: {key}: the {hw.model} cost model does not compute {metric!r}"
                f"{closest_names(metric, model.METRICS)}; it gives {', '.join(model.METRICS)}")


class CandidateFailure(Exception):
    """A candidate its cheap metrics cannot price (e.g. no FPGA design of it fits the
    device): it is recorded ``failed`` with ``reason`` and never trained; the campaign goes
    on. ``metrics`` holds what was measured before the failure."""

    def __init__(self, reason: str, metrics: dict) -> None:
        super().__init__(reason)
        self.reason, self.metrics = reason, dict(metrics)


def training_seed(campaign_seed: int, key: str) -> int:
    """Seed of one candidate's training: depends only on the campaign seed and its hash."""
    digest = hashlib.sha256(f"{campaign_seed}:{key}".encode()).hexdigest()
    return int(digest[:8], 16)


@dataclass
class CampaignProblem:
    """What a genome means in one campaign: decode it, price it, check its constraints.

    Built from the resolved config and the dataset's input shape and class count only (no
    dataset, no TensorFlow), so the main process, every worker and a viewer of a finished
    run directory decode a genome to the same network.
    """

    cfg: CampaignConfig
    spec: object
    """The space's settings resolved for the campaign (``space.kind`` "cgp": the
    ``CGPSpec``; see ``search.spaces.registry``)."""
    multipliers: list
    input_shape: tuple
    n_classes: int

    @classmethod
    def build(cls, cfg: CampaignConfig, input_shape, n_classes: int) -> CampaignProblem:
        """Resolve the allowed multipliers and the space's spec (``UserError`` on bad names)."""
        multipliers = allowed_multipliers(cfg)
        if uses_hardware(cfg):
            check_hardware(cfg)
        return cls(cfg, space_class(cfg).make_spec(cfg, multipliers), multipliers,
                   tuple(int(v) for v in input_shape), int(n_classes))

    @property
    def space(self):
        """The campaign's space (``space.kind``: a ``CGPSpace``, a ``LayerSpace`` ...); its
        draws that break a cheap constraint are re-drawn (``meets_cheap_constraints``)."""
        if getattr(self, "_space", None) is None:
            self._space = space_class(self.cfg)(self.spec, self.input_shape, self.n_classes)
            if self.cfg.hardware.mode == "joint":  # hardware genes appended (spaces/joint.py)
                from evoapproxnas.search.spaces.joint import JointSpace

                self._space = JointSpace(self._space, self.cfg.hardware.design_space)
            self._space.set_filter(self.meets_cheap_constraints)
        return self._space

    def hardware_genes(self, genome):
        """The hardware genes of a joint-mode candidate (``None`` in the other modes)."""
        if self.cfg.hardware.mode == "joint":
            return self.space.split(genome)[1]
        return None

    def meets_cheap_constraints(self, genome) -> bool:
        """True when the genome's network can be priced and keeps every constraint that is
        known before training."""
        try:
            return self.violation(self.price(genome)) <= 0
        except CandidateFailure:
            return False

    PRICED_KEPT = 4096
    """How many genomes' cheap metrics ``price`` keeps (the most recent ones)."""

    def price(self, genome) -> dict:
        """``cheap_metrics`` of the genome's network (a copy), computed once for the re-draw
        filter and the evaluation that follows it (the hardware search is not cheap); raises
        ``CandidateFailure`` each time the genome is asked for, as ``cheap_metrics`` does."""
        key = np.asarray(genome, dtype=np.int64).tobytes()
        priced = self.__dict__.setdefault("_priced", {})
        if key not in priced:
            try:
                genes = self.hardware_genes(genome)
                graph = self.decode(genome)
                priced[key] = (self.cheap_metrics(graph) if genes is None
                               else self.cheap_metrics(graph, genes), None)
            except CandidateFailure as exc:
                priced[key] = (exc.metrics, exc.reason)
            if len(priced) > self.PRICED_KEPT:
                del priced[next(iter(priced))]  # the oldest (dicts keep insertion order)
        metrics, failure = priced[key]
        if failure is not None:
            raise CandidateFailure(failure, metrics)
        return copy.deepcopy(metrics)

    @property
    def choice(self):
        """Gene -> multiplier for this campaign (gene ``None``: the library's exact one)."""
        from evoapproxnas.multipliers import MultiplierChoice

        if getattr(self, "_choice", None) is None:
            self._choice = MultiplierChoice.coerce(self.multipliers,
                                                   library=self.cfg.multipliers.library)
        return self._choice

    def decode(self, genome):
        """The genome's network as a ``networkx.DiGraph`` of layers with shapes (the
        space's ``decode``, in the format of ``cgp.decode``)."""
        return self.space.decode(genome)

    def cheap_metrics(self, graph, hardware_genes=None) -> dict:
        """Metrics known before training: parameters, multiplication power, hardware cost."""
        from evoapproxnas.cgp import count_params, multiplication_power, multiply_layers

        power = multiplication_power(graph, self.choice)
        metrics = {"params": int(count_params(graph)), "power_mw": power["power_mw"],
                   "power_rel": power["power_rel"],
                   "multiplications": int(power["multiplications"])}
        choice = self.choice
        names = {layer["name"]: choice.name(layer["multiplier"])
                 for layer in multiply_layers(graph)}
        metrics["multipliers"] = names
        if uses_hardware(self.cfg):
            try:
                metrics.update(self._hardware(graph, hardware_genes))
            except UserError as exc:  # this candidate only: the campaign goes on
                raise CandidateFailure(f"hardware cost model: {exc}", metrics) from None
        return metrics

    def _hardware(self, graph, hardware_genes=None) -> dict:
        """The hardware metrics on the design of ``hardware.mode`` and its
        ``hardware_design`` text; the hardware search keeps to the campaign's constraints."""
        from evoapproxnas.hardware import layers_from_graph

        layers = layers_from_graph(graph, self.choice)
        result = self.cfg.hardware.estimate(layers, self.cfg.parsed_constraints,
                                            genes=hardware_genes)
        out = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
        if isinstance(result.get("hardware_design"), str):
            out["hardware_design"] = result["hardware_design"]
        return out

    @property
    def constraints(self) -> list:
        """The campaign's constraints and those its hardware mode implies (a joint-mode
        FPGA design must fit its devices: ``fits >= 1``)."""
        return [*self.cfg.parsed_constraints, *self.cfg.hardware.implied_constraints()]

    def violation(self, metrics: dict) -> float:
        """Sum of the relative excesses over the campaign's constraints (0 = feasible)."""
        return float(sum(c.violation(metrics[c.metric]) for c in self.constraints))

    def violated(self, metrics: dict) -> list[str]:
        """The constraints ``metrics`` break, as text (``fps >= 30`` ...)."""
        return [str(c) for c in self.constraints if c.violation(metrics[c.metric]) > 0]
