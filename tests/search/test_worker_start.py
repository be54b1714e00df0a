"""A worker that cannot start is the campaign's error, not its candidates' failure: the pools
raise ``WorkerStartError``; the main process checks what workers need before anything is
archived; either way the run stops with one line (exit 2), archives nothing as failed for it,
and a resume after the fix ends as an uninterrupted run. Training is the stand-in pool of
``policies/test_termination.py`` (no TensorFlow); the real pools only ever fail to start here."""

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "policies"))

import _tasks
from test_termination import TINY, FakeTime, SlowWorkers, archived

from evoapproxnas.cli import main
from evoapproxnas.data import synthetic_arrays
from evoapproxnas.errors import UserError
from evoapproxnas.search import campaign
from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.execution.pool import WorkerPool, WorkerStartError
from evoapproxnas.search.reporting import SilentReporter
from evoapproxnas.search.worker import init_worker

SECONDS = 10.0


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def dataset(tmp_path) -> Path:
    """tiny.toml's synthetic images as Fashion-MNIST IDX files: a dataset folder that can
    go missing."""
    folder = tmp_path / "fmnist"
    folder.mkdir()
    (x, y), (xt, yt) = synthetic_arrays(n_train=240, n_test=120, image_size=8, n_classes=3)
    for stem, array in (("train-images-idx3-ubyte", np.rint(x[..., 0] * 255)),
                        ("train-labels-idx1-ubyte", y), ("t10k-images-idx3-ubyte",
                                                         np.rint(xt[..., 0] * 255)),
                        ("t10k-labels-idx1-ubyte", yt)):
        write_idx(folder / stem, array)
    return folder


def overrides(dataset: Path, *more: str) -> list[str]:
    return ["data.name='fashion_mnist'", f"data.dir='{dataset}'", *more]


class Killed(Exception):
    """The main process dies (as a SIGKILL would end it)."""


class StopsAfter(SlowWorkers):
    """Trains ``k`` candidates, then raises ``error`` (a kill, or a worker that could not
    start, as a pool whose worker restarts raises it)."""

    def __init__(self, k: int, error: Exception) -> None:
        super().__init__(FakeTime(), SECONDS)
        self.k, self.error = k, error

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        def done(index, result):
            if on_result:
                on_result(index, result)
            if self.done >= self.k:
                raise self.error

        return super().map(fn, payloads, timeout_s, done)


def finish_with_stand_in(run_path: Path) -> None:
    run_campaign(run_path, reporter=SilentReporter(), evaluate_test=False,
                 pool=SlowWorkers(FakeTime(), SECONDS))


def outcome(run_path: Path) -> dict:
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(run_path)
    return {"archive": archived(run), "history": run.history(),
            "front": [m.record.hash for m in run.front().members]}


def files(root: Path) -> dict:
    """Every file of a run directory and its bytes (the writer lock's content aside)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "writer.lock"}


def failed(run_path: Path) -> list:
    return [r for r in archived_records(run_path) if r.status == "failed"]


def archived_records(run_path: Path) -> list:
    from evoapproxnas.search.study.archive import read_records

    return read_records(run_path / "archive.jsonl")


def kept(run_path: Path) -> int:
    """Candidates whose training is kept: archived, or waiting in the journal for an earlier
    one of their batch."""
    from evoapproxnas.search.study.archive import read_records

    return len(archived_records(run_path)) + len(read_records(run_path / "trained.jsonl"))


@pytest.fixture
def reference(tmp_path, dataset) -> dict:
    run = create_run(TINY, tmp_path / "reference", overrides(dataset))
    finish_with_stand_in(run.path)
    return outcome(run.path)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("evoapproxnas: error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


# ---- the pools ------------------------------------------------------------------------------


def test_the_process_pool_raises_worker_start_error_not_task_failures(tmp_path):
    seen = []
    with WorkerPool(2, init_worker, (str(tmp_path / "nowhere"), 1)) as pool:
        with pytest.raises(WorkerStartError) as info:
            pool.map(_tasks.work, [("ok", 1)] * 3, timeout_s=60,
                     on_result=lambda i, r: seen.append(i))
        # the worker's own one-line reason: it does not see the run directory
        assert "nowhere is not a run directory" in info.value.reason
        assert "\n" not in info.value.reason and seen == []
        with pytest.raises(WorkerStartError):  # fresh workers try again (and fail again)
            pool.map(_tasks.work, [("ok", 1)], timeout_s=60)
    with WorkerPool(1, _tasks.work, (None, ("raise", 5))) as pool:  # any exception
        with pytest.raises(WorkerStartError, match="ValueError: bad payload 5"):
            pool.map(_tasks.work, [("ok", 1)], timeout_s=60)


def test_the_dask_pool_raises_worker_start_error(tmp_path):
    pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    from evoapproxnas.search.execution.dask_cluster import DaskPool

    with DaskPool(1, init_worker, (str(tmp_path / "nowhere"), 1)) as pool:
        for _ in range(2):  # a failed start is not cached: each task tries again
            with pytest.raises(WorkerStartError, match="nowhere is not a run directory"):
                pool.map(_tasks.work, [("ok", 1), ("ok", 2)], timeout_s=60)
        assert pool.in_flight == 0


# ---- the campaign ---------------------------------------------------------------------------


def test_a_dataset_gone_before_resume_is_one_line_and_changes_nothing(
        tmp_path, dataset, reference, capsys, monkeypatch):
    run = create_run(TINY, tmp_path / "run", overrides(dataset))
    with pytest.raises(Killed):  # inside the second generation
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=StopsAfter(4, Killed()))
    hidden = dataset.rename(dataset.with_name("elsewhere"))
    before = files(run.path)

    def no_worker(*args):
        raise AssertionError("a worker was started before the dataset was checked")

    monkeypatch.setattr(campaign, "make_pool", no_worker)
    assert main(["resume", str(run.path), "--quiet", "--no-plots"]) == 2
    err = one_line_error(capsys)
    assert "the workers cannot load the dataset" in err and "Fashion-MNIST not found" in err
    assert files(run.path) == before and not failed(run.path)
    hidden.rename(dataset)
    finish_with_stand_in(run.path)
    assert outcome(run.path) == reference


def test_a_run_directory_without_its_models_folder_is_one_line(tmp_path, capsys):
    run = create_run(TINY, tmp_path / "run", [])
    run.models_dir.rename(tmp_path / "models")
    before = files(run.path)
    assert main(["resume", str(run.path), "--quiet", "--no-plots"]) == 2
    err = one_line_error(capsys)
    assert f"{run.models_dir} is missing or not writable" in err
    assert files(run.path) == before and not (run.path / "models").exists()


def test_a_worker_that_cannot_start_stops_the_run_and_resume_ends_as_uninterrupted(
        tmp_path, dataset, reference, capsys, monkeypatch):
    run = create_run(TINY, tmp_path / "run", overrides(dataset))
    with pytest.raises(Killed):
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=StopsAfter(4, Killed()))
    kept_before = kept(run.path)
    # the main process sees the dataset, its workers do not (a folder not shared with them)
    hidden = dataset.rename(dataset.with_name("elsewhere"))
    before = files(run.path)
    with monkeypatch.context() as patch:
        patch.setattr(campaign, "check_worker_needs", lambda run, cfg: None)
        assert main(["resume", str(run.path), "--quiet", "--no-plots"]) == 2
    err = one_line_error(capsys)
    assert f"a worker of {run.path} could not start: Fashion-MNIST not found" in err
    assert f"evoapproxnas resume {run.path}" in err
    assert files(run.path) == before and kept(run.path) == kept_before
    assert json.loads((run.path / "run.json").read_text())["status"] == "running"
    hidden.rename(dataset)
    # a worker that fails to start in the middle of a batch (a restarted Dask worker):
    # the candidates done before are kept, none is failed for it
    start_error = WorkerStartError("cannot read /shared/run: Stale file handle")
    with pytest.raises(UserError, match="could not start: cannot read /shared/run"):
        run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=StopsAfter(1, start_error))
    assert kept(run.path) > kept_before and not failed(run.path)
    assert not (run.path / "front.json").exists()
    finish_with_stand_in(run.path)
    assert outcome(run.path) == reference


def test_a_dask_worker_that_cannot_start_stops_the_run(tmp_path, dataset, capsys, monkeypatch):
    pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    run = create_run(TINY, tmp_path / "run", overrides(dataset, "executor.kind='dask'",
                                                        "executor.workers=1"))
    shutil.rmtree(dataset)
    monkeypatch.setattr(campaign, "check_worker_needs", lambda run, cfg: None)
    assert main(["resume", str(run.path), "--quiet", "--no-plots"]) == 2
    err = one_line_error(capsys)
    assert "could not start: Fashion-MNIST not found" in err
    assert not archived_records(run.path) and not (run.path / "checkpoint.pkl").exists()
