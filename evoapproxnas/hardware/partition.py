"""Partitioning a network on one FPGA under specifications (after Lu et al., ICCAD 2019).

Every layer has implementation options, each ``(luts, latency_cycles)``. Layers are cut into
consecutive partitions; a partition's layers run pipelined, so its LUTs are the sum of its
layers' and its latency the slowest layer's. Partitions run one after another on the device:
the design's LUTs are the largest partition's, its latency the sum of the partitions' (plus a
reconfiguration time per extra partition). :func:`pareto_designs` finds every Pareto-optimal
``(luts, latency)`` design by dynamic programming over prefixes, keeping only the frontier at
each step; :func:`brute_force_designs` enumerates everything (for tests and benchmarks).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

Option = tuple[float, float]  # (luts, latency_cycles)


@dataclass(frozen=True)
class Design:
    """A partitioned design: cut points, the option index chosen per layer, and its cost."""

    luts: float
    latency_cycles: float
    bounds: tuple[int, ...]  # partition ends (exclusive), last == number of layers
    choice: tuple[int, ...]

    @property
    def partitions(self) -> list[tuple[int, int]]:
        starts = (0, *self.bounds[:-1])
        return list(zip(starts, self.bounds))


def _frontier(items: list, key) -> list:
    """Items not dominated in (cost0, cost1), both minimized; one item per cost pair."""
    items = sorted(items, key=lambda it: (*key(it), ))
    out, best = [], math.inf
    for it in items:
        _, b = key(it)
        if b < best:
            out.append(it)
            best = b
    return out


def _segment_frontiers(options: list[list[Option]], start: int, lut_budget: float):
    """For each end > start: frontier of (sum luts, max latency, choices) of layers start..end."""
    front = [(0.0, 0.0, ())]
    for end in range(start, len(options)):
        nxt = [(lu + o[0], max(la, o[1]), ch + (k,))
               for lu, la, ch in front for k, o in enumerate(options[end])
               if lu + o[0] <= lut_budget]
        front = _frontier(nxt, key=lambda it: (it[0], it[1]))
        if not front:
            return
        yield end + 1, front


def pareto_designs(options: list[list[Option]], lut_budget: float = math.inf,
                   max_latency: float = math.inf, reconfig_cycles: float = 0.0) -> list[Design]:
    """Pareto set of designs (ascending LUTs) with LUTs <= budget and latency <= max_latency.

    An empty list means no design meets the specification.
    """
    n = len(options)
    if n == 0:
        return []
    # best[i]: frontier of (luts, latency, bounds, choice) covering layers 0..i-1
    best: list[list] = [[] for _ in range(n + 1)]
    best[0] = [(0.0, -reconfig_cycles, (), ())]
    for start in range(n):
        if not best[start]:
            continue
        for end, seg in _segment_frontiers(options, start, lut_budget):
            cand = [(max(pl, sl), plat + slat + reconfig_cycles, pb + (end,), pc + sc)
                    for pl, plat, pb, pc in best[start] for sl, slat, sc in seg
                    if plat + slat + reconfig_cycles <= max_latency]
            best[end] = _frontier(best[end] + cand, key=lambda it: (it[0], it[1]))
    return [Design(lu, la, b, c) for lu, la, b, c in best[n]]


def brute_force_designs(options: list[list[Option]], lut_budget: float = math.inf,
                        max_latency: float = math.inf,
                        reconfig_cycles: float = 0.0) -> list[Design]:
    """Same answer as :func:`pareto_designs` by enumerating every partition and choice."""
    n = len(options)
    designs = []
    for cuts in itertools.product((False, True), repeat=max(n - 1, 0)):
        bounds = tuple(i + 1 for i, c in enumerate(cuts) if c) + (n,)
        starts = (0, *bounds[:-1])
        for choice in itertools.product(*(range(len(o)) for o in options)):
            luts = max(sum(options[i][choice[i]][0] for i in range(s, e))
                       for s, e in zip(starts, bounds))
            lat = sum(max(options[i][choice[i]][1] for i in range(s, e))
                      for s, e in zip(starts, bounds)) + reconfig_cycles * (len(bounds) - 1)
            if luts <= lut_budget and lat <= max_latency:
                designs.append(Design(luts, lat, bounds, choice))
    return _frontier(designs, key=lambda d: (d.luts, d.latency_cycles))
