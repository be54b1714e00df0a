"""The fixed network the training benchmarks share (``approx_training.py``, ``bit_width.py``):
the first seeded draw of the quickstart's CGP space with 1-3 M multiplications per image."""

from __future__ import annotations

import numpy as np

from evoapproxnas.cgp import CGPSpec, count_multiplications, decode, random_genome

SPEC = CGPSpec(rows=2, columns=5, levels_back=2, min_active_nodes=4,
               functions=("conv2d", "basic_residual", "max_pooling"),
               choices={"conv2d": {"filters": [16, 32, 48]},
                        "basic_residual": {"filters": [16, 32, 48]}})


def fixed_network(data, seed: int):
    """The first draw of ``SPEC`` (generator seeded with ``seed``) with 1-3 M
    multiplications per image, decoded for ``data``'s image shape and classes."""
    rng = np.random.default_rng(seed)
    while True:
        graph = decode(random_genome(SPEC, rng), SPEC, data.input_shape, data.n_classes)
        if 1e6 <= sum(count_multiplications(graph).values()) <= 3e6:
            return graph
