"""Hardware in the genome (``hardware.mode = "joint"``): any space's candidates with the
hardware design's decisions appended as genes, searched with them (Jiang et al.'s
co-exploration).

A candidate is ``[network genes..., hardware genes...]``: the network part is the inner
space's (CGP, or the layer list), the hardware part one choice index per
``HardwareDecision`` of the cost model's design space (``hardware.design_space``). Engines
see one integer vector; the controller sees the inner space's decisions followed by the
hardware ones (``decisions``).
"""

from __future__ import annotations

import hashlib

import numpy as np

from evoapproxnas.search.spaces.redraw import Redrawing
from evoapproxnas.search.spaces.registry import Decision

HARDWARE_MUTATION = 0.5
"""Chance that a mutation changes one hardware gene (to another value) instead of the
network (the inner space's mutation)."""


class JointSpace(Redrawing):
    """``inner`` (a search space) with the decisions of ``design`` (a hardware design
    space) appended. Sampling draws both parts; mutation changes either the network or one
    hardware gene (``HARDWARE_MUTATION``); the key is the inner key and the design's active
    genes. Like ``CGPSpace``, a ``feasible`` filter (the campaign's cheap constraints, on the
    whole candidate) re-draws rejected draws, kept in ``rejected``."""

    def __init__(self, inner, design) -> None:
        self.inner, self.design = inner, design
        self.hardware = tuple(design.decisions)
        self.n_network = int(inner.n_var)
        self.n_var = self.n_network + len(self.hardware)
        self.lower = np.concatenate([np.asarray(inner.lower, float),
                                     np.zeros(len(self.hardware))])
        self.upper = np.concatenate([np.asarray(inner.upper, float),
                                     [float(d.n - 1) for d in self.hardware]])
        self.feasible = None
        self.rejected: list[np.ndarray] = []

    def __getattr__(self, name):
        # what the campaign asks of the network part (``spec``, ``input_shape`` ...)
        if name in ("inner", "__setstate__") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ---- the two parts -----------------------------------------------------------------

    def split(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(network genes, hardware genes)`` of a candidate."""
        x = np.asarray(x, dtype=np.int64)
        return x[: self.n_network], x[self.n_network:]

    def validate(self, x) -> np.ndarray:
        """The candidate as int64; ``ValueError`` unless it has this space's length, its
        network part passes the inner space's ``validate`` and every hardware gene is a
        valid choice index."""
        x = np.asarray(x)
        if x.ndim != 1 or x.size != self.n_var:
            raise ValueError(f"a joint candidate has {self.n_var} genes ({self.n_network} of "
                             f"the network, {len(self.hardware)} of the hardware), got "
                             f"shape {x.shape}")
        network = self.inner.validate(x[: self.n_network])
        hardware = x[self.n_network:]
        for d, g in zip(self.hardware, hardware):
            if not (float(g) == int(g) and 0 <= int(g) < d.n):
                raise ValueError(f"hardware gene {d.name} = {g} is not one of its "
                                 f"{d.n} choices")
        return np.concatenate([network, hardware.astype(np.int64)])

    def decode(self, x):
        """The network of the candidate (the inner space's ``decode`` of its part)."""
        return self.inner.decode(self.split(x)[0])

    def priced_with(self, x, gene: int) -> np.ndarray:
        """The candidate with multiplier gene ``gene`` on every multiplier gene (its
        hardware genes kept)."""
        network, hardware = self.split(x)
        return np.concatenate([np.asarray(self.inner.priced_with(network, gene), np.int64),
                               hardware])

    def decisions(self) -> list[Decision]:
        """The inner space's decisions, then one per hardware gene (``hw.<name>``)."""
        return [*self.inner.decisions(),
                *(Decision(f"hw.{d.name}", d.n) for d in self.hardware)]

    def compose(self, options) -> np.ndarray:
        """The candidate of one option per decision (``decisions`` order)."""
        options = [int(v) for v in options]
        n_inner = len(options) - len(self.hardware)
        hardware = np.asarray(options[n_inner:], dtype=np.int64)
        if n_inner < 0 or np.any(hardware < 0) or any(
                g >= d.n for g, d in zip(hardware, self.hardware)):
            raise ValueError("compose: give one option per decision, each below its "
                             "decision's number of options")
        network = np.asarray(self.inner.compose(options[:n_inner]), dtype=np.int64)
        return np.concatenate([network, hardware])

    @property
    def crossover_rate(self) -> float:
        """The inner space's (``recombine`` acts on the network part)."""
        return float(getattr(self.inner, "crossover_rate", 0.0))

    def recombine(self, a, b, rng: np.random.Generator) -> np.ndarray | None:
        """The inner space's recombination of the network parts, with ``a``'s hardware
        (``None`` where the inner space does not recombine the two)."""
        (na, ha), (nb, _) = self.split(a), self.split(b)
        if not hasattr(self.inner, "recombine") or self.inner.recombine(na, nb, rng) is None:
            return None
        return self.redrawn(lambda: np.concatenate([
            np.asarray(self.inner.recombine(na, nb, rng), np.int64), ha]))

    # ---- sampling and mutation ----------------------------------------------------------

    def _hardware_sample(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([int(rng.integers(d.n)) for d in self.hardware], dtype=np.int64)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.redrawn(lambda: np.concatenate([
            np.asarray(self.inner.sample(rng), dtype=np.int64), self._hardware_sample(rng)]))

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        network, hardware = self.split(x)

        def draw() -> np.ndarray:
            hw = hardware.copy()
            movable = [i for i, d in enumerate(self.hardware) if d.n > 1]
            if movable and rng.random() < HARDWARE_MUTATION:
                i = movable[int(rng.integers(len(movable)))]
                hw[i] = (hw[i] + 1 + int(rng.integers(self.hardware[i].n - 1))) \
                    % self.hardware[i].n
                return np.concatenate([network, hw])
            return np.concatenate([np.asarray(self.inner.mutate(network, rng), np.int64), hw])

        return self.redrawn(draw)

    def key(self, x: np.ndarray) -> str:
        """The inner key and a digest of the design's active genes: candidates of one
        network on two designs differ, genes that shape nothing do not count."""
        network, hardware = self.split(x)
        active = self.design.active(hardware)
        digest = hashlib.sha256(",".join(map(str, active)).encode()).hexdigest()[:10]
        return f"{self.inner.key(network)}-hw{digest}"

    def network_key(self, x: np.ndarray) -> str:
        """The inner space's network key (the network whatever its multipliers and its
        hardware: its weights are interchangeable)."""
        return self.inner.network_key(self.split(x)[0])
