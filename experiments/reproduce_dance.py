"""Check the claims of DANCE (Choi et al., DAC 2021) on Fashion-MNIST with this toolkit's
ASIC model: the differentiable co-search (``search.engine = "dance"``, the hardware
generation network choosing the accelerator) against (i) the same differentiable search on
one fixed accelerator (the generator bypassed: the preset's eyeriss-45nm point) and (ii)
NSGA-II co-exploration over the same space (every candidate trained, the analytical hardware
search giving its best accelerator) at equal wall time.

Run:  python experiments/reproduce_dance.py [--quick] [--out runs/dance] [--report-only]

Fixed here before any run: the campaigns (``experiments/fmnist_dance.toml``,
``experiments/fmnist_dance_nsga2.toml``), the learned evaluator's dataset and training
(``DATASET``, ``SCALES``), seed 1 for the searches and seed 0 for the evaluator, and the
comparison rule:

- every run's front (validation error x analytical EDAP) re-evaluated on the 10,000 test
  images; the DANCE runs' derived networks (one per lambda) are all listed with their
  validation accuracy;
- "EDAP at a*": ``a*`` = the lowest of the compared runs' best test accuracies; each run's
  least EDAP among its front members with test accuracy >= ``a*``;
- search wall time: seconds of ``run_campaign`` (the supernets, the training of the
  derived networks and the test set); for DANCE also the supernets' seconds alone; NSGA-II
  gets ``stop_after_s`` = the co-search run's wall time (it starts no generation after it).

Claims checked: (1) co-search beats the fixed accelerator in EDAP at equal accuracy;
(2) the differentiable search needs far less search time than sampling-based
co-exploration for a front as good (EDAP at a* no worse at equal wall time).

Resumable: the dataset, the evaluator and each run are kept under ``--out/SCALE``; a
finished step is read, not repeated; an unfinished run resumes. The Markdown table goes to
``--out/SCALE/dance.md``, the figure to ``plots/dance_<scale>.png`` (``plots/<name>_<scale>.png``
for ``--out .../<name>``). ``--step-times`` only times a supernet step of each
``dance.multiplier_path``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DANCE = ROOT / "experiments" / "fmnist_dance.toml"
NSGA2 = ROOT / "experiments" / "fmnist_dance_nsga2.toml"
DATASET = {"seed": 0, "input_sizes": [28], "input_channels": [1], "depth": [2, 5],
           "kernels": [1, 3, 5], "filters": [4, 8, 16, 32, 64], "stride2_rate": 0.3,
           "libraries": ["evoapproxlib8u"]}
"""The learned evaluator's dataset: networks like the campaign's (28x28x1 inputs, 2-5
convolutions, kernels 1/3/5), EvoApproxLib 8-bit unsigned multipliers, ASIC eyeriss-45nm."""
SCALES = {
    "full": {"networks": 1200, "train": {"seed": 0}, "overrides": []},
    # about 15 minutes on two shared cores: 300 networks, a shorter evaluator training,
    # 4,000 training images for the supernets and the candidates
    "quick": {"networks": 300, "train": {"seed": 0, "epochs": 20, "generator_epochs": 30},
              "overrides": ["training.train_samples=4000", "dance.train_samples=4000"]},
}
RUNS = {  # name -> (campaign, overrides); NSGA-II before the fixed-accelerator run
    "dance": (DANCE, []),
    "nsga2": (NSGA2, []),
    "dance-fixed": (DANCE, ["dance.accelerator='fixed'", "hardware.search=false"]),
}


def evaluator(scale: str, out: Path) -> tuple[Path, dict]:
    """Build (or read) the scale's dataset and learned evaluator; its folder and report."""
    from evoapproxnas.hardware.learned.dataset import DatasetSettings, build_dataset, load_dataset
    from evoapproxnas.hardware.learned.evaluator import load_evaluator
    from evoapproxnas.hardware.learned.train import TrainSettings, save_evaluator, train_evaluator

    folder = out / "evaluator"
    if not (folder / "evaluator.json").is_file():
        data_path = out / "hwdata"
        if (out / "hwdata.npz").is_file():
            dataset = load_dataset(data_path)
        else:
            start = time.perf_counter()
            settings = DatasetSettings.from_dict({**DATASET, "networks": SCALES[scale]["networks"]})
            dataset = build_dataset(settings)
            dataset.save(data_path)
            print(f"dataset: {settings.networks} networks [{time.perf_counter() - start:.0f} s]",
                  flush=True)
        start = time.perf_counter()
        trained = train_evaluator(dataset, TrainSettings.from_dict(SCALES[scale]["train"]),
                                  log=lambda m: print(m, flush=True))
        save_evaluator(trained, folder, overwrite=True)
        print(f"evaluator trained [{time.perf_counter() - start:.0f} s]", flush=True)
    return folder, load_evaluator(folder).spec["report"]


def run_one(name: str, scale: str, out: Path, evaluator_path: Path,
            stop_after_s: float | None = None) -> dict:
    """Run (or resume, or read) one campaign; its summary."""
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter
    from evoapproxnas.search.study.checkpoint import load_checkpoint
    from evoapproxnas.search.study.rundir import RunDir

    path = out / name
    summary_path = path / "dance-summary.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    campaign, overrides = RUNS[name]
    overrides = [*SCALES[scale]["overrides"], *overrides]
    if campaign == DANCE:
        overrides.append(f"hardware.evaluator_path={json.dumps(str(evaluator_path))}")
    else:
        overrides = [o for o in overrides if not o.startswith("dance.")]
    resumed = (path / "run.json").is_file()
    if not resumed:
        create_run(campaign, path, overrides, overwrite=path.exists())
    start = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
    run_campaign(path, reporter=SilentReporter(), stop_after_s=stop_after_s)
    wall = time.perf_counter() - start
    run = RunDir(path)
    test = {m.record.hash: m.test_accuracy for m in run.front().members}
    records = run.records()
    engine = load_checkpoint(path).engine
    lambdas = {}
    if hasattr(engine, "results"):
        for result, genome in zip(engine.results, engine.candidates, strict=True):
            lambdas.setdefault(run.problem.space.key(genome), []).append(result.lam)
    rows = [{"hash": r.hash, "lambdas": lambdas.get(r.hash, []), "status": r.status,
             "val_accuracy": r.val_accuracy, "test_accuracy": test.get(r.hash),
             "front": r.hash in test, "edap": r.metrics.get("edap"),
             "params": r.metrics.get("params"), "power_rel": r.metrics.get("power_rel"),
             "design": r.metrics.get("hardware_design", ""),
             "multipliers": r.metrics.get("multipliers", {})} for r in records]
    summary = {"name": name, "scale": scale, "wall_s": wall, "resumed": resumed,
               "search_s": getattr(engine, "search_seconds", None),
               "supernets": [vars(r) | {"lam": r.lam} for r in getattr(engine, "results", [])],
               "trained": sum(r.status == "ok" for r in records), "records": rows}
    summary_path.write_text(json.dumps(summary, indent=1, default=list))
    return summary


def front(summary: dict) -> list[dict]:
    return [r for r in summary["records"] if r["front"] and r["test_accuracy"] is not None]


def best_accuracy(summary: dict) -> float:
    return max(r["test_accuracy"] for r in front(summary))


def edap_at(summary: dict, accuracy: float) -> float:
    """The least EDAP among front members with test accuracy >= ``accuracy``."""
    return min(r["edap"] for r in front(summary) if r["test_accuracy"] >= accuracy - 1e-12)


def table(results: dict, report: dict) -> str:
    """The Markdown tables and the claims."""
    lines = ["Learned evaluator (held out): MAPE latency "
             f"{report['mape_pct']['latency_cycles']:.2f} %, energy "
             f"{report['mape_pct']['energy_pj']:.2f} %, area {report['mape_pct']['area_um2']:.2f} "
             f"%, EDAP {report['mape_pct']['edap']:.2f} %; generator within 5 % of the best "
             f"EDAP for {report['generator']['within_5pct_pct']:.1f} % of "
             f"{report['networks']} networks.", "",
             "| run | networks trained | search s (supernets) | wall s | front | best test acc "
             "| its EDAP |", "|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        b = max(front(s), key=lambda r: (r["test_accuracy"], -r["edap"]))
        search = f"{s['search_s']:.0f}" if s["search_s"] is not None else "-"
        lines.append(f"| {name} | {s['trained']} | {search} | {s['wall_s']:.0f} | "
                     f"{len(front(s))} | {100 * b['test_accuracy']:.2f} % | {b['edap']:.3g} |")
    lines += ["", "| run | lambda | val acc | test acc (front) | EDAP | params | power_rel | "
              "accelerator |", "|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        for r in s["records"]:
            if not r["lambdas"]:
                continue
            test = f"{100 * r['test_accuracy']:.2f} %" if r["test_accuracy"] is not None else "-"
            val = f"{100 * r['val_accuracy']:.2f} %" if r["val_accuracy"] is not None else "-"
            lines.append(f"| {name} | {', '.join(f'{v:g}' for v in r['lambdas'])} | {val} | "
                         f"{test} | {r['edap']:.3g} | {r['params']} | "
                         f"{r['power_rel']:.3f} | {r['design'] or 'preset'} |")
    lines += ["", "Claims:", ""]
    pairs = (("dance", "dance-fixed", "co-search beats a fixed accelerator in EDAP at equal "
                                      "accuracy"),
             ("dance", "nsga2", "the differentiable search's front is as good as NSGA-II's at "
                                "equal wall time (EDAP at equal accuracy)"))
    for a, b, claim in pairs:
        if a not in results or b not in results:
            continue
        a_star = min(best_accuracy(results[a]), best_accuracy(results[b]))
        ea, eb = edap_at(results[a], a_star), edap_at(results[b], a_star)
        lines.append(f"- {claim}: a* = {100 * a_star:.2f} %, EDAP {a} {ea:.3g} vs {b} "
                     f"{eb:.3g} ({ea / eb:.2f}x): {'holds' if ea <= eb else 'does not hold'}")
    if "dance" in results and "nsga2" in results:
        d, n = results["dance"], results["nsga2"]
        lines.append(f"- search time: DANCE {d['search_s']:.0f} s of supernets for "
                     f"{len(d['supernets'])} lambdas ({d['search_s'] / len(d['supernets']):.0f} s "
                     f"per front point) + training {d['trained']} networks, {d['wall_s']:.0f} s "
                     f"in all; NSGA-II {n['wall_s']:.0f} s for {n['trained']} trained candidates "
                     f"({n['wall_s'] / max(1, n['trained']):.0f} s each)")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Test accuracy x EDAP of every run's front (filled) and validation accuracy of every
    archived candidate (hollow)."""
    from _runs import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(6.5, 4.2))
    colors = {"dance": "tab:red", "dance-fixed": "tab:gray", "nsga2": "tab:blue"}
    for name, s in results.items():
        c = colors.get(name, "k")
        pts = [(r["edap"], 100 * r["val_accuracy"]) for r in s["records"]
               if r["val_accuracy"] is not None and r["edap"]]
        if pts:
            ax.scatter(*zip(*pts), s=16, facecolors="none", edgecolors=c, alpha=0.6)
        f = sorted((r["edap"], 100 * r["test_accuracy"]) for r in front(s))
        if f:
            ax.plot(*zip(*f), "o-", color=c, label=f"{name} (front, test)")
    ax.set_xscale("log")
    ax.set_xlabel("EDAP, analytical ASIC model (pJ x cycles x um^2)")
    ax.set_ylabel("accuracy (%): test (front), validation (hollow)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def step_times(out: Path, evaluator_path: Path, steps: int = 24) -> dict:
    """Seconds per supernet step of each ``dance.multiplier_path`` at the campaign's scale
    (batch, layers, multipliers): one lambda (0.1), ``steps`` compiled steps on the first
    training images, the first (tracing) step left out. Written to ``step_times.json``."""
    from evoapproxnas.config import load_config
    from evoapproxnas.search.engines import dance_supernet
    from evoapproxnas.search.engines.dance import DanceEngine
    from evoapproxnas.search.problem import CampaignProblem

    times = {}
    for path in ("noise", "tables"):
        cfg = load_config(DANCE, [f"hardware.evaluator_path={json.dumps(str(evaluator_path))}",
                                  f"dance.multiplier_path='{path}'", "dance.lambdas=[0.1]",
                                  "dance.epochs=1", f"dance.train_samples={64 * steps}"])
        problem = CampaignProblem.build(cfg, (28, 28, 1), 10)
        engine = DanceEngine(problem.space, 2, 4, cfg.search.seed, **DanceEngine.options(cfg))
        result = dance_supernet.search_all(engine.task())[0]
        times[path] = {"step_s": result.step_seconds, "steps": steps,
                       "lambda_s": result.seconds}
        print(f"{path}: {result.step_seconds:.3f} s per step", flush=True)
    (out / "step_times.json").write_text(json.dumps(times, indent=1))
    return times


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "experiments"))
    from _runs import parser

    ap = parser(__doc__, ROOT / "runs" / "dance")
    ap.add_argument("--step-times", action="store_true",
                    help="only time a supernet step of each dance.multiplier_path")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    scale = "quick" if args.quick else "full"
    out = args.out / scale
    if args.report_only and not (out / "evaluator" / "evaluator.json").is_file():
        print(f"{out}: nothing to report (no evaluator built there yet); run without "
              "--report-only first", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    path, report = evaluator(scale, out)
    if args.step_times:
        step_times(out, path)
        return 0
    results = {}
    for name in RUNS:
        done = out / name / "dance-summary.json"
        if args.report_only:
            if done.is_file():
                results[name] = json.loads(done.read_text())
            continue
        stop = results["dance"]["wall_s"] if name == "nsga2" else None
        results[name] = run_one(name, scale, out, path, stop)
    text = (f"Scale {scale!r}: {SCALES[scale]['networks']} evaluator networks, overrides "
            f"{' '.join(SCALES[scale]['overrides']) or 'none'}.\n\n" + table(results, report))
    (out / "dance.md").write_text(text)
    if results:
        tag = "dance" if args.out.name == "dance" else args.out.name
        plot(results, ROOT / "plots" / f"{tag}_{scale}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
