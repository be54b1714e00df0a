"""A tiny real campaign on Dask whose workers and client are killed resumes to the process
pool's run, bit for bit."""


import pytest
from _fakes import kill_when, require_dask_extra

from evoapproxnas.search.study.archive import read_records

from ._campaigns import TINY, cli, comparable, finish, trained_weights

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def test_dask_with_killed_workers_and_client_then_resume_equals_the_process_run(reference,
                                                                             tmp_path):
    require_dask_extra()
    out = tmp_path / "dask"
    settings = ["--set", "executor.kind=dask", "--set", "debug.die_once_fraction=0.3",
                "--set", "search.generations=2"]
    proc = cli("run", TINY, "--out", out, *settings, "--quiet", "--no-plots")

    def ready() -> bool:
        records = read_records(out / "archive.jsonl") if out.exists() else []
        return any(r.generation >= 1 for r in records) or len(records) >= 4

    kill_when(proc, ready)  # the client; its LocalCluster's processes follow
    assert not (out / "front.json").exists()
    finish(cli("resume", out, "--quiet", "--no-plots"))
    records = read_records(out / "archive.jsonl")
    assert len(records) == len({r.hash for r in records})  # each candidate archived once
    died = list((out / "models").glob(".died-*"))
    assert died, "no worker was killed: the test proves nothing"
    assert all(r.status == "ok" for r in records if f".died-{r.hash}" in {p.name for p in died})
    assert comparable(out) == comparable(reference)
    assert trained_weights(out) == trained_weights(reference)  # bit for bit
