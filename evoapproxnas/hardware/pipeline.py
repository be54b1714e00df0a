"""Multi-FPGA pipelines (after Jiang et al.'s hardware/software co-exploration).

Consecutive layer groups go to a chain of FPGAs, one group (stage) per device, in the given
order. A stage's latency is the fastest partitioned design of its layers that fits its device
(see :mod:`partition`). Throughput = clock / slowest stage; pipeline efficiency = sum of stage
latencies / (stages x slowest stage). The assignment minimizing the slowest stage is found
exactly by dynamic programming over (layers done, devices used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.partition import pareto_designs


@dataclass(frozen=True)
class Pipeline:
    """An assignment of layer groups to devices and its performance."""

    devices: tuple[str, ...]
    bounds: tuple[int, ...]  # stage ends (exclusive)
    stage_cycles: tuple[float, ...]
    clock_mhz: float

    @property
    def slowest_cycles(self) -> float:
        return max(self.stage_cycles)

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.slowest_cycles

    @property
    def efficiency(self) -> float:
        return sum(self.stage_cycles) / (len(self.stage_cycles) * self.slowest_cycles)


def stage_latencies(layers: list, model) -> list[list[float]]:
    """``lat[j][i]``: fastest design of layers j..i-1 on ``model``'s device (inf if none)."""
    n = len(layers)
    options = [[o[:2] for o in model.layer_options(x)] for x in layers]
    lat = [[math.inf] * (n + 1) for _ in range(n + 1)]
    budget = model.device["luts"]
    for j in range(n):
        for i in range(j + 1, n + 1):
            designs = pareto_designs(options[j:i], budget, math.inf,
                                     model.config["reconfig_cycles"])
            if not designs:
                break  # longer groups only need more
            lat[j][i] = designs[-1].latency_cycles
    return lat


def search_pipeline(layers: list, devices: list[str], preset: str | None = None,
                    **overrides) -> Pipeline:
    """Best assignment of consecutive layer groups to ``devices`` (every device used once).

    Stages run at the slowest device clock of the chain. Raises ``UserError`` when there are
    fewer layers than devices or no assignment fits.
    """
    from evoapproxnas.hardware.config import get_cost_model

    if not devices:
        raise UserError("give at least one FPGA device for the pipeline")
    n, k = len(layers), len(devices)
    if n < k:
        raise UserError(f"{n} layers cannot fill a pipeline of {k} FPGAs; use fewer devices")
    models = [get_cost_model("fpga", preset, **dict(overrides, device=d)) for d in devices]
    lats = [stage_latencies(layers, m) for m in models]
    # best[s][i]: (slowest, sum, bounds) for layers 0..i-1 on the first s devices
    inf = (math.inf, math.inf, ())
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    best[0][0] = (0.0, 0.0, ())
    for s in range(1, k + 1):
        for i in range(s, n - (k - s) + 1):
            for j in range(s - 1, i):
                prev = best[s - 1][j]
                stage = lats[s - 1][j][i]
                if prev[0] == math.inf or stage == math.inf:
                    continue
                cand = (max(prev[0], stage), prev[1] + stage, prev[2] + (i,))
                if cand[:2] < best[s][i][:2]:
                    best[s][i] = cand
    slowest, _, bounds = best[k][n]
    if slowest == math.inf:
        raise UserError(f"no assignment of the network to {', '.join(devices)} fits their LUTs")
    starts = (0, *bounds[:-1])
    stages = tuple(lats[s][a][b] for s, (a, b) in enumerate(zip(starts, bounds)))
    clock = min(m.config["clock_mhz"] for m in models)
    return Pipeline(tuple(devices), bounds, stages, clock)


def brute_force_pipeline(lats: list[list[list[float]]], n: int) -> float:
    """Smallest slowest-stage latency by enumerating every cut (for tests)."""
    import itertools

    k = len(lats)
    best = math.inf
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        best = min(best, max(lats[s][bounds[s]][bounds[s + 1]] for s in range(k)))
    return best
