"""The CGP space (``[space] kind = "cgp"``): genomes of a ``CGPSpec``, sampled, mutated and
identified by the hash of their decoded network."""

from __future__ import annotations

import dataclasses

import numpy as np

from evoapproxnas.cgp.spec import HEAD_MODES, MAX_ARITY
from evoapproxnas.cgp.variation import power_error_order
from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.search.spaces.redraw import REPAIR_TRIES, Redrawing
from evoapproxnas.search.spaces.registry import Decision, register_space

__all__ = ["REPAIR_TRIES", "CGPSpace", "make_cgp_spec"]


def make_cgp_spec(cfg, multipliers: list):
    """The campaign's ``[cgp]`` spec with its multiplier genes sized to the allowed set and
    a ``head_multiplier`` name resolved to its gene (``UserError`` if it is not allowed).

    With the ``[space]`` bit-width keys (``activation_bits``, ``weight_bits``,
    ``fixed_point``, ``activation_frac_bits``, ``weight_frac_bits``; docs/quantization.md) the
    spec gets them, so multiplying nodes get width genes; with ``weight_bits`` a multiplier
    gene selects a width W, the exact 8xW multiplier of the allowed list (as in the
    layer-list space, ``spaces.layers.width_multipliers``)."""
    from evoapproxnas.search.spaces.layers import width_multipliers

    space = cfg.space
    weight_genes = width_multipliers(cfg, multipliers)
    head = cfg.cgp.head_multiplier
    if isinstance(head, str) and head not in HEAD_MODES:
        names = [m.name for m in multipliers]
        if head not in names:
            raise UserError(
                f"{cfg.source}: cgp.head_multiplier = {head!r} is not an allowed multiplier"
                f"{closest_names(head, names)}; use 'exact', 'gene' or one of "
                + (", ".join(names) if len(names) <= 10 else "multipliers.allowed"))
        head = names.index(head)
        if weight_genes:  # a multiplier gene is then a weight width
            if head not in weight_genes:
                raise UserError(
                    f"{cfg.source}: cgp.head_multiplier = {names[head]!r}: with "
                    "space.weight_bits the head's multiplier must be the exact 8xW "
                    "multiplier of one of the widths, or 'exact' or 'gene'")
            head = weight_genes.index(head)
    genes = list(weight_genes) or list(range(len(multipliers)))
    widths = dict(activation_bits=tuple(space.activation_bits),
                  weight_bits=tuple(space.weight_bits), fixed_point=space.fixed_point,
                  activation_frac_bits=tuple(space.activation_frac_bits),
                  weight_frac_bits=tuple(space.weight_frac_bits), weight_genes=weight_genes)
    try:
        return dataclasses.replace(
            cfg.cgp, n_multipliers=len(genes), head_multiplier=head,
            multiplier_order=power_error_order([multipliers[g] for g in genes]), **widths)
    except UserError as exc:
        raise UserError(f"{cfg.source}: [cgp]: {exc}") from None


@register_space("cgp")
class CGPSpace(Redrawing):
    """Genomes of a ``CGPSpec``; the key is the hash of the decoded network (``cgp.canonical``):
    two genomes that build the same layers with the same multipliers share a key, so the
    campaign trains that network once.

    With a ``feasible`` predicate (the campaign's cheap constraints, see ``set_filter``),
    ``sample`` and ``mutate`` re-draw a candidate that breaks one, up to ``REPAIR_TRIES``
    draws, so that it does not take a population slot; the rejected draws are kept in
    ``rejected`` until the campaign archives them (``take_rejected``). Both are
    deterministic given the generator. The predicate is not pickled with the space (a
    checkpoint): the campaign sets it again after loading one.

    Its decisions (``decisions``) are the genes: per node its function, ``MAX_ARITY``
    input connections (the input or a node within ``levels_back`` columns), its parameter
    genes, its multiplier and, when the campaign searches bit widths, its width genes
    (``cgp.widths``: ``activation_bits``, then ``activation_frac_bits`` and
    ``weight_frac_bits`` in fixed point; with ``weight_bits`` the multiplier gene is named
    ``weight_bits``); then the head's multiplier gene (``head_multiplier = "gene"``) and the
    output gene.
    """

    make_spec = staticmethod(make_cgp_spec)

    def __init__(self, spec, input_shape=None, n_classes: int | None = None) -> None:
        self.spec = spec
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.n_classes = n_classes
        self.n_var = spec.genome_length
        self.lower = np.zeros(self.n_var)
        self.upper = np.full(self.n_var, float(max(spec.n_nodes + 1, spec.param_levels,
                                                   len(spec.node_functions),
                                                   spec.n_multipliers,
                                                   *spec.gene_ranges[0])))
        self.feasible = None
        self.rejected: list[np.ndarray] = []

    @property
    def n_multipliers(self) -> int:
        """Values of a multiplier gene (the campaign's allowed multipliers; with
        ``weight_bits``: the weight widths)."""
        return self.spec.n_multipliers

    def width_indices(self) -> list[int]:
        """Indices of the width genes (empty when no widths are searched)."""
        from evoapproxnas.cgp.genome import width_gene_indices

        return width_gene_indices(self.spec)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import random_genome

        return self.redrawn(lambda: random_genome(self.spec, rng))

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from evoapproxnas.cgp import mutate

        parent = np.asarray(x, dtype=np.int64)
        return self.redrawn(lambda: mutate(parent, self.spec, rng))

    @property
    def crossover_rate(self) -> float:
        """Share of offspring made by ``recombine`` where it applies
        (``cgp.multiplier_crossover``)."""
        return float(getattr(self.spec, "multiplier_crossover", 0.0))

    def recombine(self, a: np.ndarray, b: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray | None:
        """``a`` with per-layer multipliers exchanged with ``b`` when both build the same
        layers (``cgp.variation.recombine``; ``None`` otherwise); re-drawn like a mutation
        while it breaks a cheap constraint."""
        from evoapproxnas.cgp.variation import recombine

        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if recombine(a, b, self.spec, rng) is None:
            return None
        return self.redrawn(lambda: recombine(a, b, self.spec, rng))

    def key(self, x: np.ndarray) -> str:
        from evoapproxnas.cgp import genome_hash

        return genome_hash(np.asarray(x, dtype=np.int64), self.spec, self.input_shape,
                           self.n_classes)

    def network_key(self, x: np.ndarray) -> str:
        """The key of the network without its multipliers and widths: equal for genomes
        that build the same layers, whatever multipliers and widths price them (their
        weights are interchangeable)."""
        out = self.priced_with(x, 0)
        out[self.width_indices()] = 0
        return self.key(out)

    def priced_with(self, x: np.ndarray, gene: int) -> np.ndarray:
        """The genome with multiplier gene ``gene`` on every multiplier gene."""
        from evoapproxnas.cgp.genome import priced_with

        return priced_with(x, self.spec, gene)

    def decode(self, x: np.ndarray):
        """The genome's network (``cgp.decode``)."""
        from evoapproxnas.cgp import decode

        return decode(np.asarray(x, dtype=np.int64), self.spec, self.input_shape,
                      self.n_classes)

    def validate(self, x) -> np.ndarray:
        """The genome as int64 (``UserError``/``ValueError`` when it does not fit the spec)."""
        from evoapproxnas.cgp import validate_genome

        return validate_genome(x, self.spec)

    def decisions(self) -> list[Decision]:
        """One decision per gene, in gene order (its number of allowed values)."""
        count, _, _ = self.spec.gene_ranges
        return [Decision(name, int(n)) for name, n in zip(self._gene_names(), count)]

    def compose(self, options) -> np.ndarray:
        """The genome whose gene ``i`` takes its ``options[i]``-th allowed value (a
        connection gene's option 0 is the network's input, option ``r > 0`` the ``r``-th
        node it may read)."""
        count, offset, connection = self.spec.gene_ranges
        r = np.asarray(options, dtype=np.int64)
        if r.shape != count.shape or np.any(r < 0) or np.any(r >= count):
            raise ValueError(f"compose: give {len(count)} options, each below its decision's "
                             "number of options")
        return np.where(connection & (r == 0), 0, r + offset).astype(np.int64)

    def _gene_names(self) -> list[str]:
        spec = self.spec
        multiplier = "weight_bits" if spec.weight_bits else "multiplier"
        per_node = (["function"] + [f"input{p}" for p in range(MAX_ARITY)]
                    + [f"param{p}" for p in range(spec.n_params)] + [multiplier]
                    + list(spec.width_genes))
        names = [f"node{k}.{what}" for k in range(spec.n_nodes) for what in per_node]
        if spec.head_gene:
            names.append("head.multiplier")
        return [*names, "output"]
