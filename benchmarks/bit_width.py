"""Weight width: accuracy of one network on exact 8x2 .. 8x8 and approximate 8xN multipliers.

Run: python benchmarks/bit_width.py [--epochs 2] [--train-samples 6000] [--val-samples 2000]
One fixed network (the first seeded draw of the quickstart's CGP space with 1-3 M
multiplications per image, as in ``approx_training.py``) on Fashion-MNIST, every multiplying
layer but the classifier head (the exact 8x8, as in the campaigns) on the same multiplier of
EvoApproxLib's 8xN library: the exact 8x2 .. 8x8 circuits and a few approximate 8x4 and 8x6
ones. Weights are quantized to the multiplier's N bits, per tensor or per output channel;
training is exact (fake-quantized at N bits, ``table_epochs = 0``, the tables used for the
evaluation only) or its last epoch runs through the tables (``table_epochs = 1``). Prints the
validation accuracy of each and the multiplication power relative to the all-exact-8x8
network (``cgp.multiplication_power``).

With ``table_epochs = 0`` the training never reads a table, so the multipliers of one width
share one training (the exact one of that width); each is evaluated with its own tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fixed_network import SPEC, fixed_network  # benchmarks/ is the script's sys.path[0]
from machine import cpu_name

from evoapproxnas.cgp import (
    count_multiplications,
    count_params,
    multiplication_power,
)
from evoapproxnas.data import load_dataset
from evoapproxnas.multipliers import load_library
from evoapproxnas.nn import TrainBudget, build_model, evaluate, train_and_evaluate

LIBRARY = "evoapproxlib8xNu"
EXACT = ("mul8x2u_106", "mul8x3u_0KE", "mul8x4u_2UU", "mul8x5u_4E8", "mul8x6u_049",
         "mul8x7u_0V5", "mul8u_1JFF")
APPROXIMATE = ("mul8x4u_3JN", "mul8x4u_3Y3", "mul8x6u_3DQ", "mul8x6u_4RX")
SCHEMES = ("per_tensor", "per_channel")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=6000)
    parser.add_argument("--val-samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2, help="the network's draw")
    parser.add_argument("--multipliers", nargs="+", default=[*EXACT, *APPROXIMATE])
    args = parser.parse_args()

    start = time.perf_counter()
    data = load_dataset("fashion_mnist", seed=0)
    library = load_library(LIBRARY)
    graph = fixed_network(data, args.seed)
    genes = SPEC.n_multipliers
    ops = [d["op"] + (f"({d['params']['filters']})" if "filters" in d["params"] else "")
           for _, d in graph.nodes(data=True)]
    print(f"network: {' -> '.join(ops)}; {count_params(graph)} params, "
          f"{sum(count_multiplications(graph).values()) / 1e6:.2f} M multiplications "
          f"(head exact 8x8)")
    budget = TrainBudget(epochs=args.epochs, train_samples=args.train_samples,
                         val_samples=args.val_samples, batch_size=64, learning_rate=0.003,
                         table_epochs=0)
    xv, yv = data.x_val[: budget.val_samples], data.y_val[: budget.val_samples]
    mults = [library[name] for name in args.multipliers]
    exact_of = {m.weight_bits: m for m in library if m.is_exact}

    def train(mult, scheme: str, table_epochs: int):
        run = train_and_evaluate(graph, [mult] * genes, data,
                                 dataclasses.replace(budget, table_epochs=table_epochs), seed=1,
                                 evaluate_exact=False, return_model=True,
                                 weight_quantization=scheme)
        if run.status != "ok":
            print(f"  {mult.name} {scheme} table_epochs={table_epochs}: {run.reason}")
        return run

    accuracy: dict[tuple, float] = {}
    for scheme in SCHEMES:
        shared = {}  # width -> the weights of the exact training at that width
        for mult in mults:
            n = mult.weight_bits
            if n not in shared:
                run = train(exact_of[n], scheme, 0)
                shared[n] = run.model.get_weights() if run.status == "ok" else None
            if shared[n] is None:
                accuracy[mult.name, scheme, 0] = float("nan")
            else:
                model = build_model(graph, [mult] * genes, seed=1, weight_quantization=scheme)
                model.set_weights(shared[n])
                accuracy[mult.name, scheme, 0] = evaluate(model, xv, yv, budget.batch_size)
            tuned = train(mult, scheme, 1)
            accuracy[mult.name, scheme, 1] = tuned.val_accuracy if tuned.status == "ok" \
                else float("nan")

    print(f"validation accuracy on {budget.val_samples} images after {args.epochs} epochs on "
          f"{budget.train_samples} images; power relative to the exact 8x8 (mul8u_1JFF, "
          f"{library.exact.power_mw} mW)")
    columns = [f"{s} te={t}" for s in SCHEMES for t in (0, 1)]
    print(f"| {'multiplier':<12} | width | MAE % | mult power | network power | "
          + " | ".join(f"{c:>16}" for c in columns) + " |")
    print("|" + "|".join("---" for _ in range(5 + len(columns))) + "|")
    for mult in mults:
        network = multiplication_power(graph, [mult] * genes, library=library)["power_rel"]
        row = [accuracy[mult.name, s, t] for s in SCHEMES for t in (0, 1)]
        print(f"| {mult.name:<12} | {mult.width:>5} | {mult.metrics.mae_pct:5.3f} | "
              f"{mult.power_mw / library.exact.power_mw:10.3f} | {network:13.3f} | "
              + " | ".join(f"{v:16.3f}" for v in row) + " |")
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
