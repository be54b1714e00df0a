"""hardware.mode (fixed, inner, sequential, joint) end to end on the tiny campaign, and the
fast exploration: hardware specifications prune candidates before any training."""

import json
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cli import main
from evoapproxnas.config import load_config
from evoapproxnas.hardware import get_cost_model, layers_from_graph
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.engines import engine_names
from evoapproxnas.search.reporting import Reporter
from evoapproxnas.search.study.rundir import RunDir
from evoapproxnas.search.tasks import TestOutcome, TestTask, TrainOutcome

TINY = Path(__file__).parent / "tiny.toml"
FPGA = ["search.objectives=['error','fps']", "hardware.model='fpga'",
        "hardware.preset='zynq7015'", "hardware.search_metric='fps'",
        "search.hv_reference={error=1.0, fps=0}", "search.generations=3"]
SPEC = 200_000  # fps floor: prunes some of the tiny networks on some designs


class RecordingWorkers:
    """Trains in no time (accuracy from the hash) and remembers every hash it was sent."""

    def __init__(self) -> None:
        self.trained: list[str] = []

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        out = []
        for i, p in enumerate(payloads):
            acc = int(p.hash[:4], 16) / 0xFFFF
            if isinstance(p, TestTask):
                out.append(TestOutcome(test_accuracy=acc, val_accuracy=acc))
            else:
                self.trained.append(p.hash)
                out.append(TrainOutcome(status="ok", val_accuracy=acc, val_accuracy_exact=acc))
            if on_result:
                on_result(i, out[-1])
        return out

    def close(self) -> None:
        pass


class Lines(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def note(self, text: str) -> None:
        self.lines.append(text)

    def progress(self, total, label, unit="net"):
        return None


def _campaign(tmp_path, mode, *extra, engine="pymoo"):
    run = create_run(TINY, tmp_path / f"{mode}-{engine}",
                     [*FPGA, f"hardware.mode='{mode}'", f"search.engine='{engine}'",
                      f"search.constraints=['fps >= {SPEC}']", *extra])
    pool, lines = RecordingWorkers(), Lines()
    front = run_campaign(run.path, reporter=lines, evaluate_test=False, pool=pool)
    return RunDir(run.path), front, pool, lines


def _check_pruning(run, pool, lines):
    """Infeasible records (the pruned) never reach a worker; the reason names the spec; the
    per-generation line and the history count them."""
    records = run.records()
    pruned = [r for r in records if r.status == "infeasible"]
    assert pruned, "the spec prunes nothing: the test proves nothing"
    assert not {r.hash for r in pruned} & set(pool.trained)
    assert all(r.reason.startswith("pruned before training: violates ") for r in pruned)
    assert all(f"fps >= {SPEC}" in r.reason or "fits >= 1" in r.reason for r in pruned)
    assert all(r.metrics["fps"] < SPEC or r.metrics.get("fits") == 0 for r in pruned)
    trained = [r for r in records if r.status == "ok"]
    assert {r.hash for r in trained} == set(pool.trained)
    assert all(r.metrics["fps"] >= SPEC for r in trained)
    history = run.history()
    for entry in history:
        assert entry.pruned == sum(r.generation == entry.generation for r in pruned)
    gen_lines = [x for x in lines.lines if x.startswith("gen ")]
    assert [f"{h.pruned} pruned before training" in x for h, x in zip(history, gen_lines)] \
        == [True] * len(history)


@pytest.mark.parametrize("mode", ["fixed", "inner"])
def test_fixed_and_inner_modes_prune_by_the_spec_and_record_the_design(tmp_path, mode):
    run, front, pool, lines = _campaign(tmp_path, mode)
    _check_pruning(run, pool, lines)
    for member in front.members:
        design = member.record.metrics["hardware_design"]
        assert design.startswith("fpga xc7z015 x1: tm=16 tn=8" if mode == "fixed"
                                 else "fpga ")
        if mode == "fixed":
            layers = layers_from_graph(run.network(member), run.problem.choice)
            assert member.record.metrics["fps"] == pytest.approx(
                get_cost_model("fpga", "zynq7015").estimate(layers)["fps"])


def test_search_true_is_the_inner_mode():
    cfg = load_config(TINY, [*FPGA, "hardware.search=true"])
    assert cfg.hardware.mode == "inner"
    again = load_config(TINY, [*FPGA, "hardware.mode='inner'"])
    assert again.hardware.search and again.hardware == cfg.hardware


def test_sequential_mode_reprices_the_front_on_the_best_design(tmp_path, capsys):
    run, front, pool, lines = _campaign(tmp_path, "sequential", "hardware.max_fpgas=2")
    _check_pruning(run, pool, lines)
    archived = {r.hash: r for r in run.records()}
    assert front.members
    for member in front.members:
        m, searched = member.record.metrics, archived[member.record.hash].metrics
        assert searched["hardware_design"].endswith("(preset zynq7015)")  # the fixed design
        assert m["fixed_design"]["fps"] == searched["fps"]
        assert m["fps"] >= searched["fps"]  # the preset's design is one of the space's
        layers = layers_from_graph(run.network(member), run.problem.choice)
        best = run.config.hardware.design_space.optimize(layers, "fps",
                                                         run.config.parsed_constraints)
        assert m["fps"] == best["fps"] and m["hardware_design"] == best["hardware_design"]
        assert member.record.objectives["fps"] == m["fps"]
    assert any("re-priced" in x for x in lines.lines)
    assert main(["report", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert f"hardware: {front.members[0].record.metrics['hardware_design']}" in out


@pytest.mark.parametrize("engine", [e for e in ("pymoo", "deap", "random", "reinforce")
                                    if e in engine_names()])
def test_joint_mode_searches_hardware_genes_with_every_engine(tmp_path, engine, capsys):
    run, front, pool, lines = _campaign(tmp_path, "joint", "hardware.max_fpgas=2",
                                        engine=engine)
    _check_pruning(run, pool, lines)
    problem = run.problem
    space = problem.space
    records = run.records()
    assert all(len(r.genome) == space.n_var > space.n_network for r in records)
    designs = {r.metrics["hardware_design"] for r in records if "hardware_design" in r.metrics}
    assert len(designs) > 1  # the hardware genes vary
    for r in records[:8]:  # each record's metrics are its genes' design, priced anew
        network, hardware = space.split(r.genome)
        layers = layers_from_graph(space.inner.decode(network), problem.choice)
        want = run.config.hardware.design_space.evaluate(layers, hardware)
        assert r.metrics["fps"] == pytest.approx(want["fps"])
        assert r.metrics["hardware_design"] == want["hardware_design"]
    assert main(["hw", "estimate", "--run", str(run.path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["networks"]
    for member in front.members:
        got = shown[member.record.hash]
        assert got["hardware_design"] == member.record.metrics["hardware_design"]
        assert got["fps"] == pytest.approx(member.record.metrics["fps"])


@pytest.mark.parametrize("kind", ["cgp", "layers"])
def test_joint_space_speaks_decisions_and_compose(kind):
    from evoapproxnas.search.problem import CampaignProblem

    cfg = load_config(TINY, [*FPGA, "hardware.mode='joint'", "hardware.max_fpgas=2",
                             f"space.kind='{kind}'"])
    problem = CampaignProblem.build(cfg, (8, 8, 1), 3)
    space = problem.space
    assert type(space.inner).kind == kind
    decisions = space.decisions()
    assert len(decisions) == space.n_var
    assert [d.name for d in decisions[-10:]][:2] == ["hw.fpgas", "hw.tm0"]
    rng = np.random.default_rng(3)
    options = [int(rng.integers(d.n_options)) for d in decisions]
    x = space.compose(options)
    assert space.validate(x).tolist() == x.tolist()
    assert x[space.n_network:].tolist() == options[space.n_network:]
    with pytest.raises(ValueError, match="hardware gene"):
        space.validate(np.concatenate([x[:-1], [99]]))
    # the network part decodes as the inner space's; the hardware part prices the design
    assert problem.decode(x).number_of_nodes() == space.inner.decode(
        x[: space.n_network]).number_of_nodes()
    design = problem.price(x)["hardware_design"]
    assert design == run_design(problem, x)


def run_design(problem, x):
    layers = layers_from_graph(problem.space.inner.decode(x[: problem.space.n_network]),
                               problem.choice)
    return problem.cfg.hardware.design_space.evaluate(
        layers, x[problem.space.n_network:])["hardware_design"]


@pytest.mark.parametrize("override, needle", [
    ("hardware.mode='jiont'", "hardware.mode = 'jiont' is not allowed; use one of fixed, "
                              "inner, sequential, joint"),
    ("hardware.max_fpgas=0", "hardware.max_fpgas = 0 is not allowed"),
    ("search.constraints=['fps >> 30']", "cannot read 'fps >> 30'"),
    ("search.constraints=['fsp >= 30']", "unknown metric 'fsp'"),
])
def test_bad_mode_and_spec_values_are_one_line_exit_2(tmp_path, capsys, override, needle):
    out = tmp_path / "run"
    code = main(["run", str(TINY), "--out", str(out), "--quiet", "--set", override,
                 *(x for item in FPGA for x in ("--set", item))])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1
    assert not out.exists()


def test_modes_that_price_designs_need_a_hardware_metric(tmp_path, capsys):
    code = main(["run", str(TINY), "--out", str(tmp_path / "r"), "--set",
                 "hardware.model='fpga'", "--set", "hardware.mode='joint'"])
    err = capsys.readouterr().err
    assert code == 2 and "name a hardware metric" in err and err.count("\n") == 1
    code = main(["run", str(TINY), "--out", str(tmp_path / "r"), "--set",
                 "hardware.mode='sequential'"])
    err = capsys.readouterr().err
    assert code == 2 and "needs a cost model" in err and err.count("\n") == 1
