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

Bit widths (Lu et al., ICCAD 2019; docs/quantization.md), all off by default: with
``activation_bits`` a layer gets an ``activation_bits`` gene (the width A of its input);
with ``weight_bits`` the multiplier gene becomes a weight-width gene whose value selects the
exact 8xW multiplier of the campaign's allowed list (so pricing, power and training go
through the multiplier as for any 8xN layer); with ``fixed_point`` two more genes per layer
choose the fractional bits ``Af`` and ``Wf`` (a choice above the width is the width). A layer
with widths carries them on its conv primitive (``activation_bits``,
``activation_frac_bits``, ``weight_frac_bits``: the graph node's ``primitives``), which the
hardware layer records and the model builder (``fixedpoint.layer_kwargs``) read; the key then
also hashes the widths. The rule from genes to widths is ``cgp.widths``, shared with the CGP
space, and so is the choice of the exact 8xW multipliers (``width_multipliers``).
``architecture`` fixes the layers (one ``[kernel, filters, stride,
pool]`` each): only multipliers and widths are searched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from evoapproxnas.cgp.widths import (
    check_widths,
    layer_widths,
    searches_widths,
    width_genes,
    width_options,
)
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
    architecture: tuple = ()
    """``(kernel, filters, stride, pool)`` per layer: a fixed architecture (empty: searched)."""
    activation_bits: tuple = ()
    weight_bits: tuple = ()
    fixed_point: bool = False
    activation_frac_bits: tuple = (0, 1, 2, 3, 4, 5, 6)
    weight_frac_bits: tuple = (0, 1, 2, 3, 4, 5, 6)
    weight_genes: tuple = ()
    """The multiplier gene (index into the allowed list) of each ``weight_bits`` choice."""

    @classmethod
    def of(cls, space_cfg, n_multipliers: int = 1, weight_genes: tuple = ()) -> LayerSpec:
        """From a ``[space]`` section (``config.SpaceConfig``), checked."""
        def entry(v):
            return tuple(v) if isinstance(v, (list, tuple)) else v

        spec = cls(space_cfg.min_layers, space_cfg.max_layers,
                   tuple(space_cfg.kernel_sizes), tuple(space_cfg.filters),
                   tuple(space_cfg.strides), space_cfg.pooling, space_cfg.multipliers,
                   n_multipliers, tuple(entry(v) for v in space_cfg.architecture),
                   tuple(space_cfg.activation_bits), tuple(space_cfg.weight_bits),
                   space_cfg.fixed_point, tuple(space_cfg.activation_frac_bits),
                   tuple(space_cfg.weight_frac_bits), tuple(weight_genes))
        spec.check()
        return spec

    @property
    def widths(self) -> bool:
        """The layers carry bit widths (activation widths or fixed point are searched)."""
        return searches_widths(self)

    @property
    def layers_max(self) -> int:
        """Most layers of a network: the fixed architecture's, else ``max_layers``."""
        return len(self.architecture) or self.max_layers

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
        _need(len(self.architecture) <= MAX_LAYERS and all(
            isinstance(e, tuple) and len(e) == 4 and all(integer(v) for v in e)
            and 1 <= e[0] <= MAX_KERNEL and 1 <= e[1] <= MAX_FILTERS and e[2] in (1, 2)
            and e[3] in (0, 1) for e in self.architecture), "space.architecture",
              [list(e) if isinstance(e, tuple) else e for e in self.architecture],
              f"give at most {MAX_LAYERS} layers as [kernel 1..{MAX_KERNEL}, filters "
              f"1..{MAX_FILTERS}, stride 1 or 2, pool 0 or 1], e.g. [[3, 16, 1, 1]]")
        check_widths(self)

    @property
    def per_layer(self) -> tuple[str, ...]:
        """Names of one layer's genes, in order."""
        return ("kernel", "filters", "stride",
                *(("pool",) if self.pooling or self.architecture else ()),
                *(("multiplier",) if self.multipliers == "per_layer" else ()),
                *width_genes(self))

    @property
    def multiplier_options(self) -> int:
        """Options of a multiplier gene: the weight widths, else the allowed multipliers."""
        return len(self.weight_bits) or self.n_multipliers

    @property
    def counts(self) -> np.ndarray:
        """Options of every gene, in gene order."""
        fixed = bool(self.architecture)
        options = {"kernel": 1 if fixed else len(self.kernel_sizes),
                   "filters": 1 if fixed else len(self.filters),
                   "stride": 1 if fixed else len(self.strides), "pool": 1 if fixed else 2,
                   "multiplier": self.multiplier_options, **width_options(self)}
        counts = [1 if fixed else self.max_layers - self.min_layers + 1]
        counts += [options[g] for _ in range(self.layers_max) for g in self.per_layer]
        if self.multipliers == "shared":
            counts.append(self.multiplier_options)
        return np.array(counts, dtype=np.int64)

    def layer_values(self, gene: dict, layer: int) -> tuple[int, int, int, bool]:
        """``(kernel, filters, stride, pool)`` of layer ``layer`` with genes ``gene``."""
        if self.architecture:
            k, f, s, p = self.architecture[layer]
            return k, f, s, bool(p)
        return (self.kernel_sizes[gene["kernel"]], self.filters[gene["filters"]],
                self.strides[gene["stride"]], bool(gene.get("pool")))


def _need(cond: bool, key: str, value, allowed: str) -> None:
    if not cond:
        raise UserError(f"{key} = {value!r} is not allowed; {allowed}")


def exact_width_genes(weight_bits, multipliers: list) -> tuple[int, ...]:
    """For each width W of ``weight_bits``, the index in ``multipliers`` of an unsigned
    multiplier of weight width W whose table is the exact product (``a * b`` on every code
    pair); a one-line ``UserError`` when one is missing."""
    from evoapproxnas.approx.fixedpoint import EXACT_LIBRARY, exact_multiplier, exact_table

    genes, missing = [], []
    for w in weight_bits:
        want = exact_table(8, w)
        found = [i for i, m in enumerate(multipliers)
                 if not getattr(m, "signed", True) and getattr(m, "weight_bits", None) == w
                 and getattr(m, "lut", None) is not None and m.lut.shape == want.shape
                 and np.array_equal(m.lut, want)]
        if found:
            genes.append(found[0])
        else:
            missing.append(w)
    if missing:
        names = ", ".join(exact_multiplier(w) for w in missing)
        raise UserError(f"space.weight_bits = {list(weight_bits)} needs the exact 8xW "
                        f"multiplier of each width in [multipliers] allowed; none for W = "
                        f"{', '.join(map(str, missing))}: use library {EXACT_LIBRARY!r} and "
                        f"allow {names}")
    return tuple(genes)


def width_multipliers(cfg, multipliers: list) -> tuple[int, ...]:
    """The allowed-list index of the exact 8xW multiplier of each ``[space] weight_bits``
    choice (``exact_width_genes``; empty without weight widths), after checking that fixed
    point has per-tensor weights; a one-line ``UserError`` naming the config file. Shared by
    the layer-list and CGP spaces."""
    try:
        genes = exact_width_genes(cfg.space.weight_bits, multipliers)
        if cfg.space.fixed_point and cfg.multipliers.weight_quantization != "per_tensor":
            raise UserError("space.fixed_point = true needs multipliers.weight_quantization "
                            "= 'per_tensor' (fixed-point weights are per tensor)")
        return genes
    except UserError as exc:
        raise UserError(f"{cfg.source}: {exc}") from None


def make_layer_spec(cfg, multipliers: list) -> LayerSpec:
    """The campaign's layer-list spec: its ``[space]`` keys and the allowed multipliers."""
    genes = width_multipliers(cfg, multipliers)
    try:
        return LayerSpec.of(cfg.space, len(multipliers), genes)
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
        """Values of a multiplier gene (with ``weight_bits``: of a weight-width gene)."""
        return self.spec.multiplier_options

    def _index(self, layer: int, gene: str) -> int:
        per = self.spec.per_layer
        return 1 + layer * len(per) + per.index(gene)

    def multiplier_indices(self) -> list[int]:
        """Indices of the multiplier genes."""
        if self.spec.multipliers == "shared":
            return [self.n_var - 1]
        return [self._index(i, "multiplier") for i in range(self.spec.layers_max)]

    def width_indices(self) -> list[int]:
        """Indices of the activation-width and binary-point genes."""
        return [self._index(i, g) for i in range(self.spec.layers_max)
                for g in width_genes(self.spec)]

    def depth(self, x) -> int:
        """Number of layers of candidate ``x``."""
        if self.spec.architecture:
            return len(self.spec.architecture)
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
        """The key of the network without its multipliers and widths (every multiplier and
        width gene 0)."""
        out = self.priced_with(x, 0)
        out[self.width_indices()] = 0
        return self.key(out)

    def priced_with(self, x: np.ndarray, gene: int) -> np.ndarray:
        """``x`` with multiplier gene ``gene`` on every layer."""
        out = self.validate(x).copy()
        out[self.multiplier_indices()] = int(gene)
        return out

    def decisions(self) -> list[Decision]:
        """One decision per gene: depth, then each layer's genes (``layer<i>.<gene>``; with
        ``weight_bits`` the multiplier gene is named ``weight_bits``)."""
        rename = {"multiplier": "weight_bits"} if self.spec.weight_bits else {}
        names = ["depth"] + [f"layer{i}.{rename.get(g, g)}" for i in range(self.spec.layers_max)
                             for g in self.spec.per_layer]
        if self.spec.multipliers == "shared":
            names.append(rename.get("multiplier", "multiplier"))
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
        widths = []
        for i in range(self.depth(x)):
            gene = {g: int(x[self._index(i, g)]) for g in s.per_layer}
            multiplier = (gene["multiplier"] if s.multipliers == "per_layer"
                          else int(x[-1]))
            weight_bits = s.weight_bits[multiplier] if s.weight_bits else None
            if s.weight_genes:  # the weight-width gene selects the exact 8xW multiplier
                multiplier = s.weight_genes[multiplier]
            kernel, filters, stride, pool = s.layer_values(gene, i)
            shape = graph.nodes[last]["output_shape"]
            used = effective_strides(stride, shape)
            repairs = [f"strides {stride}->{used} (input {shape[:2]})"] if used != stride else []
            params = {"kernel": kernel, "filters": filters, "strides": used,
                      "use_bias": True, "activation": "relu"}
            add_layer(graph, f"layer{i}", "conv2d", params, multiplier, [last], repairs)
            last = f"layer{i}"
            if s.widths:
                widths.append(self._carry_widths(graph, last, gene, weight_bits))
            if pool:
                shape = graph.nodes[last]["output_shape"]
                used = effective_strides(2, shape)
                repairs = [f"strides 2->1 (input {shape[:2]})"] if used != 2 else []
                add_layer(graph, f"pool{i}", "max_pooling", {"strides": used}, None, [last],
                          repairs)
                last = f"pool{i}"
        graph = finish_graph(graph, last, None)
        if widths:  # the primitives' hash leaves the widths out: add them
            text = json.dumps([graph.graph["genome_hash"], widths], sort_keys=True)
            graph.graph["genome_hash"] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return graph

    def _carry_widths(self, graph, node: str, gene: dict, weight_bits) -> dict:
        """Put layer ``node``'s widths on its conv primitive (the node's ``primitives``);
        returns them."""
        from evoapproxnas.cgp.primitives import expand

        bits = layer_widths(self.spec, gene, weight_bits)
        data = graph.nodes[node]
        items = expand(node, data["op"], data["params"], data["input_shapes"],
                       data["multiplier"])
        for item in items:
            if item["kind"] == "conv2d":
                item.update(bits)
        data["primitives"] = items
        return bits
