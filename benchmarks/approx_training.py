"""Approximation-aware training: accuracy recovered, and what a table epoch costs.

Run: python benchmarks/approx_training.py [--epochs 3] [--train-samples 12000]
[--weight-quantization per_tensor|per_channel]
One fixed network (the first seeded draw of the quickstart's CGP space with 1-3 M
multiplications per image) on Fashion-MNIST, every multiplying layer given the same
EvoApproxLib multiplier (eight spanning MAE 0.017 % .. 2.15 %, plus the exact one). For each:
validation accuracy after exact training (``table_epochs = 0``: the tables only at
evaluation), after exact epochs then one epoch through the tables (``table_epochs = 1``, the
shipped default) and through the tables from the start (``table_epochs = epochs``). Then, in
the same run, the wall time of one training epoch through the tables against one exact
epoch of the same model (medians of three alternating measurements; ratio, the target is
<= 1.6), and against the same table epoch run by Keras ``fit`` (the loop the package used
before its own), on one TensorFlow thread by default, as a campaign worker trains. Weights are
quantized per tensor (the default of layers and campaigns) or per output channel
(``--weight-quantization per_channel``, as ``[multipliers] weight_quantization``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from fixed_network import SPEC, fixed_network  # benchmarks/ is the script's sys.path[0]

from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION, WEIGHT_QUANTIZATIONS
from evoapproxnas.cgp import count_multiplications, count_params
from evoapproxnas.data import load_dataset
from evoapproxnas.multipliers import load_library
from evoapproxnas.nn import TrainBudget, build_model, evaluate, train_and_evaluate

MULTIPLIERS = ("mul8u_1JFF", "mul8u_QJD", "mul8u_2AC", "mul8u_NGR", "mul8u_DM1", "mul8u_17KS",
               "mul8u_FTA", "mul8u_L40", "mul8u_JV3")


def epoch_seconds(graph, mult, data, budget: TrainBudget, repeats: int = 3,
                  weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION) -> dict[str, tuple]:
    """Seconds of one training epoch of the same model, each the median of ``repeats``
    alternating measurements (so that a slow spell of a shared machine does not land on one
    side only), as (wall, CPU of this process): ``exact`` and ``tables`` with the package's
    training loop (``training_step`` / ``train_epoch``), and ``tables (Keras fit)`` with
    Keras ``fit`` and its ``tf.data`` input pipeline, the loop the package used before."""
    import keras
    import numpy as np

    from evoapproxnas.nn.train import set_approx_training, train_epoch, training_step

    x, y = data.x_train[: budget.train_samples], data.y_train[: budget.train_samples]
    model = build_model(graph, [mult] * SPEC.n_multipliers, seed=0,
                        weight_quantization=weight_quantization)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    steps = {}
    for through_tables in (False, True):  # trace every training step before timing
        set_approx_training(model, through_tables)
        steps[through_tables] = training_step(model, x, y)
        train_epoch(steps[through_tables], x[:640], y[:640], budget.batch_size, rng)
    model.fit(x[:640], y[:640], batch_size=budget.batch_size, epochs=1, verbose=0)

    def keras_fit():
        model.fit(x, y, batch_size=budget.batch_size, epochs=1, verbose=0)

    runs = {"exact": lambda: train_epoch(steps[False], x, y, budget.batch_size, rng),
            "tables": lambda: train_epoch(steps[True], x, y, budget.batch_size, rng),
            "tables (Keras fit)": keras_fit}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-samples", type=int, default=12000)
    parser.add_argument("--val-samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default="cosine",
                        help="learning-rate schedule (cosine: as every shipped experiment)")
    parser.add_argument("--multipliers", nargs="+", default=list(MULTIPLIERS))
    parser.add_argument("--weight-quantization", choices=WEIGHT_QUANTIZATIONS,
                        default=DEFAULT_WEIGHT_QUANTIZATION,
                        help="one weight scale per tensor or per output channel")
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow threads (1: as a campaign worker on a two-core "
                             "machine with two workers; 0: TensorFlow's default)")
    args = parser.parse_args()
    if args.threads > 0:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    data = load_dataset("fashion_mnist", seed=0)
    library = load_library("evoapproxlib8u")
    graph = fixed_network(data, args.seed)
    ops = [d["op"] + (f"({d['params']['filters']})" if "filters" in d["params"] else "")
           for _, d in graph.nodes(data=True)]
    print(f"network: {' -> '.join(ops)}; {count_params(graph)} params, "
          f"{sum(count_multiplications(graph).values()) / 1e6:.2f} M multiplications")
    budget = TrainBudget(epochs=args.epochs, train_samples=args.train_samples,
                         val_samples=args.val_samples, batch_size=64, learning_rate=0.003,
                         table_epochs=0, lr_schedule=args.lr_schedule)
    xv, yv = data.x_val[: budget.val_samples], data.y_val[: budget.val_samples]
    genes, scheme = SPEC.n_multipliers, args.weight_quantization
    exact_run = train_and_evaluate(graph, [library["mul8u_1JFF"]] * genes, data, budget,
                                   seed=1, return_model=True, weight_quantization=scheme)
    weights = exact_run.model.get_weights()
    schedules = {"1 table epoch": 1, f"{args.epochs} (from the start)": args.epochs}
    print(f"validation accuracy on {budget.val_samples} images after {args.epochs} epochs on "
          f"{budget.train_samples} images ({args.lr_schedule} learning rate, weights quantized "
          f"{scheme.replace('_', ' ')})")
    print(f"{'multiplier':<12} {'MAE %':>7} {'power':>6} {'exact training':>15} "
          + " ".join(f"{name:>20}" for name in schedules))
    for name in args.multipliers:
        mult = library[name]
        model = build_model(graph, [mult] * genes, seed=1, weight_quantization=scheme)
        model.set_weights(weights)
        row = [evaluate(model, xv, yv)]
        for table_epochs in schedules.values():
            tuned = train_and_evaluate(graph, [mult] * genes, data,
                                       dataclasses.replace(budget, table_epochs=table_epochs),
                                       seed=1, weight_quantization=scheme)
            row.append(tuned.val_accuracy if tuned.status == "ok" else float("nan"))
        power = mult.figures()["power_mw"] / library["mul8u_1JFF"].figures()["power_mw"]
        print(f"{name:<12} {mult.metrics.mae_pct:>7.3f} {power:>6.2f} {row[0]:>15.3f} "
              + " ".join(f"{v:>20.3f}" for v in row[1:]))
    seconds = epoch_seconds(graph, library["mul8u_DM1"], data, budget,
                            weight_quantization=scheme)
    print(f"one epoch on {budget.train_samples} images, wall (CPU) seconds: "
          + ", ".join(f"{name} {wall:.1f} ({cpu:.1f})" for name, (wall, cpu) in seconds.items()))
    exact_s, table_s = seconds["exact"][0], seconds["tables"][0]
    fit_s = seconds["tables (Keras fit)"][0]
    print(f"through the tables against exact: ratio {table_s / exact_s:.2f} (target <= 1.6); "
          f"Keras fit through the tables takes {fit_s / table_s:.2f}x the training loop's time")


if __name__ == "__main__":
    main()
