"""A campaign priced by the learned evaluator (``hardware.evaluator = "learned"``): its front
is re-priced by the analytical model at the end."""

import json
from pathlib import Path

import pytest
from _fakes import InstantWorkers

from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import estimate_network, layers_from_graph
from evoapproxnas.hardware.explore import ASIC_GRID
from evoapproxnas.hardware.learned.dataset import DatasetSettings
from evoapproxnas.hardware.learned.evaluator import write_folder
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.rundir import RunDir

TINY = Path(__file__).parent / "tiny.toml"
HW = ["search.objectives=['error','edap']", "hardware.model='asic'", "hardware.search=true",
      "search.hv_reference={error=1.0, edap=1e30}", "hardware.evaluator='learned'"]


def _evaluator(tmp_path) -> str:
    from hardware.learned.helpers import random_evaluator

    grid = {"dataflow": list(ASIC_GRID["dataflow"]),
            "array": [list(a) for a in ASIC_GRID["array"]], "glb_kib": list(ASIC_GRID["glb_kib"])}
    ev = random_evaluator(DatasetSettings(grid=grid), seed=3)
    return str(write_folder(tmp_path / "ev", ev.spec, ev.weights))


def test_learned_campaign_front_carries_the_analytical_figures(tmp_path):
    path = _evaluator(tmp_path)
    run = create_run(TINY, tmp_path / "run", [*HW, f"hardware.evaluator_path='{path}'"])
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    view = RunDir(run.path)
    problem, front = view.problem, view.front()
    assert front.members
    learned_seen = 0
    for member in front.members:
        r = member.record
        layers = layers_from_graph(problem.decode(r.genome), problem.choice)
        want = estimate_network(layers, "asic", search=True, search_metric="edap")
        for name in ("edap", "energy_pj", "latency_cycles", "area_um2", "fps"):
            assert r.metrics[name] == pytest.approx(want[name], rel=1e-12)
        assert r.objectives["edap"] == pytest.approx(want["edap"], rel=1e-12)
        learned = r.metrics["learned_hardware"]["edap"]
        archived = [a for a in view.records() if a.hash == r.hash][0]
        assert archived.metrics["edap"] == learned  # the search saw the learned figure
        learned_seen += learned != pytest.approx(want["edap"], rel=1e-6)
    assert learned_seen  # random weights: the learned figures are not the model's
    saved = json.loads((run.path / "front.json").read_text())
    assert "learned_hardware" in saved["front"][0]["metrics"]


def test_learned_evaluator_settings_are_checked(tmp_path):
    with pytest.raises(UserError, match="needs hardware.evaluator_path"):
        load_config(TINY, HW)
    with pytest.raises(UserError, match="must be one of analytical, learned"):
        load_config(TINY, [*HW[:-1], "hardware.evaluator='neural'"])
    with pytest.raises(UserError, match="does not exist"):
        create_run(TINY, tmp_path / "run", [*HW, f"hardware.evaluator_path='{tmp_path}/no'"])
    path = _evaluator(tmp_path)
    with pytest.raises(UserError, match="differs in .*tech"):
        create_run(TINY, tmp_path / "run2", [*HW, f"hardware.evaluator_path='{path}'",
                                             "hardware.preset='timeloop-eyeriss-like'"])
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()
