"""The REINFORCE controller engine (``search.engine = "reinforce"``), after the
hardware/software co-exploration of Jiang et al. (TCAD 2020): a recurrent policy proposes a
batch of candidates, one choice per decision of the space (``SearchSpace.decisions``); the
campaign evaluates them (cheap constraints first: a candidate that breaks one is never
trained and earns a penalty, the "fast exploration"); the policy moves towards the batch's
better-than-baseline candidates.

Reward of a candidate with objective vector ``F`` (minimization form, as every engine gets
it) and violation ``cv``:

- ``cv == 0``: ``R = -sum_k w_k * F_k / s_k``, with ``w_k`` the objective's weight
  (``controller.reward_weights``, default 1) and ``s_k`` the absolute value of its
  hypervolume reference (``search.hv_reference``; 1 when it is 0). With the default
  objectives ``R = -(error + power_rel + params / 1e6)``: accuracy plus weighted hardware
  terms.
- ``cv > 0`` (a broken constraint, the accuracy floor, a failed training):
  ``R = -sum_k |w_k| - violation_penalty * (1 + min(cv, 1))``, below every candidate
  inside the reference box, lower the more it violates.

Update, once per batch (= ``search.population`` episodes): advantage ``R - b`` with ``b``
the moving average of the batch mean rewards (``b <- d b + (1 - d) mean(R)``, ``d`` =
``controller.baseline_decay``; the first batch's mean starts it), loss
``-mean(A log pi) - entropy_weight * mean(entropy)``, one Adam step
(``engines.controller``). The engine is plain picklable state (policy weights, Adam's
moments, the baseline, the random generator): pickling it with the checkpoint resumes a
killed run exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.search.engines.controller import Adam, GRUPolicy
from evoapproxnas.search.engines.registry import register_engine


@dataclass(frozen=True)
class ControllerConfig:
    """``[controller]``: the REINFORCE controller (``search.engine = "reinforce"``): its
    network, its learning and its reward (docs/coexploration.md)."""

    hidden_units: int = 32
    """Units of the controller's GRU cell (1..1024)."""
    embedding_units: int = 16
    """Size of the embedding of the previous choice fed to each step (1..1024)."""
    learning_rate: float = 0.02
    """Adam's learning rate (> 0, at most 1)."""
    entropy_weight: float = 0.01
    """Weight of the entropy bonus in the loss (>= 0): keeps the policy exploring."""
    baseline_decay: float = 0.8
    """Decay of the moving-average baseline of the batch mean reward, in [0, 1) (0: the
    batch's own mean)."""
    reward_weights: dict = field(default_factory=dict)
    """Weight of each objective in the reward, e.g. { error = 1.0, power_rel = 0.3 }
    (objectives not named: 1.0; each objective is divided by its hypervolume reference)."""
    violation_penalty: float = 1.0
    """Extra penalty (>= 0) of a candidate that breaks a constraint or fails: its reward is
    -(sum of |weights|) - violation_penalty x (1 + min(violation, 1))."""

    def __post_init__(self) -> None:
        def need(cond: bool, key: str, value, allowed: str) -> None:
            if not cond:
                raise UserError(f"controller.{key} = {value!r} is not allowed; {allowed}")

        for key in ("hidden_units", "embedding_units"):
            value = getattr(self, key)
            need(isinstance(value, int) and not isinstance(value, bool)
                 and 1 <= value <= 1024, key, value, "use an integer from 1 to 1024")
        need(0 < self.learning_rate <= 1, "learning_rate", self.learning_rate,
             "use a number in (0, 1]")
        need(self.entropy_weight >= 0, "entropy_weight", self.entropy_weight,
             "use a number >= 0")
        need(0 <= self.baseline_decay < 1, "baseline_decay", self.baseline_decay,
             "use a number in [0, 1)")
        need(self.violation_penalty >= 0, "violation_penalty", self.violation_penalty,
             "use a number >= 0")
        weights = self.reward_weights
        need(isinstance(weights, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and abs(v) <= 1e12 for v in weights.values()), "reward_weights", weights,
             "give finite numbers per objective, e.g. { error = 1.0, power_rel = 0.3 }")


@dataclass(frozen=True)
class Reward:
    """The reward of objective rows: weights and scales per objective, the penalty."""

    weights: tuple
    scales: tuple
    violation_penalty: float = 1.0

    @classmethod
    def of(cls, cfg) -> Reward:
        """From a campaign config: ``controller.reward_weights`` and the hypervolume
        reference of ``search.objectives``."""
        weights = tuple(float(cfg.controller.reward_weights.get(name, 1.0))
                        for name in cfg.search.objectives)
        scales = tuple(abs(v) if v else 1.0 for v in cfg.hv_reference())
        return cls(weights, scales, float(cfg.controller.violation_penalty))

    def __call__(self, F: np.ndarray, cv: np.ndarray) -> np.ndarray:
        F = np.asarray(F, dtype=float).reshape(len(cv), -1)
        cv = np.asarray(cv, dtype=float).reshape(-1)
        w, s = np.asarray(self.weights), np.asarray(self.scales)
        with np.errstate(invalid="ignore", over="ignore"):
            feasible = -(F / s) @ w
        worst = -np.abs(w).sum() - self.violation_penalty * (1.0 + np.minimum(cv, 1.0))
        return np.where((cv > 0) | ~np.isfinite(feasible), worst, feasible)


@register_engine("reinforce")
class ReinforceEngine:
    """REINFORCE over the space's decisions (module docstring). ``space`` needs
    ``decisions()`` and ``compose(options)``; ``pop_size`` episodes per update; ``seed``
    fixes the initial weights and every draw. Decisions with one option are not asked
    (option 0)."""

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 config: ControllerConfig | None = None, reward: Reward | None = None) -> None:
        config = config or ControllerConfig()
        self.space, self.n_obj, self.pop_size = space, n_obj, pop_size
        self.config = config
        self.reward = reward or Reward((1.0,) * n_obj, (1.0,) * n_obj)
        sizes = [d.n_options for d in space.decisions()]
        self.n_decisions = len(sizes)
        self.free = np.array([i for i, n in enumerate(sizes) if n > 1], dtype=np.int64)
        self.rng = np.random.default_rng(seed)
        self.policy = GRUPolicy([sizes[i] for i in self.free], config.hidden_units,
                                config.embedding_units, self.rng)
        self.optimizer = Adam(self.policy.params, config.learning_rate)
        self.baseline: float | None = None
        self.updates: list[dict] = []
        """Per update: mean, max and baseline of the rewards, the loss, the gradient norm."""
        self._asked: np.ndarray | None = None

    @classmethod
    def options(cls, cfg) -> dict:
        """Constructor arguments from a campaign config (``engines.make_engine``)."""
        return {"config": cfg.controller, "reward": Reward.of(cfg)}

    def ask(self) -> list[np.ndarray]:
        """``pop_size`` candidates drawn from the policy (repeats possible: the campaign's
        cache evaluates a candidate once)."""
        actions = self.policy.sample(self.pop_size, self.rng) if len(self.free) else \
            np.zeros((self.pop_size, 0), dtype=np.int64)
        self._asked = actions
        out = []
        for row in actions:
            options = np.zeros(self.n_decisions, dtype=np.int64)
            options[self.free] = row
            out.append(self.space.compose(options))
        return out

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Rewards of the asked batch; one policy update."""
        if self._asked is None:
            raise RuntimeError("tell() without ask()")
        rewards = self.reward(F, cv)
        baseline = float(rewards.mean()) if self.baseline is None else self.baseline
        loss, norm = 0.0, 0.0
        if len(self.free):
            loss, grads = self.policy.loss_and_grads(self._asked, rewards - baseline,
                                                     self.config.entropy_weight)
            norm = self.optimizer.step(self.policy.params, grads)
        d = self.config.baseline_decay
        self.baseline = d * baseline + (1 - d) * float(rewards.mean())
        self.updates.append({"reward_mean": float(rewards.mean()),
                             "reward_max": float(rewards.max()), "baseline": baseline,
                             "loss": loss, "grad_norm": norm})
        self._asked = None

    def probabilities(self) -> list[np.ndarray]:
        """Each free decision's choice probabilities along the policy's most likely
        sequence (greedy decoding): what the controller has learnt."""
        p = self.policy
        chosen = np.zeros((1, len(p.sizes)), dtype=np.int64)
        out = []
        for t in range(len(p.sizes)):
            _, steps = p._forward(1, chosen, None)
            probs = steps[t]["probs"][0]
            chosen[0, t] = int(np.argmax(probs))
            out.append(probs)
        return out
