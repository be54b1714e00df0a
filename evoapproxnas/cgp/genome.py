"""Genome: validation, random sampling and active-node extraction (hashing: ``cgp.canonical``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evoapproxnas.cgp.functions import NodeFunction
from evoapproxnas.cgp.spec import MAX_ARITY, CGPSpec
from evoapproxnas.cgp.widths import layer_widths
from evoapproxnas.errors import UserError


@dataclass(frozen=True)
class NodeGenes:
    """The decoded genes of one grid node (``address`` = 1 + its grid index)."""

    address: int
    function: NodeFunction
    inputs: tuple[int, ...]
    params: dict
    multiplier: int
    widths: dict = field(default_factory=dict)
    """Its width genes by name (``CGPSpec.width_genes``; empty when widths are not searched)."""


def _gene_name(spec: CGPSpec, index: int) -> str:
    if index == spec.genome_length - 1:
        return "output"
    if index == spec.head_gene_index:
        return "head multiplier"
    node, offset = divmod(index, spec.node_length)
    if offset == 0:
        part = "function"
    elif offset <= MAX_ARITY:
        part = f"input_{offset - 1}"
    elif offset < spec.multiplier_offset:
        part = f"param_{offset - 1 - MAX_ARITY}"
    elif offset == spec.multiplier_offset:
        part = "multiplier"
    else:
        part = spec.width_genes[offset - spec.multiplier_offset - 1]
    return f"node {node} {part}"


def validate_genome(genome, spec: CGPSpec) -> np.ndarray:
    """Return the genome as an ``int64`` array; raise ``ValueError`` naming a bad gene."""
    try:
        array = np.asarray(genome)
    except ValueError as exc:  # ragged input
        raise ValueError(f"genome is not a flat vector of ints: {exc}") from None
    if array.ndim != 1 or array.size != spec.genome_length:
        raise ValueError(
            f"genome must be a flat vector of {spec.genome_length} ints, got shape {array.shape}"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer) and not (
        np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0)
    ):
        raise ValueError(f"genome must contain integers only, got dtype {array.dtype}")
    array = array.astype(np.int64)
    count, offset, connection = spec.gene_ranges
    draw = array - offset
    ok = np.where(connection, (array == 0) | ((draw >= 1) & (draw < count)),
                  (draw >= 0) & (draw < count))
    if ok.all():
        return array
    for index, value in enumerate(array.tolist()):
        low, high = _gene_bounds(spec, index)
        allowed = high if isinstance(high, tuple) else None
        if allowed is not None:
            if value not in allowed:
                raise ValueError(
                    f"gene {index} ({_gene_name(spec, index)}) = {value} is not an allowed "
                    f"address {list(allowed)}"
                )
        elif not low <= value < high:
            raise ValueError(
                f"gene {index} ({_gene_name(spec, index)}) = {value} is outside {low}..{high - 1}"
            )
    return array


def _gene_bounds(spec: CGPSpec, index: int):
    """``(low, high)`` for ranged genes, ``(None, allowed_addresses)`` for connections."""
    if index == spec.genome_length - 1:
        return 1, spec.n_nodes + 1
    if index == spec.head_gene_index:
        return 0, spec.n_multipliers
    node, offset = divmod(index, spec.node_length)
    if offset == 0:
        return 0, len(spec.node_functions)
    if offset <= MAX_ARITY:
        return None, spec.allowed_inputs(node)
    if offset < spec.multiplier_offset:
        return 0, spec.param_levels
    if offset == spec.multiplier_offset:
        return 0, spec.n_multipliers
    return 0, int(spec.gene_ranges[0][index])


def random_gene(spec: CGPSpec, index: int, rng: np.random.Generator) -> int:
    """A uniformly drawn valid value for gene ``index``."""
    low, high = _gene_bounds(spec, index)
    if isinstance(high, tuple):
        return int(high[rng.integers(len(high))])
    return int(rng.integers(low, high))


MAX_DRAWS = 10_000


def random_genome(spec: CGPSpec, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random valid genome with at least ``spec.min_active_nodes`` active nodes;
    with probability ``spec.uniform_multiplier_rate`` its multiplier genes are then made one
    uniformly drawn multiplier (``uniform_multiplier``)."""
    count, offset, connection = spec.gene_ranges
    for _ in range(MAX_DRAWS):
        draw = rng.integers(0, count)
        genome = np.where(connection & (draw == 0), 0, draw + offset)
        if len(active_nodes(genome, spec)) >= spec.required_active:
            if spec.uniform_multiplier_rate and rng.random() < spec.uniform_multiplier_rate:
                genome = uniform_multiplier(genome, spec, rng)
            return genome
    raise UserError(
        f"CGP spec: no genome with {spec.required_active} active nodes in {MAX_DRAWS} draws; "
        "lower min_active_nodes or enlarge the grid (rows, columns, levels_back)"
    )


def multiplier_gene_indices(spec: CGPSpec) -> list[int]:
    """Indices of every multiplier gene: one per grid node, then the head's own gene (if any)."""
    indices = [node * spec.node_length + spec.multiplier_offset for node in range(spec.n_nodes)]
    if spec.head_gene:
        indices.append(spec.head_gene_index)
    return indices


def priced_with(genome: np.ndarray, spec: CGPSpec, multiplier: int) -> np.ndarray:
    """A copy of ``genome`` whose multiplier genes all hold ``multiplier``: the same network,
    priced at that multiplier's power (the head keeps a fixed ``head_multiplier``)."""
    child = np.array(genome, dtype=np.int64)
    child[multiplier_gene_indices(spec)] = multiplier
    return child


def uniform_multiplier(genome: np.ndarray, spec: CGPSpec, rng: np.random.Generator,
                       exclude: int | None = None) -> np.ndarray:
    """``priced_with`` one multiplier drawn uniformly (other than ``exclude``, unless it is
    the only one)."""
    choices = [m for m in range(spec.n_multipliers) if m != exclude] or [exclude]
    return priced_with(genome, spec, choices[int(rng.integers(len(choices)))])


def node_genes(genome: np.ndarray, spec: CGPSpec, address: int) -> NodeGenes:
    """Interpret the genes of the grid node at ``address`` (1-based)."""
    start = (address - 1) * spec.node_length
    genes = genome[start : start + spec.node_length].tolist()
    function = spec.node_functions[genes[0]]
    raw_params = genes[1 + MAX_ARITY : 1 + MAX_ARITY + spec.n_params]
    params = {
        name: choices[raw_params[i] % len(choices)] for i, (name, choices) in enumerate(function.params)
    }
    inputs = tuple(genes[1 : 1 + function.arity])
    widths = dict(zip(spec.width_genes, genes[spec.multiplier_offset + 1 :]))
    return NodeGenes(address, function, inputs, params, genes[spec.multiplier_offset], widths)


def active_nodes(genome, spec: CGPSpec) -> list[int]:
    """Addresses of the grid nodes the output depends on, in ascending (topological) order."""
    genome = validate_genome(genome, spec)
    stack = [int(genome[-1])]
    active: set[int] = set()
    while stack:
        address = stack.pop()
        if address == 0 or address in active:
            continue
        active.add(address)
        stack.extend(node_genes(genome, spec, address).inputs)
    return sorted(active)


def active_gene_indices(genome, spec: CGPSpec) -> list[int]:
    """Indices of the genes that affect the decoded network (the output gene included)."""
    genome = validate_genome(genome, spec)
    indices = [spec.genome_length - 1]
    if spec.head_gene:
        indices.append(spec.head_gene_index)
    for address in active_nodes(genome, spec):
        genes = node_genes(genome, spec, address)
        start = (address - 1) * spec.node_length
        indices.append(start)
        indices.extend(start + 1 + i for i in range(genes.function.arity))
        indices.extend(start + 1 + MAX_ARITY + i for i in range(len(genes.function.params)))
        if genes.function.multiplies:  # its multiplier and width genes
            indices.extend(range(start + spec.multiplier_offset, start + spec.node_length))
    return sorted(indices)


def width_gene_indices(spec: CGPSpec) -> list[int]:
    """Indices of every width gene (``CGPSpec.width_genes`` of each grid node)."""
    first = spec.multiplier_offset + 1
    return [node * spec.node_length + k for node in range(spec.n_nodes)
            for k in range(first, spec.node_length)]


def multiplier_of(spec: CGPSpec, gene: int | None) -> int | None:
    """The allowed-list index of multiplier gene ``gene``: with ``weight_bits`` the exact
    8xW multiplier of its width (``weight_genes``), else the gene itself."""
    if gene is None or not spec.weight_genes:
        return gene
    return int(spec.weight_genes[gene])


def node_widths(spec: CGPSpec, genes: NodeGenes) -> dict:
    """The bit widths of a multiplying node (``cgp.widths.layer_widths``; empty when the
    spec searches none)."""
    if not spec.widths:
        return {}
    weight_bits = spec.weight_bits[genes.multiplier] if spec.weight_bits else None
    return layer_widths(spec, genes.widths, weight_bits)


def head_multiplier(genome: np.ndarray, spec: CGPSpec) -> int | None:
    """The multiplier gene of the classifier head: its own gene (``head_multiplier =
    "gene"``), the spec's fixed gene, or ``None`` (exact)."""
    head = spec.head_multiplier
    if spec.head_gene:
        return int(genome[spec.head_gene_index])
    if isinstance(head, str):
        raise UserError(
            f"CGP spec: head_multiplier {head!r} names a multiplier; resolve it to its gene "
            "first (a campaign does: search.problem.make_spec)"
        )
    return head
