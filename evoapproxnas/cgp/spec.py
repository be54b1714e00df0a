"""``CGPSpec``: the grid, function set and mutation settings of a CGP-encoded CNN.

Genome layout (flat ints): for each of ``rows * columns`` nodes, column-major,
``[function, input_0, input_1, param_0 .. param_{P-1}, multiplier, widths...]``, then, with
``head_multiplier = "gene"``, the head's multiplier gene, then one output gene. The width
genes (``cgp.widths``) are there only when the campaign searches bit widths (``[space]
activation_bits`` / ``fixed_point``): ``activation_bits``, then with fixed point
``activation_frac_bits`` and ``weight_frac_bits``; without them the layout is the one of
earlier versions. With ``[space] weight_bits`` a multiplier gene (the head's included) selects
a weight width W, i.e. the exact 8xW multiplier ``weight_genes[gene]`` of the allowed list.
Addresses: 0 is the input node, ``1 + k`` is grid node ``k`` (column ``k // rows``).
A node in column ``c`` may read the input or any node of columns ``c - levels_back .. c - 1``.
The output gene addresses any grid node. ``P`` is the largest parameter count of the
function set; a parameter gene takes values ``0 .. param_levels - 1`` (the lcm of all choice
counts) and selects ``choices[gene % len(choices)]``, so every function reads every gene
without bias and a function change never leaves an invalid gene behind.

Defaults are small on purpose: EvoApproxNAS used 10 x 30 nodes, but a 2 x 6 grid with
levels-back 2 yields networks at most six blocks deep (up to twelve nodes) that train with the
default ``nn.TrainBudget`` in 10-30 s per candidate on two CPU cores (measured by
benchmarks/candidate_eval.py); every field is configurable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from evoapproxnas.cgp.functions import (
    DEFAULT_FUNCTIONS,
    FUNCTIONS,
    NodeFunction,
    check_choice,
)
from evoapproxnas.cgp.widths import (
    DEFAULT_FRAC_BITS,
    check_widths,
    searches_widths,
    width_genes,
    width_options,
)
from evoapproxnas.errors import UserError, closest_names

MAX_ARITY = 2
MAX_NODES = 100_000
"""Largest grid (``rows * columns``) a spec may have."""
MAX_CHOICE = 1 << 16
"""Largest number a parameter choice may be (filters, kernel size ...)."""
MULTIPLIER_MUTATIONS = ("uniform", "neighbour")
"""Values of ``multiplier_mutation``."""
HEAD_MODES = ("exact", "gene")
"""Words ``head_multiplier`` takes besides a gene or a multiplier name."""


@dataclass(frozen=True)
class CGPSpec:
    """Shape of the genome and its operators; every field has a default."""

    rows: int = 2
    """Rows of the node grid."""
    columns: int = 6
    """Columns of the node grid (a network is at most this many nodes deep)."""
    levels_back: int = 2
    """How many columns back a node may read from (the input is always allowed)."""
    functions: tuple[str, ...] = DEFAULT_FUNCTIONS
    """Node functions a node may take, by name (the order is their gene value); the default
    is all registered ones, EvoApproxNAS's table."""
    choices: dict = field(default_factory=dict)
    """Overrides ``{function: {parameter: [choices...]}}`` of the registered choices."""
    n_multipliers: int = 1
    """Size of the campaign's allowed multiplier set; multiplier genes index it."""
    head_multiplier: int | str | None = None
    """Multiplier of the classifier's dense layer: ``None`` or ``"exact"`` (the library's
    exact one; stored as ``None``), ``"gene"`` (a multiplier gene of its own, just before the
    output gene, evolved like any layer's), a fixed gene ``0..n_multipliers-1``, or the name of
    a multiplier, which a campaign resolves to its gene (``search.problem.make_spec``)."""
    mutation_rate: float = 0.1
    """Probability of each gene being redrawn in a point mutation, in (0, 1]."""
    mutate_until_active: bool = True
    """Repeat point mutations until a gene that is active in the parent has changed
    (otherwise an offspring may differ only in genes its network does not use)."""
    uniform_multiplier_rate: float = 0.0
    """Probability that a random genome or an offspring gets one multiplier, drawn uniformly,
    on every multiplying node (``cgp.genome.uniform_multiplier``) instead of an independent
    draw per node or a point mutation: an offspring keeps its parent's network at another
    power level. Per-node draws average out, so without it the relative power of random
    genomes crowds around the mean of the allowed set."""
    min_active_nodes: int = 3
    """Random genomes and offspring have at least this many active nodes (capped at the
    number of columns); with the default grid a third of uniform genomes qualify, the rest would be
    one- or two-layer networks not worth training. Validation does not enforce it."""
    multiplier_mutation: str = "uniform"
    """How a mutation changes a multiplier gene: "uniform" (any other allowed multiplier) or
    "neighbour" (mostly one step up or down the allowed multipliers ordered by power, then
    error; ``cgp.variation``), for point mutations and re-pricings alike."""
    multiplier_crossover: float = 0.0
    """Probability that an offspring of two parents that build the same layers (a network
    and its re-priced copies) is their crossover instead of a mutation: each layer's
    multiplier from one parent or the other (``cgp.variation.recombine``). 0: off."""
    multiplier_order: tuple = ()
    """Multiplier genes from the most to the least power (derived by the campaign from the
    allowed multipliers; empty: gene order)."""
    activation_bits: tuple = ()
    """Widths A a multiplying node may take: a width gene per node (the campaign copies
    ``[space] activation_bits``; empty: A = 8, no gene)."""
    weight_bits: tuple = ()
    """Widths W a multiplier gene selects (``[space] weight_bits``; empty: the multiplier gene
    indexes the allowed multipliers)."""
    fixed_point: bool = False
    """Two more width genes per node, the fractional bits (``[space] fixed_point``)."""
    activation_frac_bits: tuple = DEFAULT_FRAC_BITS
    """Fractional activation bits a node may take (``[space] activation_frac_bits``)."""
    weight_frac_bits: tuple = DEFAULT_FRAC_BITS
    """Fractional weight bits a node may take (``[space] weight_frac_bits``)."""
    weight_genes: tuple = ()
    """The allowed-list index of the exact 8xW multiplier of each ``weight_bits`` choice."""

    def __post_init__(self) -> None:
        for name in ("rows", "columns", "levels_back", "n_multipliers", "min_active_nodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"cgp.{name} must be a positive integer, got {value!r}")
        if self.rows * self.columns > MAX_NODES:
            raise UserError(f"cgp.rows x cgp.columns = {self.rows * self.columns} nodes is more "
                            f"than {MAX_NODES}; use a smaller grid")
        functions = self.functions
        if isinstance(functions, str) or not isinstance(functions, (list, tuple)) or not all(
                isinstance(name, str) for name in functions):
            raise UserError(f"cgp.functions must be a list of node function names, e.g. "
                            f"['conv2d', 'max_pooling'], got {functions!r}")
        object.__setattr__(self, "functions", tuple(functions))
        if not self.functions:
            raise UserError("cgp.functions must name at least one node function")
        for name in self.functions:
            if name not in FUNCTIONS:
                raise UserError(
                    f"cgp.functions: unknown node function {name!r}"
                    f"{closest_names(name, FUNCTIONS)}; known: {', '.join(FUNCTIONS)}"
                )
        if len(set(self.functions)) != len(self.functions):
            raise UserError("cgp.functions lists a node function twice")
        self._check_choices()
        for name, low_open in (("mutation_rate", True), ("uniform_multiplier_rate", False)):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0)):
                raise UserError(f"cgp.{name} must be in {'(0' if low_open else '[0'}, 1], "
                                f"got {value!r}")
        if self.multiplier_mutation not in MULTIPLIER_MUTATIONS:
            raise UserError(f"cgp.multiplier_mutation must be one of "
                            f"{', '.join(MULTIPLIER_MUTATIONS)}, got {self.multiplier_mutation!r}")
        value = self.multiplier_crossover
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 <= value <= 1.0):
            raise UserError(f"cgp.multiplier_crossover must be in [0, 1], got {value!r}")
        order = tuple(self.multiplier_order)
        if order and sorted(order) != list(range(self.n_multipliers)):
            raise UserError(f"cgp.multiplier_order must order the genes 0..{self.n_multipliers - 1}"
                            f", got {order!r}")
        object.__setattr__(self, "multiplier_order", order)
        for name in ("activation_bits", "weight_bits", "activation_frac_bits",
                     "weight_frac_bits", "weight_genes"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_widths(self)
        if self.weight_bits and len(self.weight_bits) != self.n_multipliers:
            raise UserError(f"cgp: with space.weight_bits the multiplier genes select a width: "
                            f"n_multipliers must be {len(self.weight_bits)}, got "
                            f"{self.n_multipliers}")
        if self.weight_genes and len(self.weight_genes) != len(self.weight_bits):
            raise UserError("cgp: weight_genes must give one multiplier per space.weight_bits "
                            "choice")
        if not isinstance(self.mutate_until_active, bool):
            raise UserError(f"cgp.mutate_until_active must be true or false, got "
                            f"{self.mutate_until_active!r}")
        head = self.head_multiplier
        if head == "exact":
            object.__setattr__(self, "head_multiplier", None)
        elif not (head is None or (isinstance(head, str) and head.strip()) or (
                isinstance(head, int) and not isinstance(head, bool)
                and 0 <= head < self.n_multipliers)):
            raise UserError(
                "cgp.head_multiplier must be 'exact', 'gene' or a multiplier name (in "
                f"code also a gene 0..{self.n_multipliers - 1}), got {head!r}"
            )

    def _check_choices(self) -> None:
        """``choices``: a table ``{function: {parameter: [values...]}}`` of valid values."""
        example = "e.g. { conv2d = { filters = [8, 16] } }"
        if not isinstance(self.choices, dict):
            raise UserError(f"cgp.choices must be a table, {example}; got {self.choices!r}")
        for fname, overrides in self.choices.items():
            if fname not in self.functions:
                raise UserError(f"cgp.choices: choices given for {fname!r}, which is not in "
                                f"cgp.functions ({', '.join(self.functions)})")
            known = FUNCTIONS[fname].param_names
            if not isinstance(overrides, dict):
                raise UserError(f"cgp.choices.{fname} must be a table of parameters "
                                f"({', '.join(known) or 'none'}), {example}; got {overrides!r}")
            for pname, values in overrides.items():
                if pname not in known:
                    raise UserError(
                        f"cgp.choices: {fname} has no parameter {pname!r}; it has: "
                        f"{', '.join(known) or 'none'}"
                    )
                if not isinstance(values, (list, tuple)) or not values:
                    raise UserError(f"cgp.choices: choices of {fname}.{pname} must be a "
                                    f"non-empty list, got {values!r}")
                for value in values:
                    problem = check_choice(fname, pname, value)
                    if problem:
                        raise UserError(f"cgp.choices: {problem}")
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                            math.isfinite(value) and abs(value) <= MAX_CHOICE):
                        raise UserError(f"cgp.choices: {fname}.{pname} choices must be at most "
                                        f"{MAX_CHOICE}, got {value!r}")

    @cached_property
    def node_functions(self) -> tuple[NodeFunction, ...]:
        """The function set in gene order, with ``choices`` overrides applied."""
        resolved = []
        for name in self.functions:
            base = FUNCTIONS[name]
            overrides = dict(self.choices).get(name, {})
            params = tuple((p, tuple(overrides.get(p, c))) for p, c in base.params)
            resolved.append(NodeFunction(base.name, base.arity, params, base.multiplies))
        return tuple(resolved)

    @property
    def n_nodes(self) -> int:
        return self.rows * self.columns

    @property
    def required_active(self) -> int:
        """``min_active_nodes`` capped at ``columns`` (a chain through all columns always exists)."""
        return min(self.min_active_nodes, self.columns)

    @cached_property
    def n_params(self) -> int:
        return max((len(f.params) for f in self.node_functions), default=0)

    @cached_property
    def param_levels(self) -> int:
        counts = [len(c) for f in self.node_functions for _, c in f.params]
        return math.lcm(*counts) if counts else 1

    @property
    def multiplier_offset(self) -> int:
        """Position of the multiplier gene in a node's genes (its width genes follow)."""
        return 1 + MAX_ARITY + self.n_params

    @property
    def widths(self) -> bool:
        """True when multiplying nodes carry bit widths (width genes, ``cgp.widths``)."""
        return searches_widths(self)

    @property
    def width_genes(self) -> tuple[str, ...]:
        """Names of a node's width genes, in gene order (empty: none)."""
        return width_genes(self)

    @property
    def node_length(self) -> int:
        return 1 + MAX_ARITY + self.n_params + 1 + len(self.width_genes)

    @property
    def head_gene(self) -> bool:
        """True when the classifier head has a multiplier gene of its own (``"gene"``)."""
        return self.head_multiplier == "gene"

    @property
    def head_gene_index(self) -> int | None:
        """Index of the head's multiplier gene (just before the output gene), or None."""
        return self.n_nodes * self.node_length if self.head_gene else None

    @property
    def genome_length(self) -> int:
        return self.n_nodes * self.node_length + int(self.head_gene) + 1

    @cached_property
    def gene_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per gene ``(count, offset, is_connection)``: draw ``r`` in ``0..count-1``; the value
        is ``r + offset``, except a connection gene's ``r = 0`` which is the input (0)."""
        count = np.empty(self.genome_length, np.int64)
        offset = np.zeros(self.genome_length, np.int64)
        connection = np.zeros(self.genome_length, bool)
        for node in range(self.n_nodes):
            start = node * self.node_length
            count[start] = len(self.node_functions)
            allowed = self.allowed_inputs(node)
            for port in range(MAX_ARITY):
                count[start + 1 + port] = len(allowed)
                offset[start + 1 + port] = (allowed[1] - 1) if len(allowed) > 1 else 0
                connection[start + 1 + port] = True
            count[start + 1 + MAX_ARITY : start + self.multiplier_offset] = self.param_levels
            count[start + self.multiplier_offset] = self.n_multipliers
            options = width_options(self)
            for k, name in enumerate(self.width_genes):
                count[start + self.multiplier_offset + 1 + k] = options[name]
        if self.head_gene:
            count[self.head_gene_index] = self.n_multipliers
        count[-1], offset[-1] = self.n_nodes, 1
        return count, offset, connection

    def allowed_inputs(self, node: int) -> tuple[int, ...]:
        """Addresses grid node ``node`` (0-based) may read: the input and levels-back columns."""
        column = node // self.rows
        first = max(0, column - self.levels_back)
        return (0,) + tuple(range(1 + first * self.rows, 1 + column * self.rows))
