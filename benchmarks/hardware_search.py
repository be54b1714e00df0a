"""Speed of the hardware cost models: partition DP vs brute force, hardware search per candidate.

Run: python benchmarks/hardware_search.py [--seed 0]
Prints ratios and times measured in this run (nothing is hard-coded).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evoapproxnas import cgp
from evoapproxnas.hardware import (
    brute_force_designs,
    conv_layer,
    dense_layer,
    estimate_network,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    bench_partition(rng)
    bench_search(rng, args.candidates)


if __name__ == "__main__":
    main()
