"""Reproduce the comparison of Jiang et al. (TCAD 2020, "Hardware/Software Co-Exploration of
Neural Architectures", table I) on Fashion-MNIST and one Zynq XC7Z015: hardware-aware NAS on
a fixed design vs. the sequential optimisation (the network first, then the best hardware
for it) vs. co-exploration (network and hardware genes in one search), each with NSGA-II
and, where it is registered, the REINFORCE controller, at equal evaluation budget, over 3
seeds.

Run:  python experiments/reproduce_coexplore.py [--quick] [--out runs/coexplore]
      [--seeds 1 2 3] [--engines pymoo reinforce] [--report-only]

Everything that decides the outcome is fixed here before any run: the campaign
(``experiments/fmnist_coexplore.toml``), ``SEEDS``, ``VARIANTS``, the budgets (``SCALES``)
and the comparison rule:

- per run: its final front (validation error x fps; the sequential mode's front re-priced
  on each member's best design), every member re-evaluated on the 10,000 test images;
- "best": the front member with the highest test accuracy (its test accuracy, fps,
  GOPS/W, pipeline efficiency);
- "fps at equal accuracy": per (engine, seed), ``a*`` = the lowest of the three modes' best
  test accuracies; each mode's highest fps among its members with test accuracy >= ``a*``
  (every mode has one);
- search wall time: seconds of ``run_campaign`` (training, pricing and the test set).

The paper's qualitative claim checked: co-exploration (joint) >= sequential >= fixed in fps
at equal accuracy, per (engine, seed) and in the median over seeds.

Resumable: each (mode, engine, seed) is one run directory under ``--out``; a finished one is
read, not run again; an unfinished one (a killed invocation) resumes where it stopped. The
Markdown table goes to ``--markdown`` (default ``OUT/coexplore.md``), the figure to
``plots/coexplore_<scale>.png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "experiments" / "fmnist_coexplore.toml"
SEEDS = (1, 2, 3)
VARIANTS = {  # mode -> the overrides that make it
    "fixed": ["hardware.mode='fixed'"],
    "sequential": ["hardware.mode='sequential'", "hardware.max_fpgas=2"],
    "joint": ["hardware.mode='joint'", "hardware.max_fpgas=2"],
}
ENGINES = ("pymoo", "reinforce")
SCALES = {
    # the campaign file as shipped: 8 x 4 = 32 candidates, 10,000 training images, 2 epochs
    "full": [],
    # what two shared cores finish in about 40 minutes for all 18 runs: 6 x 2 = 12
    # candidates, 2,000 training / 500 validation images, 1 epoch, at most 4 layers
    "quick": ["search.population=6", "search.generations=2", "training.epochs=1",
              "training.train_samples=2000", "training.val_samples=500",
              "space.max_layers=4", "executor.time_limit_s=120"],
}


def run_one(mode: str, engine: str, seed: int, scale: str, out: Path) -> dict:
    """Run (or resume, or read) one campaign; its summary."""
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter
    from evoapproxnas.search.study.rundir import RunDir

    path = out / scale / f"{mode}-{engine}-s{seed}"
    summary_path = path / "coexplore.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    overrides = [*SCALES[scale], *VARIANTS[mode], f"search.engine='{engine}'",
                 f"search.seed={seed}"]
    resumed = (path / "run.json").is_file()
    if not resumed:
        create_run(CAMPAIGN, path, overrides, overwrite=path.exists())
    start = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {mode} {engine} seed {seed}", flush=True)
    run_campaign(path, reporter=SilentReporter())
    wall = time.perf_counter() - start
    run = RunDir(path)
    members = []
    for m in run.front().members:
        metrics = m.record.metrics
        members.append({"hash": m.record.hash, "test_accuracy": m.test_accuracy,
                        "val_accuracy": metrics.get("val_accuracy"), "fps": metrics["fps"],
                        "gops_per_w": metrics["gops_per_w"],
                        "pipeline_efficiency": metrics["pipeline_efficiency"],
                        "params": metrics["params"],
                        "design": metrics.get("hardware_design", "")})
    records = run.records()
    summary = {"mode": mode, "engine": engine, "seed": seed, "scale": scale, "wall_s": wall,
               "resumed": resumed,  # wall_s is then the finishing invocation's only
               "trained": sum(r.status == "ok" for r in records),
               "pruned": sum(r.status == "infeasible" for r in records),
               "members": members}
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def best(summary: dict) -> dict:
    """The front member with the highest test accuracy (then the higher fps)."""
    ok = [m for m in summary["members"] if m["test_accuracy"] is not None]
    return max(ok, key=lambda m: (m["test_accuracy"], m["fps"]))


def fps_at(summary: dict, accuracy: float) -> float:
    """The highest fps among the members with test accuracy >= ``accuracy``."""
    return max(m["fps"] for m in summary["members"]
               if m["test_accuracy"] is not None and m["test_accuracy"] >= accuracy - 1e-12)


def table(results: list[dict]) -> str:
    """The Markdown table: one row per (engine, mode), the per-seed values and medians."""
    by = {(r["engine"], r["mode"], r["seed"]): r for r in results}
    engines = [e for e in ENGINES if any(r["engine"] == e for r in results)]
    seeds = sorted({r["seed"] for r in results})
    lines = ["| engine | mode | seed | best test acc | its fps | its GOPS/W | its pipeline eff. "
             "| a* | fps at a* | trained | pruned | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    claims = []
    for engine in engines:
        for seed in seeds:
            runs = {mode: by.get((engine, mode, seed)) for mode in VARIANTS}
            if any(r is None for r in runs.values()):
                continue
            a_star = min(best(r)["test_accuracy"] for r in runs.values())
            fps = {mode: fps_at(r, a_star) for mode, r in runs.items()}
            claims.append((engine, seed, fps))
            for mode, r in runs.items():
                b = best(r)
                lines.append(
                    f"| {engine} | {mode} | {seed} | {100 * b['test_accuracy']:.2f} % | "
                    f"{b['fps']:,.0f} | {b['gops_per_w']:.2f} | "
                    f"{100 * b['pipeline_efficiency']:.1f} % | {100 * a_star:.2f} % | "
                    f"{fps[mode]:,.0f} | {r['trained']} | {r['pruned']} | {r['wall_s']:.0f} |")
    lines += ["", "| engine | mode | median best test acc | median fps at a* | median GOPS/W "
              "(best) | median wall s |", "|---|---|---|---|---|---|"]
    for engine in engines:
        for mode in VARIANTS:
            rs = [r for r in results if r["engine"] == engine and r["mode"] == mode]
            mine = [c[2][mode] for c in claims if c[0] == engine]
            if not rs or not mine:
                continue
            lines.append(
                f"| {engine} | {mode} | "
                f"{100 * statistics.median(best(r)['test_accuracy'] for r in rs):.2f} % | "
                f"{statistics.median(mine):,.0f} | "
                f"{statistics.median(best(r)['gops_per_w'] for r in rs):.2f} | "
                f"{statistics.median(r['wall_s'] for r in rs):.0f} |")
    lines += ["", "Claim: fps at equal accuracy, joint >= sequential >= fixed (per engine and "
              "seed):", ""]
    for engine, seed, fps in claims:
        holds = fps["joint"] >= fps["sequential"] >= fps["fixed"]
        lines.append(f"- {engine} seed {seed}: joint {fps['joint']:,.0f}, sequential "
                     f"{fps['sequential']:,.0f}, fixed {fps['fixed']:,.0f}: "
                     f"{'holds' if holds else 'does not hold'}")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> None:
    """Test accuracy x fps of every front member, one panel per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = [e for e in ENGINES if any(r["engine"] == e for r in results)]
    fig, axes = plt.subplots(1, len(engines), figsize=(5.5 * len(engines), 4), squeeze=False)
    colors = {"fixed": "tab:gray", "sequential": "tab:blue", "joint": "tab:red"}
    for ax, engine in zip(axes[0], engines):
        for mode, color in colors.items():
            pts = [(m["fps"], 100 * m["test_accuracy"]) for r in results
                   if r["engine"] == engine and r["mode"] == mode for m in r["members"]
                   if m["test_accuracy"] is not None]
            if pts:
                ax.scatter(*zip(*pts), s=18, color=color, label=mode, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("throughput on XC7Z015 (inferences/s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{engine}: front members, all seeds")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the quick scale (SCALES['quick'])")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "coexplore")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--engines", nargs="+", default=list(ENGINES))
    ap.add_argument("--modes", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--markdown", type=Path, help="default: OUT/SCALE/coexplore.md")
    ap.add_argument("--report-only", action="store_true", help="tabulate finished runs only")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from evoapproxnas.search.engines import engine_names

    scale = "quick" if args.quick else "full"
    engines = [e for e in args.engines if e in engine_names()]
    for e in sorted(set(args.engines) - set(engines)):
        print(f"engine {e!r} is not registered here: left out", file=sys.stderr)
    results = []
    for seed in args.seeds:
        for engine in engines:
            for mode in args.modes:
                done = args.out / scale / f"{mode}-{engine}-s{seed}" / "coexplore.json"
                if args.report_only:
                    if done.is_file():
                        results.append(json.loads(done.read_text()))
                    continue
                results.append(run_one(mode, engine, seed, scale, args.out))
    text = (f"Scale {scale!r}; campaign {CAMPAIGN.relative_to(ROOT)} with "
            f"{' '.join(SCALES[scale]) or 'no overrides'}.\n\n" + table(results))
    markdown = args.markdown or args.out / scale / "coexplore.md"
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(text)
    if results:
        plot(results, ROOT / "plots" / f"coexplore_{scale}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
