"""The run directory: one writer at a time (a lock a killed process does not leave stale),
members rebuilt from config and shape alone.

The lock is a POSIX record lock, which a process can always take again itself: every check
of it here is made from another live process (``hold``, ``probe``)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evoapproxnas.cli import main
from evoapproxnas.config import load_config
from evoapproxnas.errors import UserError
from evoapproxnas.search.study.rundir import RunDir

TINY = Path(__file__).parents[1] / "tiny.toml"

# Takes the lock and holds it until a line arrives on stdin, then lets go and stays alive,
# not holding it, until a second line (or end of input: the test process is gone).
HOLDER = """
import sys
from evoapproxnas.search.study.rundir import RunDir
with RunDir(sys.argv[1]).writer():
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
sys.stdin.readline()
"""

# Tries to take the lock once: "locked", or "refused: " and the error's message.
PROBE = """
import sys
from evoapproxnas.errors import UserError
from evoapproxnas.search.study.rundir import RunDir
try:
    with RunDir(sys.argv[1]).writer():
        print("locked")
except UserError as exc:
    print(f"refused: {exc}")
"""


def new_run(tmp_path) -> RunDir:
    return RunDir.create(tmp_path / "run", load_config(TINY), (8, 8, 1), 3, str(TINY))


def hold(run: RunDir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run.path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def probe(run: RunDir) -> str:
    """What another process gets when it tries to take the lock now."""
    return subprocess.run([sys.executable, "-c", PROBE, str(run.path)], capture_output=True,
                          text=True, check=True, timeout=120).stdout.strip()


def test_second_writer_is_refused_and_a_killed_writer_leaves_no_stale_lock(tmp_path, capsys):
    run = new_run(tmp_path)
    holder = hold(run)
    before = {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()}
    try:
        with pytest.raises(UserError, match=rf"being written by another process \(pid "
                                            rf"{holder.pid}\)"), run.writer():
            pytest.fail("a second writer got the lock of a live holder")
        status = main(["resume", str(run.path), "--quiet", "--no-plots"])
        err = capsys.readouterr().err.strip()
        assert status == 2 and "\n" not in err
        assert f"is being written by another process (pid {holder.pid})" in err
        status = main(["run", str(TINY), "--out", str(run.path), "--overwrite", "--quiet"])
        assert status == 2 and "being written by another process" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()} == before
        assert not (run.path / "archive.jsonl").exists()
        assert holder.poll() is None  # refused by a live holder, not by its leftovers
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run.writer():  # the kernel released the dead holder's lock
        # seen from outside, the lock is ours and names us (the lock file is not opened
        # here: closing any descriptor of it would drop this process's POSIX lock)
        assert probe(run) == (f"refused: {run.path} is being written by another process "
                              f"(pid {os.getpid()}); wait for it to end, or stop it before "
                              "resuming")
    assert probe(run) == "locked"  # and leaving the block released it


def test_a_writer_that_lets_go_frees_the_lock_while_it_lives_on(tmp_path):
    run = new_run(tmp_path)
    holder = hold(run)
    try:
        assert probe(run).startswith(f"refused: {run.path} is being written by another "
                                     f"process (pid {holder.pid})")
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert probe(run) == "locked" and holder.poll() is None
    finally:
        holder.stdin.close()  # end of input: the holder exits
        assert holder.wait(timeout=60) == 0
    assert probe(run) == "locked"


def test_a_second_writer_in_the_same_process_is_refused_and_keeps_the_lock(tmp_path):
    """A POSIX lock is per process (taking it again succeeds, closing a descriptor of the
    file drops it): a nested writer is refused before it touches the file, and the outer
    writer still holds the lock afterwards, as seen from another process."""
    run = new_run(tmp_path)
    with run.writer():
        with pytest.raises(UserError, match="already being written by this process"):
            with RunDir(run.path).writer():
                pytest.fail("a second writer in the same process got the lock")
        assert probe(run).startswith(f"refused: {run.path} is being written by another "
                                     f"process (pid {os.getpid()})")
    assert probe(run) == "locked"
    with run.writer():  # released: this process can write again
        pass


def test_lock_is_not_inherited_by_child_processes(tmp_path):
    """Children started while the lock is held (forked, so they share its open file, and
    started afresh, as the campaign's workers are) hold nothing once the parent lets go."""
    run = new_run(tmp_path)
    read_end, write_end = os.pipe()
    with run.writer():
        forked = os.fork()
        if forked == 0:  # the child: waits for the test to close the pipe, then leaves
            os.close(write_end)
            os.read(read_end, 1)
            os._exit(0)
        started = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                   stdin=subprocess.PIPE)
    os.close(read_end)
    try:
        assert probe(run) == "locked"
        assert started.poll() is None and os.waitpid(forked, os.WNOHANG) == (0, 0)
    finally:
        os.close(write_end)
        os.waitpid(forked, 0)
        started.stdin.close()
        started.wait(timeout=60)


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

    from evoapproxnas.search.study.records import EvaluationRecord

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
