"""Speed of the hardware cost models: partition DP vs brute force, hardware search per candidate;
and what cheaper multipliers buy in the two shipped hardware experiments.

Run: python benchmarks/hardware_search.py [--seed 0] [--leverage-only]
Prints ratios and times measured in this run (nothing is hard-coded).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from evoapproxnas import cgp
from evoapproxnas.hardware import (
    brute_force_designs,
    conv_layer,
    dense_layer,
    estimate_network,
    get_cost_model,
    layers_from_graph,
    pareto_designs,
)
from evoapproxnas.hardware.asic import _map_cached
from evoapproxnas.multipliers import load_library


def _timed(fn, *args, repeat: int = 1, **kwargs) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn(*args, **kwargs)
    return (time.perf_counter() - start) / repeat


def bench_partition(rng: np.random.Generator) -> None:
    print("partition search (Lu et al.): DP with frontier pruning vs brute force")
    for n in (4, 5, 6, 7):
        options = [[(float(rng.integers(100, 5000)), float(rng.integers(1000, 90000)))
                    for _ in range(4)] for _ in range(n)]
        budget = 0.6 * sum(max(o[0] for o in layer) for layer in options)
        t_bf = _timed(brute_force_designs, options, budget)
        t_dp = _timed(pareto_designs, options, budget, repeat=20)
        same = ([(d.luts, d.latency_cycles) for d in pareto_designs(options, budget)]
                == [(d.luts, d.latency_cycles) for d in brute_force_designs(options, budget)])
        print(f"  {n} layers x 4 options: brute force {t_bf * 1e3:9.2f} ms, DP "
              f"{t_dp * 1e3:7.3f} ms, speed-up {t_bf / t_dp:8.1f}x, same front: {same}")


def _run_all(nets: list, model: str, search: bool, metric: str) -> None:
    for layers in nets:
        estimate_network(layers, model, search=search, search_metric=metric)


def bench_search(rng: np.random.Generator, candidates: int) -> None:
    lib = load_library("evoapproxlib8u")
    allowed = [lib[name] for name in ("mul8u_1JFF", "mul8u_2AC", "mul8u_17KS", "mul8u_QKX")]
    spec = cgp.CGPSpec(rows=2, columns=6, n_multipliers=len(allowed))
    nets = []
    for _ in range(candidates):
        graph = cgp.decode(cgp.random_genome(spec, rng), spec, (28, 28, 1), 10)
        nets.append(layers_from_graph(graph, allowed, exact=lib.exact))
    vgg, size, c_in = [], 32, 3  # a VGG-like CIFAR network: 13 convolutions + 1 dense layer
    for i, c_out in enumerate((64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)):
        stride = 2 if i in (2, 4, 7, 10) else 1
        vgg.append(conv_layer(size, size, c_in, c_out, 3, stride,
                              multiplier=allowed[i % len(allowed)]))
        size, c_in = -(-size // stride), c_out
    vgg.append(dense_layer(size * size * c_in, 10))
    print("hardware search of a VGG-like network (14 layers), per network:")
    for model, metric in (("asic", "edap"), ("fpga", "fps")):
        _map_cached.cache_clear()
        cold = _timed(_run_all, [vgg], model, True, metric)
        print(f"  {model} search for {metric}: {cold * 1e3:7.1f} ms cold cache")
    n_layers = sum(len(x) for x in nets) / len(nets)
    print(f"hardware search per candidate ({candidates} random CGP networks, "
          f"{n_layers:.1f} multiplying layers on average, 28x28x1 input)")
    for model, metric in (("asic", "edap"), ("fpga", "fps")):
        _map_cached.cache_clear()
        cold = _timed(_run_all, nets, model, True, metric) / len(nets)
        warm = _timed(_run_all, nets, model, True, metric) / len(nets)
        plain = _timed(_run_all, nets, model, False, metric) / len(nets)
        print(f"  {model} search for {metric}: {cold * 1e3:7.1f} ms cold cache, "
              f"{warm * 1e3:7.1f} ms warm cache; single estimate {plain * 1e3:6.2f} ms")


def _geomean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _experiment_networks(toml: str, n: int, rng: np.random.Generator):
    """``n`` random networks of a shipped experiment's search space (28x28x1, 10 classes),
    their layers with the campaign's genes, and the campaign's allowed multipliers."""
    from evoapproxnas.config import load_config
    from evoapproxnas.search.problem import CampaignProblem

    cfg = load_config(Path(__file__).parents[1] / "experiments" / toml)
    problem = CampaignProblem.build(cfg, (28, 28, 1), 10)
    nets = [layers_from_graph(problem.decode(problem.space.sample(rng)), problem.choice)
            for _ in range(n)]
    return cfg, problem, nets


def _with(layers, mults):
    """The layers with multipliers ``mults`` (one per layer; the head is the last layer)."""
    return [dataclasses.replace(x, multiplier=m) for x, m in zip(layers, mults)]


def _price(layers, cfg, fixed) -> dict:
    """The campaign's hardware metrics of ``layers``; for an FPGA campaign also the LUTs of
    its preset's fixed engine (``luts@8x8``: the same design, only the multipliers differ)."""
    got = cfg.hardware.estimate(layers, cfg.parsed_constraints)
    if cfg.hardware.model == "fpga":
        got = dict(got, **{"luts@8x8": fixed.estimate(layers)["luts"]})
    return got


def bench_leverage(rng: np.random.Generator, n: int) -> None:
    """What cheaper multipliers buy in the two shipped hardware experiments: per allowed
    multiplier, the geometric mean over ``n`` random networks of the searched design's metrics
    relative to the all-exact network (head exact, as in the campaigns), and random mixes."""
    for toml, metrics in (("fmnist_asic_edap.toml", ("energy_pj", "area_um2", "edap")),
                          ("fmnist_fpga_fps.toml", ("luts@8x8", "fps", "luts"))):
        cfg, problem, nets = _experiment_networks(toml, n, rng)
        hw, exact = cfg.hardware, problem.choice.exact
        fixed = get_cost_model(hw.model, hw.preset or None, **dict(hw.overrides))

        def price(layers, cfg=cfg, fixed=fixed):
            return _price(layers, cfg, fixed)

        base = [price(_with(x, [exact] * len(x))) for x in nets]
        print(f"{toml} ({hw.model} {hw.preset}, searched for {hw.search_metric} within "
              f"{', '.join(cfg.search.constraints) or 'no constraint'}; {n} random networks, "
              f"{np.mean([len(x) for x in nets]):.1f} multiplying layers on average): "
              "geometric mean relative to all-exact")
        print(f"  {'multipliers':24s} {'power':>6s} " + " ".join(f"{m:>9s}" for m in metrics)
              + "   (head exact)")
        for m in problem.multipliers:
            name = m.name
            ratios = [[price(_with(x, [m] * (len(x) - 1) + [exact]))[k] / b[k] for k in metrics]
                      for x, b in zip(nets, base)]
            power = m.power_mw / exact.power_mw
            print(f"  {name:24s} {power:6.3f} " + " ".join(
                f"{_geomean(col):9.3f}" for col in zip(*ratios)))
        allowed = problem.multipliers
        for a, b in ((0, 1), (1, 3), (2, 6), (0, 5)):  # pairs of allowed multipliers
            a, b = min(a, len(allowed) - 1), min(b, len(allowed) - 1)
            ratios, between = [], True
            for x, ref in zip(nets, base):
                pick = [allowed[a] if rng.random() < 0.5 else allowed[b] for _ in x[:-1]]
                mix = price(_with(x, pick + [exact]))
                ends = [price(_with(x, [allowed[k]] * (len(x) - 1) + [exact])) for k in (a, b)]
                for k in ("energy_pj", "area_um2", "luts@8x8"):
                    if k in mix:
                        lo, hi = sorted(e[k] for e in ends)
                        between &= lo * (1 - 1e-9) <= mix[k] <= hi * (1 + 1e-9)
                ratios.append([mix[k] / ref[k] for k in metrics])
            label = f"mix {allowed[a].name[6:]}+{allowed[b].name[6:]}"
            print(f"  {label:24s} {'':6s} " + " ".join(
                f"{_geomean(col):9.3f}" for col in zip(*ratios))
                + f"   between the uniform ones: {between}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--leverage-only", action="store_true",
                        help="only the multiplier-leverage tables of the shipped experiments")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if not args.leverage_only:
        bench_partition(rng)
        bench_search(rng, args.candidates)
    bench_leverage(rng, min(args.candidates, 12))


if __name__ == "__main__":
    main()
