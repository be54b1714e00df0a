"""Multi-FPGA pipelines (after Jiang et al.'s hardware/software co-exploration).

Consecutive layer groups go to a chain of FPGAs, one group (stage) per device, in the given
order. A stage's latency is the fastest partitioned design of its layers (see
:mod:`partition`) that fits its device (LUTs, DSPs and block RAMs). Throughput = clock /
slowest stage; pipeline efficiency = sum of stage latencies / (stages x slowest stage).

:func:`assign_stages` finds the assignment that is optimal on both keys, the slowest stage
first and then the sum of the stages, by two exact dynamic programs over (layers done,
devices used): the first gives the least possible slowest stage ``T`` (a min-max recursion,
which composes exactly); the second the least sum among assignments whose every stage is at
most ``T`` (every such assignment has slowest stage exactly ``T``). Keeping one lexicographic
(slowest, sum) pair per prefix instead is not optimal: a prefix with a larger slowest stage
but a smaller sum can win once a slower stage follows.
"""

from __future__ import annotations

import itertools
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
    stage_designs: tuple[str, ...] = ()
    """Per stage, the partitioned design found (partition ends and Tm x Tn per layer)."""

    @property
    def slowest_cycles(self) -> float:
        return max(self.stage_cycles)

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.slowest_cycles

    @property
    def efficiency(self) -> float:
        return sum(self.stage_cycles) / (len(self.stage_cycles) * self.slowest_cycles)

    @property
    def stages(self) -> list[tuple[int, int]]:
        """``(first layer, end layer)`` of each stage (end exclusive)."""
        starts = (0, *self.bounds[:-1])
        return list(zip(starts, self.bounds))


def _stage_table(layers: list, model) -> tuple[list[list[float]], list[list[str]]]:
    """``lat[j][i]`` (inf if none fits) and the design text of layers j..i-1 on ``model``."""
    n = len(layers)
    options = [model.layer_options(x) for x in layers]
    costs = [[o[:2] for o in opts] for opts in options]
    lat = [[math.inf] * (n + 1) for _ in range(n + 1)]
    text = [[""] * (n + 1) for _ in range(n + 1)]
    for j in range(n):
        for i in range(j + 1, n + 1):
            designs = pareto_designs(costs[j:i], model.device["luts"], math.inf,
                                     model.config["reconfig_cycles"])
            if not designs:
                break  # a layer of j..i-1 fits no engine alone: longer groups hold it too
            for design in reversed(designs):  # fastest first
                cost = model.design_cost(layers[j:i], design, options[j:i])
                if model.metrics(cost)["fits"]:
                    lat[j][i] = design.latency_cycles
                    engines = " ".join(f"{tm}x{tn}" for tm, tn in
                                       (options[j + k][c][2] for k, c in enumerate(design.choice)))
                    ends = ",".join(str(j + b) for b in design.bounds)
                    text[j][i] = f"partition ends={ends} engines={engines}"
                    break
    return lat, text


def stage_latencies(layers: list, model) -> list[list[float]]:
    """``lat[j][i]``: fastest design of layers j..i-1 that fits ``model``'s device (inf if
    none)."""
    return _stage_table(layers, model)[0]


def assign_stages(lats: list[list[list[float]]], n: int) -> tuple[float, float, tuple[int, ...]]:
    """``(slowest, sum, bounds)`` of the best assignment of layers 0..n-1 to the stages in
    order (``lats[s][j][i]``: stage ``s`` running layers j..i-1), every stage non-empty:
    least slowest stage, then least sum (ties: the first found). ``(inf, inf, ())`` when no
    assignment fits."""
    k = len(lats)
    inf = math.inf
    if k == 0 or n < k:
        return inf, inf, ()
    slow = [[inf] * (n + 1) for _ in range(k + 1)]
    slow[0][0] = 0.0
    for s in range(1, k + 1):
        for i in range(s, n - (k - s) + 1):
            slow[s][i] = min((max(slow[s - 1][j], lats[s - 1][j][i]) for j in range(s - 1, i)),
                             default=inf)
    limit = slow[k][n]
    if limit == inf:
        return inf, inf, ()
    total: list[list[tuple[float, tuple[int, ...]]]] = [[(inf, ())] * (n + 1)
                                                         for _ in range(k + 1)]
    total[0][0] = (0.0, ())
    for s in range(1, k + 1):
        for i in range(s, n - (k - s) + 1):
            for j in range(s - 1, i):
                prev, stage = total[s - 1][j], lats[s - 1][j][i]
                if stage <= limit and prev[0] + stage < total[s][i][0]:
                    total[s][i] = (prev[0] + stage, (*prev[1], i))
    return limit, total[k][n][0], total[k][n][1]


def brute_force_pipeline(lats: list[list[list[float]]], n: int) -> tuple[float, float]:
    """Least ``(slowest, sum)`` over every cut of layers 0..n-1 into ``len(lats)`` stages, by
    enumeration (for tests)."""
    k = len(lats)
    best = (math.inf, math.inf)
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        stages = [lats[s][bounds[s]][bounds[s + 1]] for s in range(k)]
        best = min(best, (max(stages), sum(stages)))
    return best


def fpga_models(fpgas: list[str], preset: str | None = None, **overrides) -> list:
    """One FPGA cost model per entry: an FPGA preset name (``zynq7020``, ``zynq7020-lut``,
    ``zcu102``, ...) is used as it is; any other device name (``xc7z020``,
    ``cyclone4-ep4ce115``) runs ``preset`` on that device. ``overrides`` apply to all."""
    from evoapproxnas.errors import closest_names
    from evoapproxnas.hardware.config import get_cost_model
    from evoapproxnas.hardware.fpga import DEVICES, PRESETS

    models = []
    for name in fpgas:
        if name in PRESETS:
            models.append(get_cost_model("fpga", name, **overrides))
        elif name in DEVICES:
            models.append(get_cost_model("fpga", preset, **dict(overrides, device=name)))
        else:
            known = [*PRESETS, *DEVICES]
            raise UserError(
                f"unknown FPGA {name!r}{closest_names(name, known)}; give a preset "
                f"({', '.join(PRESETS)}) or a device ({', '.join(DEVICES)})"
            )
    return models


def search_pipeline(layers: list, devices: list[str], preset: str | None = None,
                    **overrides) -> Pipeline:
    """Best assignment of consecutive layer groups to ``devices`` (every device used once,
    in order; each a device or an FPGA preset name, see :func:`fpga_models`).

    Stages run at the slowest device clock of the chain. Raises ``UserError`` when there are
    fewer layers than devices or no assignment fits.
    """
    if not devices:
        raise UserError("give at least one FPGA device for the pipeline")
    n, k = len(layers), len(devices)
    if n < k:
        raise UserError(f"{n} layers cannot fill a pipeline of {k} FPGAs; use fewer devices")
    models = fpga_models(list(devices), preset, **overrides)
    tables = [_stage_table(layers, m) for m in models]
    slowest, _, bounds = assign_stages([t[0] for t in tables], n)
    if slowest == math.inf:
        raise UserError(f"no assignment of the network to {', '.join(devices)} fits their "
                        "resources; use larger or more devices")
    starts = (0, *bounds[:-1])
    stages = tuple(tables[s][0][a][b] for s, (a, b) in enumerate(zip(starts, bounds)))
    designs = tuple(tables[s][1][a][b] for s, (a, b) in enumerate(zip(starts, bounds)))
    clock = min(m.config["clock_mhz"] for m in models)
    return Pipeline(tuple(devices), bounds, stages, clock, designs)
