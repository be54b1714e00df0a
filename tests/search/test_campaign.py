"""Tiny real campaigns (synthetic data, seconds per candidate): every engine end to end, a
run killed with SIGKILL mid-run and resumed equals an uninterrupted one, a crashing
candidate is recorded and the campaign completes; report, plot and export on the result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoapproxnas.cli import main
from evoapproxnas.search.archive import read_records, without_timings
from evoapproxnas.search.checkpoint import load_checkpoint

TINY = Path(__file__).parent / "tiny.toml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def cli(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evoapproxnas", *map(str, argv)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return out


def comparable(run_dir: Path):
    records = sorted((without_timings(r) for r in read_records(run_dir / "archive.jsonl")),
                     key=lambda r: r["hash"])
    front = json.loads((run_dir / "front.json").read_text())
    return records, front["front"], [h["hypervolume"] for h in front["history"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted pymoo run of 3 generations."""
    out = tmp_path_factory.mktemp("ref") / "run"
    finish(cli("run", TINY, "--out", out, "--set", "search.generations=3", "--quiet",
               "--no-plots"))
    return out


def test_pymoo_campaign_end_to_end(reference):
    records = read_records(reference / "archive.jsonl")
    assert len({r["hash"] for r in records}) == len(records)  # each candidate trained once
    assert {r["generation"] for r in records} <= {0, 1, 2}
    state = load_checkpoint(reference)
    assert state["generation"] == 3 and len(state["history"]) == 3
    assert [len(h["population"]) for h in state["history"]] == [3, 3, 3]
    summary = json.loads((reference / "front.json").read_text())
    assert summary["front"], "no feasible candidate on the front"
    for member in summary["front"]:
        assert 0.0 <= member["test_accuracy"] <= 1.0
        # reloaded weights reproduce the accuracy measured during the search
        assert member["val_accuracy_reloaded"] == pytest.approx(member["val_accuracy"])
        rec = next(r for r in records if r["hash"] == member["hash"])
        assert rec["status"] == "ok" and rec["objectives"]["error"] == pytest.approx(
            1 - member["val_accuracy"])
    assert json.loads((reference / "run.json").read_text())["status"] == "finished"


def test_sigkill_mid_run_then_resume_equals_uninterrupted(reference, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", TINY, "--out", out, "--set", "search.generations=3", "--quiet",
               "--no-plots")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        records = read_records(out / "archive.jsonl") if out.exists() else []
        if any(r["generation"] >= 1 for r in records):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    time.sleep(0.5)  # orphaned workers notice the closed pipe and exit
    assert not (out / "front.json").exists()
    killed_at = len(read_records(out / "archive.jsonl"))
    finish(cli("resume", out, "--quiet", "--no-plots"))
    assert len(read_records(out / "archive.jsonl")) > killed_at
    assert comparable(out) == comparable(reference)


def test_crashing_candidates_are_recorded_and_deap_campaign_completes(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["run", str(TINY), "--out", str(out), "--set", "search.engine=deap",
                   "--set", "search.workers=1",
                   "--set", "debug.fail_fraction=0.5", "--quiet"])
    assert status == 0
    records = read_records(out / "archive.jsonl")
    failed = [r for r in records if r["status"] == "failed"]
    assert failed and len(failed) < len(records)
    for r in failed:
        assert "worker process died (exit code 3)" in r["reason"]
        assert r["objectives"]["error"] is None
    summary = json.loads((out / "front.json").read_text())
    assert summary["failed"] == len(failed)
    assert {m["hash"] for m in summary["front"]}.isdisjoint(r["hash"] for r in failed)
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
    from evoapproxnas.search.campaign import open_run
    from evoapproxnas.search.problem import CampaignProblem, load_data
    from evoapproxnas.search.worker import load_trained

    model = keras.models.load_model(exported)
    assert model.output_shape[-1] == 3
    cfg = open_run(out)
    data = load_data(cfg)
    member = summary["front"][0]
    trained = load_trained(CampaignProblem.build(cfg, data), out / "models", member["genome"],
                           member["hash"])
    x = data.x_val[:40]
    np.testing.assert_array_equal(model.predict(x, verbose=0), trained.predict(x, verbose=0))
    status = main(["export", str(out), "--member", "99", "--out", str(tmp_path / "x.keras")])
    assert status == 2 and "out of range" in capsys.readouterr().err


def test_random_search_campaign(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(TINY), "--out", str(out), "--set", "search.engine=random",
                 "--set", "search.workers=1",
                 "--quiet", "--no-plots"]) == 0
    records = read_records(out / "archive.jsonl")
    assert len(records) == 6 and len({r["hash"] for r in records}) == 6
