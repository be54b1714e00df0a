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
from _fakes import InstantWorkers, require_dask_extra

from evoapproxnas.cli import main
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.study.checkpoint import load_checkpoint
from evoapproxnas.search.study.rundir import RunDir
from evoapproxnas.search.worker import CRASH_RETRY_NOTE
from evoapproxnas.tf_env import default_onednn_setting

from ..conftest import FLOAT_KERNELS, float_kernel_env

pytestmark = [pytest.mark.slow, pytest.mark.tf]

TINY = Path(__file__).parent / "tiny.toml"


def kernel_env(kernels: str) -> dict[str, str]:
    """The environment of a campaign whose TensorFlow processes run ``kernels``' float
    kernels (tests/conftest.py)."""
    return {**float_kernel_env(kernels), "TF_CPP_MIN_LOG_LEVEL": "3"}


ENV = kernel_env("eigen")  # the campaigns' default here, whatever the suite's process has


def cli(*argv, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evoapproxnas", *map(str, argv)],
                            env=ENV if env is None else env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return out


def comparable(run_dir: Path):
    records = sorted((r.without_timings() for r in read_records(run_dir / "archive.jsonl")),
                     key=lambda r: r["hash"])
    front = json.loads((run_dir / "front.json").read_text())
    members = [{k: v for k, v in m.items() if k != "timings"} for m in front["front"]]
    return records, members, [h["hypervolume"] for h in front["history"]]


def trained_weights(run_dir: Path) -> dict[str, dict[str, str]]:
    """A digest of every saved array of every trained candidate: two runs that agree on
    accuracies (a few dozen validation images) can still differ in the last bits of every
    weight, as Eigen's and oneDNN's kernels do."""
    import hashlib

    import numpy as np

    digests = {}
    for path in sorted((run_dir / "models").glob("*.weights.npz")):
        with np.load(path) as arrays:
            digests[path.name] = {k: f"{arrays[k].dtype}{arrays[k].shape}"
                                     f"{hashlib.sha256(arrays[k].tobytes()).hexdigest()}"
                                  for k in arrays.files}
    return digests


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted pymoo run of 2 generations."""
    out = tmp_path_factory.mktemp("ref") / "run"
    finish(cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots"))
    return out


@pytest.fixture(scope="module")
def production_reference(tmp_path_factory) -> Path:
    """The same run under the float kernels a user's run gets on this CPU (oneDNN's with
    AVX-512; the tests asking for it skip where those are Eigen's)."""
    out = tmp_path_factory.mktemp("ref-production") / "run"
    finish(cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots", env=kernel_env("production")))
    return out


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


@pytest.mark.parametrize("kernels", FLOAT_KERNELS)
def test_sigkill_mid_run_then_resume_equals_uninterrupted(kernels, request, tmp_path):
    env = kernel_env(kernels)
    reference = request.getfixturevalue({"eigen": "reference",
                                         "production": "production_reference"}[kernels])
    out = tmp_path / "run"
    proc = cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots", env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        records = read_records(out / "archive.jsonl") if out.exists() else []
        if any(r.generation >= 1 for r in records):
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    time.sleep(0.5)  # orphaned workers notice the closed pipe and exit
    assert not (out / "front.json").exists()
    killed_at = len(read_records(out / "archive.jsonl"))
    finish(cli("resume", out, "--quiet", "--no-plots", env=env))
    assert len(read_records(out / "archive.jsonl")) > killed_at
    assert comparable(out) == comparable(reference)
    weights = trained_weights(reference)
    trained = [r for r in read_records(reference / "archive.jsonl") if r.status == "ok"]
    assert weights and len(weights) == len(trained)
    assert trained_weights(out) == weights  # bit for bit, not just the same accuracies
    # every candidate trained under the kernels asked for: a worker that crashes is replaced
    # by one on Eigen's kernels, and its record says so; and oneDNN's kernels leave other
    # last bits in the weights than Eigen's
    assert not [r.hash for r in trained if r.reason == CRASH_RETRY_NOTE]
    if kernels == "production" and default_onednn_setting() == "1":
        assert weights != trained_weights(request.getfixturevalue("reference")), (
            "the same weights as with Eigen's kernels: the workers did not run oneDNN's")


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


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


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


def test_dask_with_killed_workers_and_client_then_resume_equals_the_process_run(reference,
                                                                             tmp_path):
    require_dask_extra()
    out = tmp_path / "dask"
    settings = ["--set", "executor.kind=dask", "--set", "debug.die_once_fraction=0.3",
                "--set", "search.generations=2"]
    proc = cli("run", TINY, "--out", out, *settings, "--quiet", "--no-plots")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        records = read_records(out / "archive.jsonl") if out.exists() else []
        if any(r.generation >= 1 for r in records) or len(records) >= 4:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGKILL)  # the client; its LocalCluster's processes follow
    proc.communicate()
    assert not (out / "front.json").exists()
    finish(cli("resume", out, "--quiet", "--no-plots"))
    records = read_records(out / "archive.jsonl")
    assert len(records) == len({r.hash for r in records})  # each candidate archived once
    died = list((out / "models").glob(".died-*"))
    assert died, "no worker was killed: the test proves nothing"
    assert all(r.status == "ok" for r in records if f".died-{r.hash}" in {p.name for p in died})
    assert comparable(out) == comparable(reference)
    assert trained_weights(out) == trained_weights(reference)  # bit for bit
