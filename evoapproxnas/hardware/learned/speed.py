"""How fast the learned evaluator prices a batch, beside the analytical ASIC model on the
same (network, accelerator) pairs (no TensorFlow)."""

from __future__ import annotations

import time

import numpy as np

from evoapproxnas.hardware.config import get_cost_model
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import CostDataset, multiplier_pool


def rebuild_layers(dataset: CostDataset, network: int) -> list:
    """The cost-model layers of one dataset network (multipliers resolved by name)."""
    from evoapproxnas.hardware.layers import Layer

    pool = {f"{m.library}/{m.name}": m for m in multiplier_pool(dataset.settings)}
    t = dataset.table
    layers = []
    for i in range(t.offsets[network], t.offsets[network + 1]):
        kind, g, m, c, p, q, r, s, sh, sw = (int(v) for v in t.rows[i])
        in_h, in_w = (p - 1) * sh + r, (q - 1) * sw + s  # a valid-padding input of that size
        layers.append(Layer(E.KINDS[kind], (in_h, in_w, g * c), (p, q, g * m), (r, s),
                            (sh, sw), g, pool[dataset.multipliers[i]]))
    return layers


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_batch(evaluator, dataset: CostDataset, networks: np.ndarray, batch: int,
               rng: np.random.Generator, repeats: int = 7) -> dict:
    """Seconds to price ``batch`` random (network, grid point) pairs of ``networks``:
    ``predict_s`` (the networks on encoded inputs, best of ``repeats``), ``encode_s`` (layer
    rows -> features), ``predict_keras_s`` is left to the caller; ``analytical_cold_s`` (the
    ASIC model with its mapping cache emptied first) and ``analytical_warm_s`` (again, every
    mapping cached), and the largest relative difference of the two models' values."""
    from evoapproxnas.hardware.asic import _map_cached

    nets = rng.choice(networks, size=batch)
    points = rng.integers(len(evaluator.grid.points), size=batch)
    table = dataset.table.select(np.unique(nets))
    local = np.searchsorted(np.unique(nets), nets)
    encoded = evaluator.encode(table)
    out = {"batch": int(batch),
           "encode_s": _best_of(lambda: evaluator.encode(table), repeats),
           "predict_s": _best_of(lambda: evaluator.predict_logs(table, local, points, encoded),
                                 repeats)}
    layers = {int(n): rebuild_layers(dataset, int(n)) for n in np.unique(nets)}
    s = dataset.settings
    models = [get_cost_model("asic", s.preset, **dict(s.overrides, dataflow=f, pe_y=y, pe_x=x,
                                                      glb_kib=k))
              for f, y, x, k in evaluator.grid.points]

    def analytical():
        return [models[k].estimate(layers[int(n)])["edap"] for n, k in zip(nets, points,
                                                                             strict=True)]

    _map_cached.cache_clear()
    start = time.perf_counter()
    edap = np.asarray(analytical())
    out["analytical_cold_s"] = time.perf_counter() - start
    out["analytical_warm_s"] = _best_of(analytical, 3)
    pred = np.exp(evaluator.predict_logs(table, local, points, encoded)).prod(axis=1)
    out["edap_mape_pct"] = float(np.mean(np.abs(pred / edap - 1)) * 100)
    return out
