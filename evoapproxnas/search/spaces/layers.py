"""The layer-list space (``[space] kind = "layers"``): a chain of conv layers, each with its
kernel size, filter count, stride, an optional 2x2 max-pooling after it and its multiplier.

The search space of hardware/software co-exploration (Jiang et al., TCAD 2020: per layer a
filter size from {1, 3, 5, 7} and a filter count from {24, 36, 48, 64}, optional stride and
pooling), with a multiplier choice per layer as in EvoApproxNAS. A candidate is a flat
vector of integer genes, each a categorical decision (an index into its choices):

    [depth, (kernel, filters, stride, pool?, multiplier?) x max_layers, multiplier?]

``depth`` selects ``min_layers + depth`` layers; the genes of the layers beyond it are
inactive (the key, the hash of the decoded network, ignores them). ``pool`` is there with
``pooling = true``; the per-layer ``multiplier`` with ``multipliers = "per_layer"``, else
one ``multiplier`` gene at the end serves every layer (``"shared"``). Decoding gives the
graph of ``cgp.decode``: layer ``i`` is node ``layer<i>`` (a ``conv2d`` node: bias, fused
ReLU), its pooling node ``pool<i>``, then the classifier head (global average pooling +
dense, on the library's exact multiplier); a stride 2 or a pooling on a map smaller than
2x2 uses stride 1 (``cgp.primitives.effective_strides``), as in CGP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.search.spaces.redraw import Redrawing
from evoapproxnas.search.spaces.registry import Decision, register_space

MULTIPLIER_MODES = ("per_layer", "shared")
"""``space.multipliers``: a multiplier gene per layer, or one for the whole network."""
MAX_LAYERS = 64
"""Largest ``space.max_layers``."""
MAX_KERNEL = 15
"""Largest kernel size of ``space.kernel_sizes``."""
MAX_FILTERS = 4096
"""Largest filter count of ``space.filters``."""


@dataclass(frozen=True)
class LayerSpec:
    """The layer-list space's settings (the ``[space]`` keys it reads) with the campaign's
    multiplier count; ``check`` refuses bad values with one line naming the key."""

    min_layers: int = 2
    max_layers: int = 6
    kernel_sizes: tuple = (1, 3, 5, 7)
    filters: tuple = (24, 36, 48, 64)
    strides: tuple = (1, 2)
    pooling: bool = True
    multipliers: str = "per_layer"
    n_multipliers: int = 1

    @classmethod
    def of(cls, space_cfg, n_multipliers: int = 1) -> LayerSpec:
        """From a ``[space]`` section (``config.SpaceConfig``), checked."""
        spec = cls(space_cfg.min_layers, space_cfg.max_layers,
                   tuple(space_cfg.kernel_sizes), tuple(space_cfg.filters),
                   tuple(space_cfg.strides), space_cfg.pooling, space_cfg.multipliers,
                   n_multipliers)
        spec.check()
        return spec

    def check(self) -> None:
        """``UserError`` (one line, naming the key) for a value the space cannot use."""
        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        _need(integer(self.min_layers) and 1 <= self.min_layers <= MAX_LAYERS,
              "space.min_layers", self.min_layers, f"use an integer from 1 to {MAX_LAYERS}")
        _need(integer(self.max_layers) and self.min_layers <= self.max_layers <= MAX_LAYERS,
              "space.max_layers", self.max_layers,
              f"use an integer from space.min_layers ({self.min_layers}) to {MAX_LAYERS}")
        for key, values, low, high in (("space.kernel_sizes", self.kernel_sizes, 1, MAX_KERNEL),
                                       ("space.filters", self.filters, 1, MAX_FILTERS),
                                       ("space.strides", self.strides, 1, 2)):
            _need(bool(values) and all(integer(v) and low <= v <= high for v in values)
                  and len(set(values)) == len(values), key, list(values),
                  f"give distinct integers from {low} to {high}, e.g. "
                  f"{list(LayerSpec.__dataclass_fields__[key.split('.')[1]].default)}")
        _need(isinstance(self.pooling, bool), "space.pooling", self.pooling,
              "use true or false")
        _need(self.multipliers in MULTIPLIER_MODES, "space.multipliers", self.multipliers,
              f"use one of {', '.join(MULTIPLIER_MODES)}")

    @property
    def per_layer(self) -> tuple[str, ...]:
        """Names of one layer's genes, in order."""
        return ("kernel", "filters", "stride", *(("pool",) if self.pooling else ()),
                *(("multiplier",) if self.multipliers == "per_layer" else ()))

    @property
    def counts(self) -> np.ndarray:
        """Options of every gene, in gene order."""
        options = {"kernel": len(self.kernel_sizes), "filters": len(self.filters),
                   "stride": len(self.strides), "pool": 2, "multiplier": self.n_multipliers}
        counts = [self.max_layers - self.min_layers + 1]
        counts += [options[g] for _ in range(self.max_layers) for g in self.per_layer]
        if self.multipliers == "shared":
            counts.append(self.n_multipliers)
        return np.array(counts, dtype=np.int64)


def _need(cond: bool, key: str, value, allowed: str) -> None:
    if not cond:
        raise UserError(f"{key} = {value!r} is not allowed; {allowed}")


def make_layer_spec(cfg, multipliers: list) -> LayerSpec:
    """The campaign's layer-list spec: its ``[space]`` keys and the allowed multipliers."""
    try:
        return LayerSpec.of(cfg.space, len(multipliers))
    except UserError as exc:
        raise UserError(f"{cfg.source}: {exc}") from None


@register_space("layers")
class LayerSpace(Redrawing):
    """Candidates of a ``LayerSpec`` (module docstring): sampled uniformly per gene,
    mutated by changing one active gene to another value (and each other active gene with
    probability 1 / active genes), keyed by the hash of the decoded network; draws that
    break a cheap constraint are re-drawn (``redraw.Redrawing``)."""

    make_spec = staticmethod(make_layer_spec)

    def __init__(self, spec: LayerSpec, input_shape=None, n_classes: int | None = None) -> None:
        self.spec = spec
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.n_classes = n_classes
        self.counts = spec.counts
        self.n_var = len(self.counts)
        self.lower = np.zeros(self.n_var)
        self.upper = (self.counts - 1).astype(float)
        self.feasible = None
        self.rejected: list[np.ndarray] = []

    @property
    def n_multipliers(self) -> int:
        return self.spec.n_multipliers

    def _index(self, layer: int, gene: str) -> int:
        per = self.spec.per_layer
        return 1 + layer * len(per) + per.index(gene)

    def multiplier_indices(self) -> list[int]:
        """Indices of the multiplier genes."""
        if self.spec.multipliers == "shared":
            return [self.n_var - 1]
        return [self._index(i, "multiplier") for i in range(self.spec.max_layers)]

    def depth(self, x) -> int:
        """Number of layers of candidate ``x``."""
        return self.spec.min_layers + int(x[0])

    def active(self, x) -> np.ndarray:
        """Indices of the genes the network of ``x`` uses."""
        per = len(self.spec.per_layer)
        genes = [0, *range(1, 1 + self.depth(x) * per)]
        if self.spec.multipliers == "shared":
            genes.append(self.n_var - 1)
        return np.array(genes, dtype=np.int64)

    def validate(self, x) -> np.ndarray:
        """``x`` as int64; ``ValueError`` naming the first bad gene."""
        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"candidate is not a flat vector of ints: {exc}") from None
        if array.ndim != 1 or len(array) != self.n_var:
            raise ValueError(f"candidate must be {self.n_var} genes, got shape {array.shape}")
        if array.dtype.kind not in "iu":
            raise ValueError(f"candidate must contain integers only, got dtype {array.dtype}")
        array = array.astype(np.int64)
        bad = np.flatnonzero((array < 0) | (array >= self.counts))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"gene {i} = {array[i]} is outside 0..{self.counts[i] - 1}")
        return array

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.redrawn(lambda: rng.integers(0, self.counts).astype(np.int64))

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        parent = self.validate(x)

        def draw() -> np.ndarray:
            child = parent.copy()
            active = [i for i in self.active(parent) if self.counts[i] > 1]
            if not active:
                return child
            hit = rng.random(len(active)) < 1.0 / len(active)
            hit[rng.integers(len(active))] = True
            for i in np.asarray(active)[hit]:
                step = rng.integers(1, self.counts[i])  # another value, uniformly
                child[i] = (child[i] + step) % self.counts[i]
            return child

        return self.redrawn(draw)

    def key(self, x: np.ndarray) -> str:
        return self.decode(x).graph["genome_hash"]

    def network_key(self, x: np.ndarray) -> str:
        """The key of the network without its multipliers (every multiplier gene 0)."""
        return self.key(self.priced_with(x, 0))

    def priced_with(self, x: np.ndarray, gene: int) -> np.ndarray:
        """``x`` with multiplier gene ``gene`` on every layer."""
        out = self.validate(x).copy()
        out[self.multiplier_indices()] = int(gene)
        return out

    def decisions(self) -> list[Decision]:
        """One decision per gene: depth, then each layer's genes (``layer<i>.<gene>``)."""
        names = ["depth"] + [f"layer{i}.{g}" for i in range(self.spec.max_layers)
                             for g in self.spec.per_layer]
        if self.spec.multipliers == "shared":
            names.append("multiplier")
        return [Decision(n, int(c)) for n, c in zip(names, self.counts)]

    def compose(self, options) -> np.ndarray:
        """The candidate of one option per decision (genes are option indices)."""
        return self.validate(np.asarray(options, dtype=np.int64))

    def decode(self, x):
        """The network of ``x`` in the format of ``cgp.decode``."""
        from evoapproxnas.cgp.decode import add_layer, finish_graph, new_graph
        from evoapproxnas.cgp.primitives import effective_strides

        if self.input_shape is None or self.n_classes is None:
            raise ValueError("LayerSpace.decode needs the input shape and the class count")
        x = self.validate(x)
        s = self.spec
        graph = new_graph(self.input_shape, self.n_classes)
        last = "input"
        for i in range(self.depth(x)):
            gene = {g: int(x[self._index(i, g)]) for g in s.per_layer}
            multiplier = (gene["multiplier"] if s.multipliers == "per_layer"
                          else int(x[-1]))
            shape = graph.nodes[last]["output_shape"]
            stride = s.strides[gene["stride"]]
            used = effective_strides(stride, shape)
            repairs = [f"strides {stride}->{used} (input {shape[:2]})"] if used != stride else []
            params = {"kernel": s.kernel_sizes[gene["kernel"]],
                      "filters": s.filters[gene["filters"]], "strides": used,
                      "use_bias": True, "activation": "relu"}
            add_layer(graph, f"layer{i}", "conv2d", params, multiplier, [last], repairs)
            last = f"layer{i}"
            if gene.get("pool"):
                shape = graph.nodes[last]["output_shape"]
                used = effective_strides(2, shape)
                repairs = [f"strides 2->1 (input {shape[:2]})"] if used != 2 else []
                add_layer(graph, f"pool{i}", "max_pooling", {"strides": used}, None, [last],
                          repairs)
                last = f"pool{i}"
        return finish_graph(graph, last, None)
