"""The Dask executor's pool: failures isolated, worker deaths bounded; a bad scheduler is one
line. (The campaign on a LocalCluster, with killed workers and a killed client, is in
test_campaign.py, beside the process executor's reference run.)

The clusters listen on the loopback interface only, with the dashboard off."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

import _tasks
from _fakes import require_dask_extra

from evoapproxnas.cli import main
from evoapproxnas.search.execution.dask_cluster import DaskPool
from evoapproxnas.search.execution.pool import TaskFailure

TINY = Path(__file__).parents[1] / "tiny.toml"


@pytest.fixture(scope="module", autouse=True)
def dask_extra():
    require_dask_extra()


def test_pool_isolates_failures_and_bounds_worker_deaths():
    payloads = [("ok", 1), ("raise", 2), ("crash", 7), ("ok", 5), ("sleep", 30)]
    with DaskPool(2, _tasks.init, (100,), retries=1) as pool:
        results = pool.map(_tasks.work, payloads, timeout_s=3.0)
        assert results[0][0] == 101 and results[3][0] == 105
        assert isinstance(results[1], TaskFailure) and "ValueError: bad payload 2" in \
            results[1].reason
        for died in (results[2], results[4]):  # crashed / ran past its limit, on every try
            assert isinstance(died, TaskFailure) and "KilledWorker" in died.reason
        again = pool.map(_tasks.work, [("ok", 1)] * 4)  # restarted workers keep serving
        assert [r[0] for r in again] == [101] * 4


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["run", str(TINY), "--out", str(out), "--set", "executor.kind=dask",
                   "--set", "executor.scheduler='tcp://127.0.0.1:9'"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err
    assert "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'" in err
    assert not out.exists()


def test_resume_on_another_scheduler_is_checked_first(tmp_path, capsys):
    from evoapproxnas.config import load_config
    from evoapproxnas.search.study.rundir import RunDir

    dask_run = RunDir.create(tmp_path / "dask", load_config(TINY, ["executor.kind=dask"]),
                             (8, 8, 1), 3, str(TINY))
    status = main(["resume", str(dask_run.path), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "cannot reach the Dask scheduler" in err
    status = main(["resume", str(dask_run.path), "--scheduler", "somewhere"])
    assert status == 2 and "executor.scheduler = 'somewhere'" in capsys.readouterr().err
    assert not (dask_run.path / "archive.jsonl").exists()
    process_run = RunDir.create(tmp_path / "process", load_config(TINY), (8, 8, 1), 3, "x")
    status = main(["resume", str(process_run.path), "--scheduler", "local"])
    assert status == 2 and "process executor" in capsys.readouterr().err


def _worker_settings() -> dict:
    """What costs a training thread CPU in a Dask worker (see ``LOCAL_WORKER_SETTINGS``)."""
    import os

    import dask

    return {"trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "profile": dask.config.get("distributed.worker.profile.enabled"),
            "tick": dask.config.get("distributed.admin.tick.interval")}


def test_local_workers_run_without_the_settings_that_slowed_candidates():
    """A Dask candidate cost 1.12x a process-pool one (benchmarks/campaign.py
    --executor-ratio): the nanny's malloc trim threshold and a busy event loop. The workers
    of a local cluster, restarted ones too, run without them."""
    import os

    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    with DaskPool(1, _tasks.init, (100,), retries=1) as pool:
        pool.client.wait_for_workers(1, timeout=60)
        (seen,) = pool.client.run(_worker_settings).values()
        assert seen == {"trim": None, "profile": False, "tick": "1s"}
        pool.map(_tasks.work, [("crash", 1)])  # the worker dies and its nanny restarts it
        pool.client.wait_for_workers(1, timeout=60)
        (seen,) = pool.client.run(_worker_settings).values()
        assert seen == {"trim": None, "profile": False, "tick": "1s"}
        assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == before
