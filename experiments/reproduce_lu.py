"""Reproduce the comparison of Lu et al. (ICCAD 2019, "On Neural Architecture Search for
Resource-Constrained Hardware Platforms", tables 3 and 4) on Fashion-MNIST and the Cyclone IV
preset of the ``fpga_lu`` model: the *sequential* flow (an architecture search at 8 bits,
then a quantization search, widths only, on its best architecture) against the *joint*
search (architecture and per-layer widths together), under a LUT budget rL and a throughput
requirement rT; a candidate whose fastest design within rL misses rT is never trained.

Run:  python experiments/reproduce_lu.py [--quick] [--out runs/lu] [--report-only]

Everything that decides the outcome is fixed here before any run: the campaign
(``experiments/fmnist_lu.toml``: 2..4 conv layers, kernels 1..7, 8..32 filters, per layer A
and W in 2..8 with fixed-point binary points Af in {2, 4, 6}, Wf in {3, 5, 7}; the REINFORCE
controller with the paper's reward, accuracy inside the specifications), ``SEED``, the
budgets (``SCALES``), the cells (``LUT_BUDGETS`` x ``THROUGHPUTS``) and the rules:

- sequential, step 1: the campaign at 8 bits (``EIGHT_BITS``: A = W = 8, range-scaled
  codes) *without* specifications (the paper's NAS does not see them); its best
  architecture (highest validation accuracy) is fixed (``space.architecture``);
- sequential, step 2, per cell: only the widths of that architecture are searched under
  (rL, rT); joint, per cell: the campaign as it is under (rL, rT); the same budget;
- per run: "best" = the trained candidate inside the specifications with the highest
  validation accuracy (a front member of error x fps); we report its accuracy on the 10,000
  test images, its LUTs and images/s; "no valid design" when nothing met the specifications;
- the claims checked: (1) joint >= sequential in test accuracy, with a larger gap the
  tighter rL (the row means of joint - sequential, a missing design counting as 0 %
  accuracy, rise from loose to tight); (2) sequential has no valid design in the tightest
  cell (tight rL, highest rT).

Scaling of the cells: the paper's rL (30,000 .. 300,000 LUTs) and rT (500 .. 2,000
images/s) are for CIFAR-10 networks of 64..512 filters; our networks are far smaller, so the
cells come from the hardware cost of random networks of this space at 8 bits
(``scaling``, printed with the table: the fraction of 60 random 8-bit and 60 random
mixed-width networks that meet each cell). At 8 bits a random network's fastest design on the
device spans about 4,000 .. 94,000 LUTs and 2,600 .. 82,000 images/s (5th .. 90th
percentile); rL = 2,000 / 6,000 / 25,000 LUTs and rT = 1,000 / 4,000 / 16,000 images/s (rT x4
per step as in the paper) make the tightest cell bind: there about 3 % of random 8-bit
networks are feasible, against 98 % in the loosest.

Resumable: each run (``arch8``, ``seq-<rL>-<rT>``, ``joint-<rL>-<rT>``) is one run directory
under ``OUT/SCALE``; a finished one is read from its summary, an unfinished one resumes
where it stopped. The Markdown table goes to ``OUT/SCALE/lu.md``, the figure to
``plots/lu_<scale>.png``.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "experiments" / "fmnist_lu.toml"
SEED = 1
LUT_BUDGETS = {"tight": 2000, "medium": 6000, "loose": 25000}
THROUGHPUTS = (1000, 4000, 16000)
EIGHT_BITS = ["space.activation_bits=[8]", "space.weight_bits=[8]", "space.fixed_point=false"]
SCALING_NETWORKS = 60
SCALES = {
    # the campaign file as shipped: 8 x 4 = 32 candidates per run, 10,000 training images,
    # 2 epochs
    "full": [],
    # a smoke scale for two shared cores (19 runs in about 20 minutes): 3 x 2 = 6
    # candidates per run, 1,000 training / 300 validation images, 2 epochs of batches of 32
    # (these GAP-headed networks without batch normalization need many steps to leave
    # chance: 1 epoch of 1,000 images in batches of 64 left every network near 10 %)
    "quick": ["search.population=3", "search.generations=2", "training.epochs=2",
              "training.train_samples=1000", "training.val_samples=300",
              "training.batch_size=32", "executor.time_limit_s=120"],
}


def cells() -> list[tuple[str, int, int]]:
    """``(rL name, rL, rT)`` of every cell, tightest rL first."""
    return [(name, rl, rt) for name, rl in LUT_BUDGETS.items() for rt in THROUGHPUTS]


def specs(rl: int, rt: int) -> str:
    """The override that sets the specifications (hardware.mode = "inner" reads them)."""
    return f"search.constraints=['luts <= {rl}', 'fps >= {rt}']"


def test_accuracy(run, member) -> float:
    """Accuracy of a front member's trained model on the 10,000 test images (only the best
    member of each run is tested: the runs skip the test set of the whole front)."""
    from evoapproxnas.nn.train import evaluate
    from evoapproxnas.search.problem import load_data

    data = load_data(run.config)
    return float(evaluate(run.load_model(member), data.x_test, data.y_test))


def summarize(path: Path, label: str, wall: float, resumed: bool) -> dict:
    """The summary of a finished run: its best design inside the specifications (or None)."""
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(path)
    best = None
    members = [m for m in run.front().members if m.record.status == "ok"]
    if members:
        m = max(members, key=lambda m: (m.record.val_accuracy, m.record.metrics["fps"]))
        graph = run.network(m)
        best = {"hash": m.record.hash, "test_accuracy": test_accuracy(run, m),
                "val_accuracy": m.record.val_accuracy, "luts": m.record.metrics["luts"],
                "fps": m.record.metrics["fps"], "params": m.record.metrics["params"],
                "architecture": architecture(graph), "widths": widths(graph, run)}
    records = run.records()
    return {"run": label, "wall_s": wall, "resumed": resumed, "best": best,
            "trained": sum(r.status == "ok" for r in records),
            "pruned": sum(r.status == "infeasible" for r in records)}


def architecture(graph) -> list[list[int]]:
    """``[kernel, filters, stride, pool]`` per conv layer of a layer-list network (the
    strides it uses), the value of ``space.architecture`` that fixes it."""
    out, i = [], 0
    while f"layer{i}" in graph:
        p = graph.nodes[f"layer{i}"]["params"]
        out.append([int(p["kernel"]), int(p["filters"]), int(p["strides"]),
                    int(f"pool{i}" in graph)])
        i += 1
    return out


def widths(graph, run) -> list[str]:
    """``A x W`` (``Af``/``Wf`` in fixed point) of every multiplying layer."""
    from evoapproxnas.cgp import multiply_layers
    from evoapproxnas.hardware import layers_from_graph

    records = multiply_layers(graph)
    hw = layers_from_graph(graph, run.problem.choice)
    out = []
    for r, layer in zip(records, hw):
        text = f"{layer.activation_bits}x{layer.weight_bits}"
        if "activation_frac_bits" in r:
            text += f" ({r['activation_frac_bits']}/{r['weight_frac_bits']})"
        out.append(text)
    return out


def run_one(label: str, overrides: list[str], scale: str, out: Path) -> dict:
    """Run (or resume, or read) one campaign; its summary."""
    import time

    from _runs import run_or_resume

    path = out / scale / label
    summary_path = path / "lu.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    print(f"[{time.strftime('%H:%M:%S')}] {label}", flush=True)
    wall, resumed = run_or_resume(CAMPAIGN, path,
                                  [*SCALES[scale], f"search.seed={SEED}", *overrides],
                                  evaluate_test=False)
    summary = summarize(path, label, wall, resumed)
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def scaling(out: Path) -> dict:
    """Fraction of ``SCALING_NETWORKS`` random networks (at 8 bits, and with random widths)
    that meet each cell: how tight the cells are (cached in ``OUT/scaling.json``)."""
    import numpy as np

    from evoapproxnas.config import load_config
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.hardware.quantized import search_specs
    from evoapproxnas.search.problem import CampaignProblem

    path = out / "scaling.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = {}
    for kind, extra in (("8-bit", EIGHT_BITS), ("mixed", [])):
        cfg = load_config(CAMPAIGN, ["search.constraints=[]", *extra])
        problem = CampaignProblem.build(cfg, (28, 28, 1), 10)
        rng = np.random.default_rng(SEED)
        nets = [layers_from_graph(problem.decode(problem.space.sample(rng)), problem.choice)
                for _ in range(SCALING_NETWORKS)]
        result[kind] = {f"{rl}-{rt}": float(np.mean([search_specs(n, rl, rt).feasible
                                                     for n in nets]))
                        for _, rl, rt in cells()}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def accuracy(summary: dict | None) -> float:
    """Test accuracy of the best design, 0 when there is none (or the run is missing)."""
    return summary["best"]["test_accuracy"] if summary and summary["best"] else 0.0


def cell_text(summary: dict | None) -> list[str]:
    if summary is None:
        return ["not run", "", "", ""]
    b = summary["best"]
    if b is None:
        return ["no valid design", "-", "-", f"{summary['trained']} / {summary['pruned']}"]
    return [f"{100 * b['test_accuracy']:.2f} %", f"{b['luts']:,.0f}", f"{b['fps']:,.0f}",
            f"{summary['trained']} / {summary['pruned']}"]


def table(arch: dict | None, runs: dict, scale_fractions: dict) -> str:
    """The Markdown table (one row per cell), the widths found and the claims."""
    lines = []
    if arch:
        b = arch["best"]
        lines += [f"Sequential step 1 (8 bits, no specifications): best architecture "
                  f"{b['architecture']} ([kernel, filters, stride, pool] per layer), "
                  f"validation {100 * b['val_accuracy']:.2f} %, test "
                  f"{100 * b['test_accuracy']:.2f} %, {b['luts']:,.0f} LUTs and "
                  f"{b['fps']:,.0f} images/s on the whole device; {arch['trained']} trained.",
                  ""]
    lines += ["| rL (LUTs) | rT (images/s) | random 8-bit / mixed feasible | sequential: test "
              "acc | LUTs | images/s | trained / pruned | joint: test acc | LUTs | images/s "
              "| trained / pruned |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rl, rt in cells():
        key = f"{rl}-{rt}"
        fr = (f"{100 * scale_fractions['8-bit'][key]:.0f} % / "
              f"{100 * scale_fractions['mixed'][key]:.0f} %")
        seq, joint = runs.get(("seq", rl, rt)), runs.get(("joint", rl, rt))
        lines.append(f"| {name} {rl:,} | {rt:,} | {fr} | " + " | ".join(cell_text(seq))
                     + " | " + " | ".join(cell_text(joint)) + " |")
    lines += ["", "Widths of each best design, `A x W (Af/Wf)` per multiplying layer "
              "(the classifier last, at 8 x 8):", ""]
    for name, rl, rt in cells():
        for method in ("seq", "joint"):
            s = runs.get((method, rl, rt))
            if s and s["best"]:
                lines.append(f"- {name} rL {rl:,}, rT {rt:,}, {method}: "
                             f"{s['best']['architecture']}; {', '.join(s['best']['widths'])}")
    lines += ["", "Claims:", ""]
    both = [(name, rl, rt) for name, rl, rt in cells()
            if ("seq", rl, rt) in runs and ("joint", rl, rt) in runs]
    gaps = {}
    for name, rl in LUT_BUDGETS.items():
        diffs = [accuracy(runs[("joint", rl, rt)]) - accuracy(runs[("seq", rl, rt)])
                 for n, r, rt in both if r == rl]
        gaps[name] = statistics.mean(diffs) if diffs else None
    wins = sum(accuracy(runs[("joint", rl, rt)]) >= accuracy(runs[("seq", rl, rt)])
               for _, rl, rt in both)
    if None in gaps.values():
        lines.append(f"- joint >= sequential in {wins} of the {len(both)} cells both ran "
                     f"(of {len(cells())}); the gap by rL needs every budget run.")
    else:
        g = [gaps["tight"], gaps["medium"], gaps["loose"]]
        rising = g[0] >= g[1] >= g[2] and g[0] > g[2]
        lines.append(f"- joint >= sequential in {wins} of the {len(both)} cells both ran "
                     f"(of {len(cells())}); mean gap (joint - sequential, test accuracy "
                     f"points) tight {100 * g[0]:+.1f}, medium {100 * g[1]:+.1f}, loose "
                     f"{100 * g[2]:+.1f}: the gap {'rises' if rising else 'does not rise'} as "
                     "rL tightens.")
    tight = runs.get(("seq", LUT_BUDGETS["tight"], THROUGHPUTS[-1]))
    verdict = ("not run" if tight is None else "no valid design (holds)"
               if tight["best"] is None else "a valid design (does not hold)")
    lines.append(f"- sequential in the tightest cell (rL {LUT_BUDGETS['tight']:,}, rT "
                 f"{THROUGHPUTS[-1]:,}): {verdict}.")
    return "\n".join(lines) + "\n"


def plot(runs: dict, path: Path) -> None:
    """Test accuracy of the best design per cell, sequential vs joint, one panel per rL."""
    from _runs import pyplot, save_figure

    plt = pyplot()

    fig, axes = plt.subplots(1, len(LUT_BUDGETS), figsize=(13, 3.8), sharey=True)
    for ax, (name, rl) in zip(axes, LUT_BUDGETS.items()):
        for k, (method, color) in enumerate((("seq", "tab:blue"), ("joint", "tab:red"))):
            for j, rt in enumerate(THROUGHPUTS):
                s = runs.get((method, rl, rt))
                x = j + (k - 0.5) * 0.38
                if s is None:
                    continue
                acc = 100 * accuracy(s)
                ax.bar(x, acc, 0.36, color=color,
                       label=("sequential" if method == "seq" else "joint") if j == 0 else None)
                if s["best"] is None:
                    ax.text(x, 1, "none", ha="center", va="bottom", rotation=90, fontsize=8)
        ax.set_xticks(range(len(THROUGHPUTS)), [f"{rt:,}" for rt in THROUGHPUTS])
        ax.set_xlabel("rT (images/s)")
        ax.set_title(f"rL = {rl:,} LUTs ({name})")
    axes[0].set_ylabel("test accuracy of the best design (%)")
    axes[0].legend(loc="lower left")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "experiments"))
    from _runs import parser

    args = parser(__doc__, ROOT / "runs" / "lu").parse_args(argv)
    scale = "quick" if args.quick else "full"
    base = args.out / scale

    def get(label: str, overrides: list[str]) -> dict | None:
        if args.report_only:
            done = base / label / "lu.json"
            return json.loads(done.read_text()) if done.is_file() else None
        return run_one(label, overrides, scale, args.out)

    fractions = scaling(args.out)
    arch = get("arch8", [*EIGHT_BITS, "search.constraints=[]"])
    runs = {}
    for _, rl, rt in cells():
        if arch and arch["best"]:
            fixed = json.dumps(arch["best"]["architecture"]).replace(" ", "")
            runs[("seq", rl, rt)] = get(f"seq-{rl}-{rt}",
                                        [f"space.architecture={fixed}", specs(rl, rt)])
        runs[("joint", rl, rt)] = get(f"joint-{rl}-{rt}", [specs(rl, rt)])
    runs = {k: v for k, v in runs.items() if v is not None}
    text = (f"Scale {scale!r}; campaign {CAMPAIGN.relative_to(ROOT)} with "
            f"{' '.join(SCALES[scale]) or 'no overrides'}, seed {SEED}.\n\n"
            + table(arch, runs, fractions))
    base.mkdir(parents=True, exist_ok=True)
    (base / "lu.md").write_text(text)
    if runs:
        plot(runs, ROOT / "plots" / f"lu_{scale}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
