"""Tiny real campaigns (synthetic data, seconds per candidate): every engine end to end, a
crashing candidate is recorded and the campaign completes, lost checkpoints replay the
archive, viewers never unpickle; report, plot and export on the result (the SIGKILL and
Dask kill tests are in test_campaign_kill.py and test_campaign_dask.py)."""

import json
import os
from pathlib import Path

import pytest
from _fakes import InstantWorkers

from evoapproxnas.cli import main
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.study.checkpoint import load_checkpoint
from evoapproxnas.search.study.rundir import RunDir

from ._campaigns import TINY, cli, comparable, copy_run

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def test_pymoo_campaign_end_to_end(reference):
    records = read_records(reference / "archive.jsonl")
    assert len({r.hash for r in records}) == len(records)  # each candidate trained once
    assert {r.generation for r in records} == {0, 1}
    state = load_checkpoint(reference)
    assert state.generation == 2 and len(state.history) == 2
    history = RunDir(reference).history()
    assert [len(h.population) for h in history] == [3, 3]
    assert history == state.history
    summary = json.loads((reference / "front.json").read_text())
    assert summary["front"], "no feasible candidate on the front"
    for member in summary["front"]:
        assert 0.0 <= member["test_accuracy"] <= 1.0
        # reloaded weights reproduce the accuracy measured during the search
        assert member["val_accuracy_reloaded"] == pytest.approx(member["metrics"]["val_accuracy"])
        rec = next(r for r in records if r.hash == member["hash"])
        assert rec.status == "ok" and rec.objectives["error"] == pytest.approx(
            1 - member["metrics"]["val_accuracy"])
    assert json.loads((reference / "run.json").read_text())["status"] == "finished"


def test_crashing_candidates_are_recorded_and_deap_campaign_completes(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["run", str(TINY), "--out", str(out), "--set", "search.engine=deap",
                   "--set", "executor.workers=1",
                   "--set", "debug.fail_fraction=0.5", "--quiet"])
    assert status == 0
    records = read_records(out / "archive.jsonl")
    failed = [r for r in records if r.status == "failed"]
    assert failed and len(failed) < len(records)
    for r in failed:
        assert "worker process died (exit code 3)" in r.reason
        assert r.objectives["error"] is None
    summary = json.loads((out / "front.json").read_text())
    assert summary["failed"] == len(failed)
    assert {m["hash"] for m in summary["front"]}.isdisjoint(r.hash for r in failed)
    # plots were written at the end of the run
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["front_params.png", "front_power.png", "hypervolume.png", "member_0.png"]
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summary
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Pareto front" in text and summary["front"][0]["hash"] in text
    exported = tmp_path / "best.keras"
    assert main(["export", str(out), "--member", "0", "--out", str(exported)]) == 0
    import keras
    import numpy as np

    import evoapproxnas.approx  # noqa: F401  (registers the approximate layers)
    from evoapproxnas.search.problem import CampaignProblem, load_data
    from evoapproxnas.search.study.rundir import load_trained

    model = keras.models.load_model(exported)
    assert model.output_shape[-1] == 3
    run = RunDir(out)
    data = load_data(run.config)
    member = summary["front"][0]
    problem = CampaignProblem.build(run.config, data.input_shape, data.n_classes)
    trained = load_trained(problem, run.weights_path(member["hash"]), member["genome"])
    x = data.x_val[:40]
    np.testing.assert_array_equal(model.predict(x, verbose=0), trained.predict(x, verbose=0))
    status = main(["export", str(out), "--member", "99", "--out", str(tmp_path / "x.keras")])
    assert status == 2 and "out of range" in capsys.readouterr().err


def test_random_search_campaign(tmp_path):
    from evoapproxnas.search.campaign import create_run, run_campaign

    run = create_run(TINY, tmp_path / "run", ["search.engine=random", "search.generations=3"])
    front = run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                         pool=InstantWorkers())
    records = read_records(run.path / "archive.jsonl")
    assert len(records) == 9 and len({r.hash for r in records}) == 9  # never asked twice
    assert [len(h.population) for h in run.history()] == [3, 3, 3]
    assert front.members and all(m.test_reason for m in front.members)


def test_resume_with_other_package_versions_says_so(tmp_path, capsys):
    import numpy as np

    from evoapproxnas.search.campaign import create_run, run_campaign

    run = create_run(TINY, tmp_path / "run", ["search.engine=random", "search.generations=1"])
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    assert "other package versions" not in capsys.readouterr().err
    meta = json.loads((run.path / "run.json").read_text())
    meta["versions"]["numpy"] = "0.0.1"
    (run.path / "run.json").write_text(json.dumps(meta))
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    assert f"numpy 0.0.1 -> {np.__version__}" in capsys.readouterr().err


def test_stop_after_s_ends_the_run_with_the_generations_done(tmp_path):
    from evoapproxnas.search.campaign import create_run, run_campaign

    run = create_run(TINY, tmp_path / "run", ["search.engine=random", "search.generations=50"])
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers(),
                 stop_after_s=0.0)
    assert run.history() == [] and json.loads((run.path / "run.json").read_text())[
        "status"] == "finished"
    again = create_run(TINY, tmp_path / "again", ["search.engine=random",
                                                  "search.generations=100000"])
    run_campaign(again.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers(),
                 stop_after_s=0.5)
    assert 1 <= len(again.history()) < 100000


def test_lost_checkpoints_are_one_line_and_resume_replays_the_archive(reference, tmp_path):
    out = copy_run(reference, tmp_path / "run")
    data = (out / "checkpoint.pkl").read_bytes()
    (out / "checkpoint.pkl").write_bytes(data[: len(data) // 3])  # torn by a crash
    (out / "checkpoint.prev.pkl").write_bytes(b"\x80\x04garbage")
    (out / "front.json").unlink()
    archived = len(read_records(out / "archive.jsonl"))
    proc = cli("resume", out, "--no-plots")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "unreadable" in line]
    assert len(lines) == 1 and "replaying" in lines[0]
    assert len(read_records(out / "archive.jsonl")) == archived  # nothing trained again
    assert comparable(out) == comparable(reference)


class _Trap:
    """Unpickling this runs a shell command that leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_viewing_a_run_never_unpickles_its_checkpoint(reference, tmp_path, capsys):
    import pickle

    out = copy_run(reference, tmp_path / "run")
    marker = tmp_path / "PWNED"
    trap = pickle.dumps({"format": "evoapproxnas-checkpoint-1", "engine": _Trap(marker)})
    for name in ("checkpoint.pkl", "checkpoint.prev.pkl"):
        (out / name).write_bytes(trap)
    for finished in (True, False):
        if not finished:
            (out / "front.json").unlink()  # an unfinished run: the front comes from the archive
        assert main(["report", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["front"]
        assert main(["plot", str(out)]) == 0
        exported = tmp_path / f"m{finished}.keras"
        assert main(["export", str(out), "--member", "0", "--out", str(exported)]) == 0
        assert main(["hw", "estimate", "--run", str(out), "--json"]) == 0
        capsys.readouterr()
        assert not marker.exists()
    pickle.loads(trap)  # the trap is real: unpickling it does leave the file
    assert marker.exists()
