"""Hand-writing tiny genomes: one node = function name, inputs, parameter choice indices."""

from evoapproxnas.cgp import CGPSpec


def node(spec: CGPSpec, function: str, inputs=(0, 0), params=(), multiplier=0) -> list[int]:
    """Genes of one node; ``params`` are indices into each parameter's choices."""
    genes = [list(spec.functions).index(function), *inputs]
    genes += list(params) + [0] * (spec.n_params - len(params))
    return genes + [multiplier]


def genome(spec: CGPSpec, nodes: list[list[int]], output: int, head: int = 0) -> list[int]:
    """Concatenate node genes (padding the grid with input-reading nodes), the head's
    multiplier gene ``head`` when the spec has one, and the output gene."""
    filler = node(spec, spec.functions[0])
    genes = [g for n in nodes for g in n]
    genes += filler * (spec.n_nodes - len(nodes))
    return genes + ([head] if spec.head_gene else []) + [output]
