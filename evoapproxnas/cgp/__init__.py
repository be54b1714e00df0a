"""CGP genomes of CNNs: node functions, genome, mutation, decoding and counting (no TensorFlow).

``random_genome(spec, rng)`` / ``mutate(genome, spec, rng)`` produce flat int vectors;
``decode(genome, spec, input_shape, n_classes)`` gives a ``networkx.DiGraph`` with shapes;
``genome_hash`` / ``network_hash`` identify the decoded network (``cgp.canonical``);
``count_params``, ``count_multiplications``, ``multiply_layers`` and ``multiplication_power``
work on that graph. ``evoapproxnas.nn`` builds and trains it.
"""

from evoapproxnas.cgp.canonical import network_hash
from evoapproxnas.cgp.counting import (
    count_multiplications,
    count_params,
    graph_primitives,
    multiplication_power,
    multiply_layers,
    node_primitives,
)
from evoapproxnas.cgp.decode import decode, genome_hash
from evoapproxnas.cgp.functions import (
    DEFAULT_FUNCTIONS,
    FUNCTIONS,
    NodeFunction,
    register_function,
)
from evoapproxnas.cgp.genome import (
    active_gene_indices,
    active_nodes,
    priced_with,
    random_genome,
    uniform_multiplier,
    validate_genome,
)
from evoapproxnas.cgp.mutation import mutate
from evoapproxnas.cgp.spec import CGPSpec

__all__ = [
    "DEFAULT_FUNCTIONS",
    "FUNCTIONS",
    "CGPSpec",
    "NodeFunction",
    "active_gene_indices",
    "active_nodes",
    "count_multiplications",
    "count_params",
    "decode",
    "genome_hash",
    "graph_primitives",
    "multiplication_power",
    "multiply_layers",
    "mutate",
    "network_hash",
    "node_primitives",
    "priced_with",
    "random_genome",
    "uniform_multiplier",
    "register_function",
    "validate_genome",
]
