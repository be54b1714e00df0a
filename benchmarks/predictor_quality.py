"""How well the accuracy predictors rank candidates they have not seen, on real archives.

Run: python benchmarks/predictor_quality.py RUN_DIR [RUN_DIR ...]

For every run directory and every generation g >= 1 (the re-pricing batch included), each
predictor (``search.policies.predictor``: "forest", "ridge") is fitted on the archive's
trainings of the generations before g, exactly as the predictor-assisted search fits it,
and predicts the candidates trained in generation g at the lowest fidelity of that
generation (the rung every new candidate trained at; the re-pricing's fine-tuned copies at
the full budget), so that the ranking is one of networks, not of fidelities.
Printed: Kendall tau against their measured validation accuracy, per generation and the
median over all, beside a mean predictor's mean squared error and the predictors' (the
mean predictor: the mean of the earlier accuracies at the same epochs). No training happens here.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from evoapproxnas.search.policies import predictor as pp
from evoapproxnas.search.study.rundir import RunDir

KINDS = ("forest", "ridge")


def generation_scores(run: RunDir) -> list[dict]:
    """Per generation g >= 1: tau and squared error of each predictor and of the mean."""
    problem = run.problem
    records = [r for r in run.records() if r.status == "ok" and r.val_accuracy is not None]
    out = []
    for g in sorted({r.generation for r in records}):
        before = [r for r in records if r.generation < g]
        now = [r for r in records if r.generation == g]
        X, y, _ = pp.training_set(problem, before)
        Xt, yt, _ = pp.training_set(problem, now)
        if len(yt):  # the rung every new candidate trained at (a ranking within one fidelity)
            low = Xt[:, -1] == Xt[:, -1].min()
            Xt, yt = Xt[low], yt[low]
        if len(y) < pp.MIN_TRAINING or len(yt) < 3:
            continue
        epochs = X[:, -1]
        mean = np.array([y[epochs == e].mean() if np.any(epochs == e) else y.mean()
                         for e in Xt[:, -1]])
        row = {"generation": g, "train": len(y), "test": len(yt),
               "mse_mean": float(np.mean((mean - yt) ** 2))}
        for kind in KINDS:
            model = pp.AccuracyPredictor(kind, pp.fit_seed(run.config.search.seed, g)).fit(X, y)
            guess = model.predict(Xt)
            row[f"tau_{kind}"] = pp.kendall_tau(guess, yt)
            row[f"mse_{kind}"] = float(np.mean((guess - yt) ** 2))
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories")
    args = parser.parse_args()
    rows = []
    for path in args.runs:
        run = RunDir(path)
        print(f"\n{path}")
        for row in generation_scores(run):
            rows.append(row)
            print(f"  gen {row['generation']}: fitted on {row['train']}, predicting "
                  f"{row['test']}: " + ", ".join(
                      f"{k} tau {row[f'tau_{k}']:+.2f} mse {row[f'mse_{k}']:.4f}" for k in KINDS)
                  + f"; mean predictor mse {row['mse_mean']:.4f}")
    if rows:
        print(f"\nover {len(rows)} generations of {len(args.runs)} runs (median):")
        for k in KINDS:
            taus = [r[f"tau_{k}"] for r in rows if not np.isnan(r[f"tau_{k}"])]
            print(f"  {k}: tau {statistics.median(taus):+.2f}, mse "
                  f"{statistics.median(r[f'mse_{k}'] for r in rows):.4f}")
        print(f"  mean predictor: mse {statistics.median(r['mse_mean'] for r in rows):.4f}")


if __name__ == "__main__":
    main()
