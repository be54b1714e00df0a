"""Tiny learned-evaluator data for the tests: a dataset priced in about a second and an
untrained evaluator with seeded random weights (numpy only)."""

import numpy as np

from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import DatasetSettings
from evoapproxnas.hardware.learned.evaluator import FORMAT, LearnedEvaluator

TINY = DatasetSettings(seed=1, networks=16, input_sizes=(8,), input_channels=(1, 2),
                       depth=(1, 3), kernels=(1, 3), filters=(4, 8, 16),
                       libraries=("evoapproxlib8u",),
                       grid={"dataflow": ["rs", "ws"], "array": [[8, 8], [16, 16]],
                             "glb_kib": [32.0]})


def random_evaluator(settings: DatasetSettings, seed: int = 0, hidden: int = 8,
                     depth: int = 2, pairs: bool = False) -> LearnedEvaluator:
    """An evaluator of ``settings``' design space with random weights (not trained);
    ``pairs``: one that reads the pair features too."""
    rng = np.random.default_rng(seed)
    grid = E.Grid.from_dict(settings.grid)
    n_l, n_n = len(E.LAYER_FEATURES), len(E.NETWORK_FEATURES)
    n_c = E.config_features(grid).shape[1]
    n_p = len(E.PAIR_FEATURES) if pairs else 0
    shapes = {"layer_mlp_0": (n_l + n_c + n_p, hidden), "layer_out": (hidden, 2),
              "area_mlp_0": (n_c + n_n, hidden), "area_mlp_1": (hidden, hidden),
              "area_out": (hidden, 1), "gen_layer_mlp_0": (n_l, hidden),
              "gen_layer_mlp_1": (hidden, hidden), "gen_mlp_0": (2 * hidden + n_n, hidden),
              "gen_mlp_1": (hidden, hidden)}
    shapes.update({f"layer_mlp_{i}": (hidden, hidden) for i in range(1, depth)})
    shapes.update({f"head_{n}": (hidden, k) for n, k in zip(("dataflow", "array", "glb"),
                                                            grid.head_sizes)})
    weights = {}
    for name, shape in shapes.items():
        weights[f"{name}/kernel"] = (rng.normal(size=shape) * 0.3).astype(np.float32)
        weights[f"{name}/bias"] = np.zeros(shape[1], np.float32)

    def unit(n):
        return {"mean": [0.0] * n, "std": [1.0] * n}

    spec = {"format": FORMAT, "dataset": settings.to_dict(), "training": {},
            "features": {"layer": unit(n_l), "network": unit(n_n), "config": unit(n_c),
                         **({"pair": unit(n_p)} if pairs else {})},
            "estimator": {"hidden": hidden, "depth": depth, "area_hidden": hidden,
                          "pair_features": pairs,
                          "layer_target": {"mean": [10.0, 12.0], "std": [1.0, 1.0]},
                          "area_target": {"mean": [14.0], "std": [0.5]}}}
    return LearnedEvaluator(spec, weights)
