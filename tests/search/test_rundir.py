"""The run directory: one writer at a time (a lock a killed process does not leave stale),
members rebuilt from config and shape alone."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoapproxnas.cli import main
from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.search.rundir import LOCK_FILE, RunDir

TINY = Path(__file__).parent / "tiny.toml"

HOLDER = """
import sys, time
from evoapproxnas.search.rundir import RunDir
with RunDir(sys.argv[1]).writer():
    print("locked", flush=True)
    time.sleep(600)
"""


def new_run(tmp_path) -> RunDir:
    return RunDir.create(tmp_path / "run", load_config(TINY), (8, 8, 1), 3, str(TINY))


def hold(run: RunDir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run.path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_and_a_killed_writer_leaves_no_stale_lock(tmp_path, capsys):
    run = new_run(tmp_path)
    holder = hold(run)
    before = {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()}
    try:
        status = main(["resume", str(run.path), "--quiet", "--no-plots"])
        err = capsys.readouterr().err.strip()
        assert status == 2 and "\n" not in err
        assert f"is being written by another process (pid {holder.pid})" in err
        status = main(["run", str(TINY), "--out", str(run.path), "--overwrite", "--quiet"])
        assert status == 2 and "being written by another process" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()} == before
        assert not (run.path / "archive.jsonl").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run.writer():  # the kernel released the dead holder's lock
        assert (run.path / LOCK_FILE).read_text().strip() == str(os.getpid())
    with run.writer():  # and leaving the block released ours
        pass


def test_lock_is_not_inherited_by_child_processes(tmp_path):
    run = new_run(tmp_path)
    with run.writer():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        time.sleep(0.1)
        with run.writer():  # the parent let go; the running child holds nothing
            pass
    finally:
        child.kill()
        child.wait()


def test_open_checks_the_directory(tmp_path):
    with pytest.raises(UserError, match="is not a run directory"):
        RunDir(tmp_path)
    run = new_run(tmp_path)
    (run.path / "run.json").write_text('{"format": "someone-else-1"}')
    with pytest.raises(UserError, match="unknown run format"):
        RunDir(run.path)


def test_run_json_records_the_versions_that_decide_results(tmp_path):
    import json

    import numpy as np

    import evoapproxnas

    run = new_run(tmp_path)
    versions = json.loads((run.path / "run.json").read_text())["versions"]
    assert versions["numpy"] == np.__version__
    assert versions["evoapproxnas"] == evoapproxnas.__version__
    import tensorflow as tf  # installed as tensorflow-cpu by scripts/setup.sh

    assert versions["tensorflow"] == tf.__version__
    assert run.version_changes() == []
    versions["numpy"], versions["pymoo"] = "0.0.1", None
    (run.path / "run.json").write_text(json.dumps({**run.meta, "versions": versions}))
    import pymoo

    assert run.version_changes() == [f"numpy 0.0.1 -> {np.__version__}",
                                     f"pymoo None -> {pymoo.__version__}"]
    (run.path / "run.json").write_text(json.dumps({"format": run.meta["format"],
                                                   "status": "running"}))
    assert run.version_changes() == []  # a run from before the record: nothing to compare


def test_member_network_needs_no_dataset(tmp_path):
    import numpy as np

    from evoapproxnas.search.records import EvaluationRecord

    run = RunDir.create(tmp_path / "run", load_config(TINY, ["data.name=fashion_mnist",
                                                             "data.dir='/nonexistent'"]),
                        (28, 28, 1), 10, "test")
    genome = run.problem.space.sample(np.random.default_rng(0))
    record = EvaluationRecord(hash="h", generation=0, index=0, genome=genome.tolist(),
                              status="ok", reason=None, violation=0.0, metrics={}, seed=0)
    graph = run.network(record)  # the dataset folder does not exist: only shape.json is read
    assert run.problem.input_shape == (28, 28, 1) and run.problem.n_classes == 10
    assert graph.number_of_nodes() > 0
    with pytest.raises(UserError, match="weights of candidate h were not saved"):
        run.load_model(record)
