"""Seconds per candidate evaluation (train + evaluate) for the default CGP spec and budget.

Run: python benchmarks/candidate_eval.py [--candidates 3] [--float]
Draws random genomes of the default ``CGPSpec`` and trains each on Fashion-MNIST with the
default ``TrainBudget``, with its multiplier genes mapped to an approximate multiplier.
Prints per-candidate figures and, measured in the same run, the ratio of evaluation time
(table emulation, approximate + exact) to training time.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from evoapproxnas.cgp import (
    CGPSpec,
    count_multiplications,
    count_params,
    decode,
    random_genome,
)
from evoapproxnas.data import load_dataset
from evoapproxnas.nn import TrainBudget, train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--multiplier", default="mul8u_2AC")
    parser.add_argument("--float", action="store_true", help="plain float layers, no tables")
    args = parser.parse_args()

    spec = CGPSpec()
    budget = TrainBudget()
    data = load_dataset("fashion_mnist", seed=args.seed)
    multipliers = None
    if not args.float:
        from evoapproxnas.multipliers import load_library

        multipliers = [load_library("evoapproxlib8u")[args.multiplier]] * spec.n_multipliers
    print(f"spec: {spec.rows}x{spec.columns} levels-back {spec.levels_back}; budget: {budget}")
    rng = np.random.default_rng(args.seed)
    totals, trains, evals = [], [], []
    for i in range(args.candidates):
        graph = decode(random_genome(spec, rng), spec, data.input_shape, data.n_classes)
        start = time.perf_counter()
        result = train_and_evaluate(graph, multipliers, data, budget, seed=i)
        total = time.perf_counter() - start
        totals.append(total)
        trains.append(result.train_seconds)
        evals.append(result.eval_seconds)
        mults = sum(count_multiplications(graph).values())
        print(f"candidate {i}: {len(graph) - 2} active nodes, {count_params(graph)} params, "
              f"{mults / 1e6:.2f} M mult/inference, {result.status}, "
              f"val acc {result.val_accuracy}, exact {result.val_accuracy_exact}, "
              f"train {result.train_seconds:.1f} s, eval {result.eval_seconds:.1f} s, "
              f"total {total:.1f} s")
    print(f"seconds per candidate evaluation: mean {np.mean(totals):.1f} "
          f"(min {min(totals):.1f}, max {max(totals):.1f}); "
          f"eval/train time ratio {sum(evals) / max(sum(trains), 1e-9):.2f}")


if __name__ == "__main__":
    main()
