"""Reproduce the comparison of Jiang et al. (TCAD 2020, "Hardware/Software Co-Exploration of
Neural Architectures", table I) on Fashion-MNIST and one Zynq XC7Z015: hardware-aware NAS on
a fixed design vs. the sequential optimisation (the network first, then the best hardware
for it) vs. co-exploration (network and hardware genes in one search), each with NSGA-II
and, where it is registered, the REINFORCE controller, at equal evaluation budget, over 3
seeds.

Run:  python experiments/reproduce_coexplore.py [--quick] [--out runs/coexplore]
      [--seeds 1 2 3] [--engines pymoo reinforce] [--report-only]
      python experiments/reproduce_coexplore.py --tight | --tight-search [--out ...]

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

Tight specifications (``--tight``; the paper's claim "the joint search finds designs the
others miss under tight specifications"). Fixed here before any run:

- part 1, no training: ``TIGHT_N`` = 500 networks drawn uniformly (``TIGHT_SEED``) from the
  campaign's layer-list space as shipped (2..5 layers), with no specification. The ladder of
  fps floors: the campaign's 250, then the fixed design's fps over the sample at its
  median, 90th and 99th percentile (``TIGHT_QUANTILES``) and at 1, 1.5, 2 and 3 times its
  maximum (``TIGHT_BEYOND``), each rounded down to an integer. Per floor, the share of the
  networks with a valid design in each mode, as each mode can reach it:
  fixed: fps on the preset's design (the 16 x 8 engine, 14 x 14 tiles, one XC7Z015)
  >= floor (the campaign prunes on fps only; the fixed mode does not check ``fits``);
  sequential: the network is searched on the fixed design, so one below the floor there is
  pruned and never reaches the second step; a survivor is re-priced on the fastest design of
  the space (``hardware.optimize``, kept on the fixed design where that is not better):
  valid = fixed-valid, by construction; inner (one device, per candidate): the fastest
  fitting design of ``explore.search_fpga`` (engine tilings Tm x Tn, layer partitions)
  >= floor; joint, reachable: some design of the joint space (1..2 XC7Z015, tilings, cut)
  fits and reaches the floor, i.e. the fastest one (``FpgaDesignSpace.optimize``, exact for
  fps, checked against brute force over the genes in the package's tests) does; of which
  on one FPGA: the same over the one-device designs; joint, random design: the share of
  (network, design) pairs, ``TIGHT_DRAWS`` designs per network drawn as the joint space
  samples them (uniform per hardware gene), that fit and reach the floor (what a joint
  search's first draws meet); only joint: reachable by joint and not valid in the fixed
  mode. A second table: the same shares among the larger half of the sample by
  multiplications (a capacity proxy, not an accuracy), fixed against joint.
- part 2, a short search (``--tight-search``): at the lowest ladder floor where the fixed
  mode has fewer than ``TIGHT_SEARCH_SHARE`` = 5 % valid networks, the three modes with
  NSGA-II (``pymoo``), seed 1, the quick scale's budget (``TIGHT_SEARCH_SCALE``: 6 x 2
  candidates, 2,000 / 500 images, 1 epoch) on the space as shipped (2..5 layers, the space
  part 1 sampled): per mode the candidates trained and pruned, how many valid front
  members, and the best test accuracy with its fps, or "no valid design".

Writes ``plots/coexplore_tight.md`` and ``plots/coexplore_tight.png`` (share against floor);
the search runs go to ``OUT/tight/`` (resumable as above).
"""

from __future__ import annotations

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


TIGHT_N = 500
"""Networks sampled for the feasibility ladder (``--tight``)."""
TIGHT_SEED = 29
"""Seed of that sample and of its random designs."""
TIGHT_DRAWS = 20
"""Random joint designs per sampled network."""
TIGHT_QUANTILES = (0.5, 0.9, 0.99)
"""Floors at these quantiles of the fixed design's fps over the sample."""
TIGHT_BEYOND = (1.0, 1.5, 2.0, 3.0)
"""Floors at these multiples of the sample's highest fixed-design fps."""
TIGHT_SEARCH_SHARE = 0.05
"""The short search runs at the lowest floor where the fixed mode has fewer valid networks."""
TIGHT_SEARCH_SCALE = [o for o in SCALES["quick"] if not o.startswith("space.max_layers")]
"""The quick scale's budget on the space as shipped (the space the ladder sampled)."""


def run_one(mode: str, engine: str, seed: int, scale: str, out: Path,
            overrides: list[str] | None = None) -> dict:
    """Run (or resume, or read) one campaign; its summary. ``overrides`` replace the
    scale's (``SCALES[scale]``), the run directory is ``out/scale/...`` all the same."""
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter
    from evoapproxnas.search.study.rundir import RunDir

    path = out / scale / f"{mode}-{engine}-s{seed}"
    summary_path = path / "coexplore.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    base = SCALES[scale] if overrides is None else overrides
    overrides = [*base, *VARIANTS[mode], f"search.engine='{engine}'",
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
    from _runs import pyplot, save_figure

    plt = pyplot()

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
    save_figure(fig, path)


# ---- tight specifications (``--tight``) -----------------------------------------------

FMNIST_INPUT = ((28, 28, 1), 10)
"""Input shape and class count of the campaign's dataset (no need to load it)."""
TIGHT_MODES = ("fixed", "sequential", "inner", "joint", "joint_1fpga", "joint_random")
"""The columns of the feasibility table, in order (see the module docstring)."""
TIGHT_LABELS = {"fixed": "fixed", "sequential": "sequential", "inner": "inner (1 device)",
                "joint": "joint: some design", "joint_1fpga": "joint: some 1-FPGA design",
                "joint_random": "joint: random design", "only_joint": "only joint"}


def tight_sample(n: int = TIGHT_N, seed: int = TIGHT_SEED, draws: int = TIGHT_DRAWS,
                 overrides: tuple[str, ...] = ()) -> dict:
    """Price ``n`` networks of the campaign's space (uniform draws, no specification) in
    every mode (the module docstring): numpy arrays of fps per network (0 where no
    fitting design), ``random_fps`` one row of ``draws`` random joint designs per network,
    ``macs`` and ``failed`` (networks the fixed design cannot price)."""
    from dataclasses import replace

    import numpy as np

    from evoapproxnas.config import load_config
    from evoapproxnas.errors import UserError
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.hardware.design_space import design_space
    from evoapproxnas.search.problem import CampaignProblem, CandidateFailure

    cfg = load_config(CAMPAIGN, [*overrides, "search.constraints=[]",
                                 "hardware.mode='sequential'", "hardware.max_fpgas=2"])
    problem = CampaignProblem.build(cfg, *FMNIST_INPUT)
    space = problem.space
    space.set_filter(None)  # every draw counts, none re-drawn
    hw = cfg.hardware
    inner = replace(hw, mode="inner", max_fpgas=1, search_metric="fps")
    joint = hw.design_space
    one = design_space(hw.model, hw.preset or None, dict(hw.overrides), 1)
    rng = np.random.default_rng(seed)
    out = {k: np.zeros(n) for k in ("fixed_fps", "inner_fps", "joint_fps", "one_fps",
                                    "macs", "failed")}
    out["random_fps"] = np.zeros((n, draws))
    for i in range(n):
        x = space.sample(rng)
        genes = [[int(rng.integers(d.n)) for d in joint.decisions] for _ in range(draws)]
        try:  # the fixed design, as the fixed and sequential modes price a candidate
            metrics = problem.price(x)
        except CandidateFailure as exc:
            out["failed"][i] = 1
            out["macs"][i] = exc.metrics.get("multiplications", 0)
            continue
        out["fixed_fps"][i] = metrics["fps"]
        out["macs"][i] = metrics["multiplications"]
        layers = layers_from_graph(problem.decode(x), problem.choice)
        try:
            out["inner_fps"][i] = inner.estimate(layers, [])["fps"]
        except UserError:  # no one-device design fits
            pass
        for key, space_ in (("joint_fps", joint), ("one_fps", one)):
            best = space_.optimize(layers, "fps")
            out[key][i] = best["fps"] if best["fits"] else 0.0
        for j, g in enumerate(genes):
            m = joint.evaluate(layers, g)
            out["random_fps"][i, j] = m["fps"] if m["fits"] else 0.0
    return out


def tight_ladder(fixed_fps) -> list[tuple[str, int]]:
    """The fps floors (label, floor), ascending: the campaign's 250, the quantiles
    ``TIGHT_QUANTILES`` and the multiples ``TIGHT_BEYOND`` of the maximum of the fixed
    design's fps over the sample, each rounded down."""
    import math

    import numpy as np

    fps = np.asarray(fixed_fps, float)
    rungs = [("campaign spec", 250.0)]
    rungs += [(f"fixed p{round(100 * q)}", float(np.quantile(fps, q))) for q in TIGHT_QUANTILES]
    rungs += [(f"{m:g} x fixed max", m * float(fps.max())) for m in TIGHT_BEYOND]
    return sorted(((label, int(math.floor(v))) for label, v in rungs), key=lambda r: r[1])


def tight_shares(sample: dict, floor: float, among=None) -> dict[str, float]:
    """Share of the networks (``among``: a boolean mask, default all) valid at ``floor`` in
    each mode (``TIGHT_MODES`` and "only_joint"; the module docstring)."""
    import numpy as np

    n = len(sample["fixed_fps"])
    mask = np.ones(n, bool) if among is None else np.asarray(among, bool)
    fixed = sample["fixed_fps"] >= floor
    # sequential: a network the fixed design prunes never reaches the second step; a
    # survivor is re-priced on the best design, kept on the fixed one where that is worse
    sequential = fixed & (np.maximum(sample["joint_fps"], sample["fixed_fps"]) >= floor)
    valid = {"fixed": fixed, "sequential": sequential,
             "inner": sample["inner_fps"] >= floor,
             "joint": sample["joint_fps"] >= floor,
             "joint_1fpga": sample["one_fps"] >= floor,
             "joint_random": (sample["random_fps"] >= floor).mean(axis=1),
             "only_joint": (sample["joint_fps"] >= floor) & ~fixed}
    total = max(int(mask.sum()), 1)
    return {k: float(np.asarray(v, float)[mask].sum() / total) for k, v in valid.items()}


def tight_table(sample: dict, ladder: list[tuple[str, int]]) -> str:
    """The Markdown tables of part 1: shares per floor, all networks and the larger half by
    multiplications."""
    import numpy as np

    n = len(sample["fixed_fps"])
    cols = [*TIGHT_MODES, "only_joint"]
    head = "| floor | fps >= | " + " | ".join(TIGHT_LABELS[c] for c in cols) + " |"
    lines = [f"{n} networks of the campaign's space (seed {TIGHT_SEED}, "
             f"{int(sample['failed'].sum())} that the fixed design cannot price), "
             f"{sample['random_fps'].shape[1]} random joint designs each. Fixed design's "
             f"fps over the sample: median {np.median(sample['fixed_fps']):,.0f}, max "
             f"{sample['fixed_fps'].max():,.0f}; best design of the joint space: median "
             f"{np.median(sample['joint_fps']):,.0f}, max {sample['joint_fps'].max():,.0f}.",
             "", "Share of the networks with a valid design:", "", head,
             "|---|---" + "|---" * len(cols) + "|"]
    for label, floor in ladder:
        s = tight_shares(sample, floor)
        lines.append(f"| {label} | {floor:,} | "
                     + " | ".join(f"{100 * s[c]:.1f} %" for c in cols) + " |")
    big = sample["macs"] >= np.median(sample["macs"])
    lines += ["", f"Among the larger half by multiplications ({int(big.sum())} networks, "
              f">= {np.median(sample['macs']):,.0f} multiplications; a capacity proxy):", "",
              "| floor | fps >= | fixed | joint: some design | only joint |",
              "|---|---|---|---|---|"]
    for label, floor in ladder:
        s = tight_shares(sample, floor, among=big)
        lines.append(f"| {label} | {floor:,} | {100 * s['fixed']:.1f} % | "
                     f"{100 * s['joint']:.1f} % | {100 * s['only_joint']:.1f} % |")
    return "\n".join(lines) + "\n"


def tight_plot(sample: dict, ladder: list[tuple[str, int]], path: Path) -> None:
    """Share of valid networks against the fps floor, one line per mode."""
    from _runs import pyplot, save_figure

    plt = pyplot()

    floors = [f for _, f in ladder]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = {"fixed": ("tab:gray", "o-"), "sequential": ("tab:blue", "s:"),
              "inner": ("tab:green", "^-"), "joint": ("tab:red", "o-"),
              "joint_1fpga": ("tab:orange", "v:"), "joint_random": ("tab:purple", "x-")}
    for mode, (color, style) in styles.items():
        ax.plot(floors, [100 * tight_shares(sample, f)[mode] for f in floors], style,
                color=color, label=TIGHT_LABELS[mode] + (" (= fixed)" if mode == "sequential"
                                                         else ""),
                markersize=9 if mode == "fixed" else 5)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)  # the tail near 0 % visible, 0 drawn at 0
    ax.set_ylim(0, 150)
    ax.set_xlabel("specification: fps >= (XC7Z015 at 100 MHz)")
    ax.set_ylabel("networks with a valid design (%)")
    ax.set_title(f"{len(sample['fixed_fps'])} random networks of the layer-list space")
    ax.legend(fontsize=8, loc="lower left")
    save_figure(fig, path)


def tight_search_floor(sample: dict, ladder: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The lowest floor of the ladder where the fixed mode has fewer than
    ``TIGHT_SEARCH_SHARE`` valid networks (``None`` if none)."""
    for label, floor in ladder:
        if tight_shares(sample, floor)["fixed"] < TIGHT_SEARCH_SHARE:
            return label, floor
    return None


def tight_search(out: Path, floor: int, seed: int = 1, engine: str = "pymoo") -> str:
    """Part 2: the three modes at ``fps >= floor`` (``TIGHT_SEARCH_SCALE``); its table."""
    spec = [*TIGHT_SEARCH_SCALE, f"search.constraints=['fps >= {floor}']"]
    lines = [f"Search at `fps >= {floor:,}`: {engine}, seed {seed}, "
             f"{' '.join(TIGHT_SEARCH_SCALE)}.", "",
             "| mode | trained (valid) | pruned (with re-drawn) | valid front members | "
             "best test acc | "
             "its fps | its design | wall s |", "|---|---|---|---|---|---|---|---|"]
    for mode in VARIANTS:
        r = run_one(mode, engine, seed, "tight", out, overrides=spec)
        ok = [m for m in r["members"] if m["test_accuracy"] is not None]
        if ok:
            b = best(r)
            tail = (f"{100 * b['test_accuracy']:.2f} % | {b['fps']:,.0f} | "
                    f"{b['design'].split(' (preset')[0].replace('|', '/')}")
        else:
            tail = "no valid design | - | -"
        lines.append(f"| {mode} | {r['trained']} | {r['pruned']} | {len(ok)} | {tail} | "
                     f"{r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def run_tight(out: Path, search: bool, n: int = TIGHT_N,
              markdown: Path = ROOT / "plots" / "coexplore_tight.md") -> str:
    """Part 1 (and with ``search`` part 2); writes ``markdown`` and the figure beside it."""
    from evoapproxnas.atomic import write_text

    start = time.perf_counter()
    sample = tight_sample(n)
    ladder = tight_ladder(sample["fixed_fps"])
    text = (f"Tight specifications (`experiments/reproduce_coexplore.py --tight`), campaign "
            f"{CAMPAIGN.relative_to(ROOT)} as shipped. Part 1, no training "
            f"({time.perf_counter() - start:.0f} s):\n\n" + tight_table(sample, ladder))
    tight_plot(sample, ladder, markdown.with_suffix(".png"))
    if search:
        chosen = tight_search_floor(sample, ladder)
        text += "\nPart 2, a short search. " + (
            "No floor of the ladder leaves the fixed mode under "
            f"{100 * TIGHT_SEARCH_SHARE:g} %.\n" if chosen is None else
            f"Floor: {chosen[0]}, the lowest where the fixed mode has under "
            f"{100 * TIGHT_SEARCH_SHARE:g} % valid networks.\n\n"
            + tight_search(out, chosen[1]))
    markdown.parent.mkdir(parents=True, exist_ok=True)
    write_text(markdown, text)
    return text


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "experiments"))
    from _runs import parser

    ap = parser(__doc__, ROOT / "runs" / "coexplore")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--engines", nargs="+", default=list(ENGINES))
    ap.add_argument("--modes", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--markdown", type=Path, help="default: OUT/SCALE/coexplore.md "
                    "(--tight: plots/coexplore_tight.md)")
    ap.add_argument("--tight", action="store_true",
                    help="the feasibility ladder under tightening fps floors (no training)")
    ap.add_argument("--tight-search", action="store_true",
                    help="--tight and a short search at a tight floor (OUT/tight)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.tight or args.tight_search:
        print(run_tight(args.out, args.tight_search,
                        markdown=args.markdown or ROOT / "plots" / "coexplore_tight.md"))
        return 0
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
