"""A tiny real campaign killed with SIGKILL mid-run and resumed equals an uninterrupted one,
bit for bit, under Eigen's and the production float kernels."""

import time

import pytest
from _fakes import kill_when

from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.worker import CRASH_RETRY_NOTE
from evoapproxnas.tf_env import default_onednn_setting

from ..conftest import FLOAT_KERNELS
from ._campaigns import TINY, cli, comparable, finish, kernel_env, trained_weights

pytestmark = [pytest.mark.slow, pytest.mark.tf]


@pytest.mark.parametrize("kernels", FLOAT_KERNELS)
def test_sigkill_mid_run_then_resume_equals_uninterrupted(kernels, request, tmp_path):
    env = kernel_env(kernels)
    reference = request.getfixturevalue({"eigen": "reference",
                                         "production": "production_reference"}[kernels])
    out = tmp_path / "run"
    proc = cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots", env=env)
    kill_when(proc, lambda: out.exists() and any(
        r.generation >= 1 for r in read_records(out / "archive.jsonl")))
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
