"""Search quality on the held-out test set: pymoo NSGA-II, DEAP NSGA-II, random search and
the predictor-assisted search, paired by seed, with statistics that were fixed before any
run (issue 33).

Run: python benchmarks/search_quality.py [--setting quickstart] [--seeds ...] [--variants ...]
[--work DIR] [--results DIR] [--markdown FILE] [--report-only]

Everything that decides the outcome is fixed in this file: ``SEEDS`` (10, paired: one run
of every variant per seed), ``SETTINGS`` (the space and the budget), ``VARIANTS``,
``THRESHOLDS`` and ``POWER_LEVELS``. ``--seeds``/``--variants`` only pick a subset to run
now; the table pairs the seeds every chosen variant finished.

Settings (the spaces users run, scaled only in data and epochs, as stated):

- ``quickstart``: ``experiments/quickstart.toml`` as shipped (20,000 training / 2,000
  validation images, 3 epochs with a 1-epoch rung, population 8, two workers) for its 4
  generations: what its ``search.time_budget_s = 420`` allows on the machine of
  docs/results.md ("4 of 4");
- ``quickstart-long``: the same space with 6,000 training images and 10 generations;
- ``fmnist``: the space of ``experiments/fmnist.toml`` (2 x 6 grid, filters 16..64, all 36
  unsigned multipliers, per-channel weights) with 12,000 training / 2,000 validation
  images, 3 epochs (1-epoch rung), 4 generations;
- ``fmnist-long``: that space with 4,000 training images and 10 generations.

The budget is a number of generations, the same for every variant, not a time budget: on
a machine shared with other jobs a time budget would measure their load (how many
generations fit would change from run to run with it), not the search. For the same reason
every setting raises the per-candidate safety limit ``executor.time_limit_s`` to 1800 s (the
quick start's 240 s failed a 3-epoch training that took 240 s with five other jobs on two
cores). The real wall time
of every run is printed and stored beside its generations and full-budget trainings; the
time a variant adds (the predictor's fits) shows there. Each run is one campaign
(``run_campaign``), the final front re-evaluated on the 10,000 test images as a campaign
does. Indicators, all from test accuracies (error = 1 - test accuracy; the other
objectives are exact):

- ``hv``: hypervolume of the test-evaluated front with the campaign's reference
  (``search.hv_reference``);
- ``hv@0.80``, ``hv@0.85``: the same over the members at or above that test accuracy;
- ``best``: the best test accuracy on the front;
- ``acc@0.5x``, ``acc@0.25x``: the best test accuracy at or below that relative power
  (0 when no member is that cheap).

A second view, at an equal number of full-budget trainings: per seed, every run's archive
cut after the smallest number of full-budget trainings any variant of that seed reached;
its front (validation, as a campaign's) re-evaluated on the test set, the members the final
front did not have evaluated from their saved weights.

Statistics (``benchmarks/stats.py``) of each variant against random search: the per-seed
values, medians, the median of the per-seed ratios with a bootstrap 95 % interval, wins,
the two-sided Wilcoxon signed-rank p and the sign-test p.

Resumable: each (setting, variant, seed) writes its raw result (JSON) to
``--results/SETTING/VARIANT-SEED.json`` when its run finishes; a run that exists is not run
again, and a run directory left by a killed invocation (under ``--work``) resumes where it
stopped (its ``wall_s`` is then that of the finishing invocation, with ``resumed`` set).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stats  # noqa: E402  (benchmarks/stats.py)
from machine import cpu_name  # noqa: E402

from evoapproxnas.atomic import write_json  # noqa: E402
from evoapproxnas.search.reporting import Reporter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEEDS = tuple(range(1, 11))
"""The seeds of every setting, fixed before the first run."""
THRESHOLDS = (0.80, 0.85)
"""Test accuracies from which the high-accuracy hypervolumes count a member."""
POWER_LEVELS = (0.5, 0.25)
"""Relative powers at or below which the best test accuracy is reported."""
BASELINE = "random"


@dataclass(frozen=True)
class Setting:
    """A space (an experiment's config) and a budget (overrides of data, epochs, generations
    and time only)."""

    config: str
    overrides: tuple[str, ...]
    description: str


SETTINGS = {
    "quickstart": Setting("experiments/quickstart.toml",
                          ("search.time_budget_s=0", "executor.time_limit_s=1800"),
                          "experiments/quickstart.toml as shipped (20,000 / 2,000 images, "
                          "3 epochs, 1-epoch rung, population 8), 4 generations"),
    "quickstart-long": Setting("experiments/quickstart.toml",
                               ("search.time_budget_s=0", "training.train_samples=6000",
                                "search.generations=10", "executor.time_limit_s=1800"),
                               "the quick-start space, 6,000 / 2,000 images, 3 epochs, "
                               "10 generations"),
    "fmnist": Setting("experiments/fmnist.toml",
                      ("training.train_samples=12000", "training.val_samples=2000",
                       "training.epochs=3", "training.table_epochs=3",
                       "fidelity.final_repricing_epochs=1", "search.generations=4",
                       "executor.time_limit_s=1800"),
                      "the space of experiments/fmnist.toml, 12,000 / 2,000 images, 3 "
                      "epochs, 4 generations"),
    "fmnist-long": Setting("experiments/fmnist.toml",
                           ("training.train_samples=4000", "training.val_samples=2000",
                            "training.epochs=3", "training.table_epochs=3",
                            "fidelity.final_repricing_epochs=1", "search.generations=10",
                            "executor.time_limit_s=1800"),
                           "the space of experiments/fmnist.toml, 4,000 / 2,000 images, 3 "
                           "epochs, 10 generations"),
}
VARIANTS = {
    "pymoo": ("search.engine=pymoo",),
    "deap": ("search.engine=deap",),
    "random": ("search.engine=random",),
    "assisted": ("search.engine=pymoo", "search.predictor=forest"),
    # one piece switched at a time (not in the default set)
    "assisted-ridge": ("search.engine=pymoo", "search.predictor=ridge"),
    "pymoo-neighbour": ("search.engine=pymoo", "cgp.multiplier_mutation=neighbour"),
    "pymoo-crossover": ("search.engine=pymoo", "cgp.multiplier_crossover=0.3"),
    "pymoo-no-halving": ("search.engine=pymoo", "fidelity.rungs=[]"),
    "pymoo-no-repricing": ("search.engine=pymoo", "fidelity.final_repricing=0",
                           "fidelity.inherit_epochs=0", "cgp.uniform_multiplier_rate=0.0"),
}
DEFAULT_VARIANTS = ("pymoo", "deap", "random", "assisted")


class Capture(Reporter):
    """Keeps the campaign's log lines (generations, predictor tau) for the raw result."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)
        print(f"    {message}", flush=True)

    def note(self, message: str) -> None:
        self.log(message)

    def progress(self, total: int, desc: str, unit: str = "cand"):
        return None


def result_path(results: Path, setting: str, variant: str, seed: int) -> Path:
    return results / setting / f"{variant}-{seed}.json"


def one_run(setting: str, variant: str, seed: int, work: Path, results: Path) -> dict:
    """Run (or resume) one campaign and store its raw result."""
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.study.rundir import RunDir

    s = SETTINGS[setting]
    path = work / setting / f"{variant}-{seed}"
    resumed = (path / "config.json").is_file()
    if resumed:
        run = RunDir(path)
    else:
        overrides = [*s.overrides, *VARIANTS[variant], f"search.seed={seed}"]
        run = create_run(ROOT / s.config, path, overrides)
    capture = Capture()
    start = time.perf_counter()
    run_campaign(run.path, reporter=capture, evaluate_test=True)
    wall = time.perf_counter() - start
    raw = raw_result(run, setting, variant, seed, wall, resumed, capture.lines)
    raw["run"] = f"{setting}/{variant}-{seed}"  # under --work (no machine path stored)
    target = result_path(results, setting, variant, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json(target, raw)
    return raw


def raw_result(run, setting: str, variant: str, seed: int, wall: float, resumed: bool,
               lines: list[str]) -> dict:
    """What a finished run gives the tables: its front with test accuracies, the archive
    order of its full-budget trainings, its counts and log lines."""
    cfg = run.config
    records = run.records()
    full_epochs = cfg.training.epochs
    searched = run.meta.get("search_generations", cfg.search.generations)
    full = [r.hash for r in records if r.status == "ok" and r.fidelity is not None
            and r.fidelity >= full_epochs]
    members = [{"hash": m.record.hash, "val_accuracy": m.record.val_accuracy,
                "test_accuracy": m.test_accuracy, "objectives": m.record.objectives}
               for m in run.front().members]
    return {"setting": setting, "variant": variant, "seed": seed, "wall_s": round(wall, 1),
            "resumed": resumed, "cpu": cpu_name(), "run": run.path.name,
            "objectives": list(cfg.search.objectives),
            "hv_reference": cfg.hv_reference(),
            "generations": sum(h.generation < searched for h in run.history()),
            "trainings": sum(r.status == "ok" and r.fidelity is not None for r in records),
            "full_budget": len(full), "full_order": full, "front": members,
            "extra_test": {},
            "log": [line.replace(str(run.path), run.path.name) for line in lines]}


def indicators(members: list[dict], objectives: list[str], reference: list[float]) -> dict:
    """The test-set indicators (module docstring) of front members with test accuracies."""
    from pymoo.indicators.hv import HV

    from evoapproxnas.metrics import direction
    from evoapproxnas.search.study.results import scaled_reference

    tested = [m for m in members if m.get("test_accuracy") is not None]
    ref, scale = scaled_reference(objectives, reference)

    def hv(subset) -> float:
        if not subset:
            return 0.0
        F = np.array([[direction(n).minimized(1.0 - m["test_accuracy"] if n == "error"
                                              else m["objectives"][n]) for n in objectives]
                      for m in subset], dtype=float)
        return float(HV(ref_point=ref)(F / scale))

    out = {"hv": hv(tested)}
    for t in THRESHOLDS:
        out[f"hv@{t:.2f}"] = hv([m for m in tested if m["test_accuracy"] >= t])
    out["best"] = max((m["test_accuracy"] for m in tested), default=0.0)
    for p in POWER_LEVELS:
        out[f"acc@{p:g}x"] = max((m["test_accuracy"] for m in tested
                                  if m["objectives"]["power_rel"] <= p + 1e-12), default=0.0)
    return out


INDICATORS = ("hv", *(f"hv@{t:.2f}" for t in THRESHOLDS), "best",
              *(f"acc@{p:g}x" for p in POWER_LEVELS))


def prefix_members(raw: dict, n_full: int, work: Path, results: Path) -> list[dict] | None:
    """The front of the run's archive cut after its ``n_full``-th full-budget training, with
    test accuracies (evaluated from saved weights where the final front had none; cached in
    the raw result). ``None`` when that needs the run directory and it is gone."""
    from evoapproxnas.search.study.results import at_full_fidelity, pareto_front
    from evoapproxnas.search.study.rundir import RunDir

    run_path = work / raw["run"]
    if not (run_path / "config.json").is_file():
        return None
    run = RunDir(run_path)
    records = run.records()
    cut = len(records)
    if n_full < len(raw["full_order"]):
        target, seen = raw["full_order"][n_full - 1], 0
        full_epochs = run.config.training.epochs
        for i, r in enumerate(records):
            if r.status == "ok" and r.fidelity is not None and r.fidelity >= full_epochs:
                seen += 1
                if seen == n_full and r.hash == target:
                    cut = i + 1
                    break
    front = pareto_front(at_full_fidelity(records[:cut], run.config), raw["objectives"])
    known = {m["hash"]: m["test_accuracy"] for m in raw["front"]}
    known.update(raw["extra_test"])
    missing = [r for r in front if known.get(r.hash) is None]
    if missing:
        from evoapproxnas.search.tasks import TestTask
        from evoapproxnas.search.worker import init_worker, test_task

        state = init_worker(str(run_path), 2)
        for r in missing:
            known[r.hash] = test_task(state, TestTask(genome=r.genome, hash=r.hash)).test_accuracy
            raw["extra_test"][r.hash] = known[r.hash]
        write_json(result_path(results, raw["setting"], raw["variant"], raw["seed"]), raw)
    return [{"hash": r.hash, "test_accuracy": known[r.hash], "objectives": r.objectives}
            for r in front]


def load_results(results: Path, setting: str, variants, seeds) -> dict:
    out = {}
    for variant in variants:
        for seed in seeds:
            path = result_path(results, setting, variant, seed)
            if path.is_file():
                out[(variant, seed)] = json.loads(path.read_text())
    return out


def fmt(v: float, digits: int = 4) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def machines_line(raws: dict, variants, seeds) -> list[str]:
    """One line naming the CPU of each seed's runs (results written before the field was
    recorded count as "not recorded"); a seed whose variants ran on different CPUs says so."""
    by_cpu: dict[str, list[int]] = {}
    for s in seeds:
        cpus = {raws[(v, s)].get("cpu", "not recorded") for v in variants}
        by_cpu.setdefault(" / ".join(sorted(cpus)), []).append(s)
    parts = [f"seeds {', '.join(map(str, ss))}: {cpu}" for cpu, ss in by_cpu.items()]
    return ["Machines: " + "; ".join(parts) + ".", ""]


def headroom(raws: dict, values: dict, variants, seeds) -> list[str]:
    """The largest hypervolume ratio against random search any front could show, per seed:
    with the error's reference at 1 and every other scaled objective at least 0, a front's
    hypervolume is at most its best test accuracy, so no variant's ratio can exceed the best
    test accuracy any variant found over random's hypervolume."""
    if BASELINE not in variants:
        return []
    from evoapproxnas.metrics import direction

    objectives = {n for r in raws.values() for n in r["objectives"]}
    if any(direction(n).minimized(1.0) != 1.0 for n in objectives):
        return []  # a maximized objective: the bound does not apply
    bounds = [max(values[(v, s)]["best"] for v in variants) / values[(BASELINE, s)]["hv"]
              for s in seeds if values[(BASELINE, s)]["hv"] > 0]
    if not bounds:
        return []
    return ["", "Headroom: a front's hypervolume is at most its best test accuracy, so no "
            f"hv ratio against {BASELINE} can exceed the best test accuracy any variant found "
            f"over {BASELINE}'s hv: per seed {' '.join(fmt(b, 3) for b in bounds)} (median "
            f"{fmt(float(np.median(bounds)), 3)})."]


def tables(setting: str, variants, raws: dict, work: Path, results: Path,
           second_view: bool) -> str:
    """Markdown tables of one setting: wall times, then per view and indicator the per-seed
    values and the statistics against random search."""
    seeds = sorted({seed for (_, seed) in raws
                    if all((v, seed) in raws for v in variants)})
    lines = [f"### {setting}: {SETTINGS[setting].description}", ""]
    if not seeds:
        return "\n".join(lines + ["(no seed finished by every variant yet)", ""])
    lines += [f"Seeds finished by every variant: {', '.join(map(str, seeds))} "
              f"(of {', '.join(map(str, SEEDS))}).", "",
              *machines_line(raws, variants, seeds),
              "| variant | wall s per seed | generations | full-budget trainings |",
              "|---|---|---|---|"]
    for v in variants:
        walls = " ".join(fmt(raws[(v, s)]["wall_s"], 0) + ("*" if raws[(v, s)].get("resumed")
                                                             else "") for s in seeds)
        lines.append(f"| {v} | {walls} | "
                     f"{' '.join(str(raws[(v, s)]['generations']) for s in seeds)} | "
                     f"{' '.join(str(raws[(v, s)]['full_budget']) for s in seeds)} |")
    views = {"equal generations": {key: indicators(r["front"], r["objectives"],
                                                   r["hv_reference"])
                                 for key, r in raws.items()}}
    lines += headroom(raws, views["equal generations"], variants, seeds)
    if second_view:
        cut = {}
        for s in seeds:
            n = min(raws[(v, s)]["full_budget"] for v in variants)
            for v in variants:
                members = prefix_members(raws[(v, s)], n, work, results)
                if members is not None:
                    cut[(v, s)] = indicators(members, raws[(v, s)]["objectives"],
                                             raws[(v, s)]["hv_reference"])
        if all((v, s) in cut for v in variants for s in seeds):
            views["equal full-budget trainings"] = cut
    if any(r.get("resumed") for r in raws.values()):
        lines += ["", "\\* resumed after a kill: the wall time of the finishing invocation only."]
    for view, values in views.items():
        lines += ["", f"**{view}** (test set). Per seed, median, and against {BASELINE}: "
                  "median of per-seed ratios [bootstrap 95 %], wins/losses, Wilcoxon p, "
                  "sign-test p.", "",
                  "| indicator | variant | per seed | median | ratio [95 %] | W/L | Wilcoxon p "
                  "| sign p |", "|---|---|---|---|---|---|---|---|"]
        for name in INDICATORS:
            base = [values[(BASELINE, s)][name] for s in seeds] if BASELINE in variants else None
            for v in variants:
                mine = [values[(v, s)][name] for s in seeds]
                row = f"| {name} | {v} | {' '.join(fmt(x, 3) for x in mine)} | " \
                      f"{fmt(float(np.median(mine)), 3)} |"
                if base is not None and v != BASELINE:
                    c = stats.compare(mine, base)
                    row += (f" {fmt(c.median_ratio, 3)} [{fmt(c.ratio_low, 3)}, "
                            f"{fmt(c.ratio_high, 3)}] | {c.wins}/{c.losses} | "
                            f"{fmt(c.wilcoxon_p, 3)} | {fmt(c.sign_p, 3)} |")
                else:
                    row += " | | | |"
                lines.append(row)
    return "\n".join(lines + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="quickstart")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help="which of the fixed seeds to run now (default all)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                        choices=sorted(VARIANTS))
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "evoapproxnas-quality",
                        help="where the run directories (with trained weights) live")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results"
                        / "search_quality", help="where the raw results (JSON) go")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the tables to this file")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: print the tables of the results there are")
    parser.add_argument("--no-second-view", action="store_true",
                        help="skip the equal-full-budget-trainings view (it may evaluate "
                             "members on the test set)")
    args = parser.parse_args()
    unknown = sorted(set(args.seeds) - set(SEEDS))
    if unknown:
        parser.error(f"seeds {unknown} are not among the fixed SEEDS {SEEDS}")
    if not args.report_only:
        for seed in args.seeds:  # seed by seed: every finished seed is a complete pair
            for variant in args.variants:
                path = result_path(args.results, args.setting, variant, seed)
                if path.is_file():
                    continue
                print(f"{args.setting} {variant} seed {seed}", flush=True)
                raw = one_run(args.setting, variant, seed, args.work, args.results)
                print(json.dumps({k: raw[k] for k in ("variant", "seed", "wall_s",
                                                      "generations", "full_budget")},
                                 ), flush=True)
    raws = load_results(args.results, args.setting, args.variants, SEEDS)
    text = tables(args.setting, args.variants, raws, args.work, args.results,
                  not args.no_second_view)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
