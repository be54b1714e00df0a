"""Fuzz of the commands that read a run directory (report, report --json, plot, export,
resume, hw estimate --run, hw pipeline --run) on damaged copies of one finished run: every
file missing in turn, truncated, of the wrong JSON type, every field of its records given
values of the wrong type, a read-only directory, a writer lock held by another process.

Each command either succeeds (the damage does not concern it) or exits with status 2 and one
line on stderr; it never shows a traceback, and it writes nothing into the directory (plot
only its ``plots/``). ``resume`` runs with a stand-in for the worker pool that stops it
where the campaign would start training: reaching it means the damage did not stop it.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from _fakes import InstantWorkers

from evoapproxnas.cli import main
from evoapproxnas.search.reporting import SilentReporter

TINY = Path(__file__).parent / "search" / "tiny.toml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

WRONG = [None, True, -1, 10**30, 1.5, float("nan"), "", "x", [], [1], {}, {"a": 1}]
"""Values of the wrong type or shape for a whole file or a top-level field."""
WRONG_TYPE = [None, True, 1.5, "x", [1], {"a": 1}]
"""One value of each JSON type, for every field (deleting it is tried too)."""
WRONG_NUMBER = [-1, 10**30, float("nan")]
"""Extra values for a numeric field."""

COMMANDS = {
    "report": ["report", "{run}"],
    "report --json": ["report", "{run}", "--json"],
    "report --html": ["report", "{run}", "--html", "{run}.html"],
    "plot": ["plot", "{run}"],
    "hw estimate": ["hw", "estimate", "--run", "{run}"],
    "hw pipeline": ["hw", "pipeline", "--run", "{run}", "--member", "0", "--fpgas",
                    "zynq7020,zynq7020"],
    "resume": ["resume", "{run}", "--quiet", "--no-plots"],
}
ALL = tuple(COMMANDS)
READERS = {
    "run.json": ALL,
    "config.json": ALL,
    "shape.json": ("plot", "hw estimate", "hw pipeline", "resume"),
    "front.json": ("report", "report --json", "report --html", "plot", "hw estimate",
                   "hw pipeline"),
    "archive.jsonl": ("plot", "resume"),
    "history.json": ("report", "report --html", "plot"),  # read when front.json is missing
    "checkpoint.pkl": ("resume",),
    "checkpoint.prev.pkl": ("resume",),
    "plots": ("plot",),
    "models": ("report", "plot"),
    "writer.lock": ("resume",),
}
"""The commands that read each entry of a run directory (the ones each damage is tried on)."""
FIELD_READERS = {
    "run.json": ("report", "resume"),  # every command reads it as report does
    "config.json": ("hw pipeline", "resume"),
    "shape.json": ("plot", "hw pipeline", "resume"),
    "front.json": ("report", "plot", "hw pipeline"),
    "archive.jsonl": ("plot", "resume"),
    "history.json": ("report", "plot"),
}
"""The commands each damaged field is tried on (one of each way to read the file)."""
PLOT_SAMPLE = ("=deleted", "=None", "='x'", "=1.5", "genome empty", "genome gene -1")
"""The damaged fields ``plot`` is tried with (drawing takes a while): one of each kind."""


class WouldTrain(Exception):
    """Raised by the stand-in pool: ``resume`` got past every check of the directory."""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of the tiny campaign (2 generations, instant training), with plots."""
    import numpy as np

    from evoapproxnas.plots.campaign import plot_run
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.study.rundir import RunDir

    run = create_run(TINY, tmp_path_factory.mktemp("fuzz") / "run", ["search.generations=2"])
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    plot_run(RunDir(run.path))
    member = run.front().members[0].record
    np.savez(run.weights_path(member.hash, member.fidelity), np.zeros(3, np.float32))
    return run.path


@pytest.fixture
def quick_plots(monkeypatch):
    """Figures are drawn as usual but not laid out, and saved as empty files (the layout and
    the PNG rendering are what takes time; a folder that cannot be written still fails as
    it would)."""
    import matplotlib
    import matplotlib.figure

    matplotlib.use("Agg")

    def savefig(self, fname, *args, **kwargs):
        if isinstance(fname, (str, os.PathLike)):
            Path(fname).write_bytes(b"")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    monkeypatch.setattr(matplotlib.figure.Figure, "tight_layout", lambda self, **kwargs: None)


@pytest.fixture
def no_training(monkeypatch):
    def stand_in(cfg, run):
        raise WouldTrain(run.path)

    monkeypatch.setattr("evoapproxnas.search.campaign.make_pool", stand_in)


# ---- damaging a copy ------------------------------------------------------------------------


def snapshot(root: Path) -> dict:
    """Every entry under ``root``: inode, size, mode and modification time (any write, in
    place or by replacing the file, changes one of them; nanosecond times)."""
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        mtime = None if path.name == "writer.lock" else st.st_mtime_ns  # resume locks it
        out[str(path.relative_to(root))] = (st.st_ino, st.st_size, st.st_mode, mtime)
    return out


def changes(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def load(path: Path):
    return json.loads(path.read_text())


def dump(path: Path, data) -> None:
    path.write_text(json.dumps(data))


def set_in(data, keys, value):
    """A copy of JSON ``data`` with the item at ``keys`` replaced (``...`` deletes it)."""
    data = copy.deepcopy(data)
    node = data
    for key in keys[:-1]:
        node = node[key]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


def archive_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "archive.jsonl").read_text().splitlines()]


def write_archive(run: Path, lines: list) -> None:
    (run / "archive.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def field_cases(prefix: str, data: dict, keys: tuple, write, values=None) -> list:
    """Each field of ``data`` at ``keys`` deleted, then set to each of ``values`` (default:
    every ``WRONG_TYPE`` value, and the ``WRONG_NUMBER`` ones for a numeric field)."""
    node = data
    for key in keys:
        node = node[key]
    cases = []
    for name in node:
        wrong = values or WRONG_TYPE + (WRONG_NUMBER if isinstance(node[name], (int, float))
                                        else [])
        for value in [..., *wrong]:
            label = "deleted" if value is ... else repr(value)[:12]
            cases.append((f"{prefix}{'.'.join(map(str, (*keys, name)))}={label}",
                          lambda run, k=(*keys, name), v=value: write(run, set_in(data, k, v))))
    return cases


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def file_cases(finished: Path, name: str) -> list:
    """Damages of one entry of the run directory: ``[(label, damage(run_dir)), ...]``."""
    path = finished / name
    cases = [(f"{name} missing", lambda run: remove(run / name))]
    if path.is_file():
        cases.append((f"{name} truncated", lambda run: truncate(run / name)))
        cases.append((f"{name} emptied", lambda run: (run / name).write_bytes(b"")))
        cases.append((f"{name} not UTF-8", lambda run: (run / name).write_bytes(b"\xff\xfe{")))
    if path.is_dir():
        cases.append((f"{name} a file", lambda run: (remove(run / name),
                                                     (run / name).write_text("x"))))
    else:
        cases.append((f"{name} a folder", lambda run: (remove(run / name),
                                                       (run / name).mkdir())))
    if name.endswith(".json"):
        for value in WRONG:
            cases.append((f"{name} = {value!r}"[:40],
                          lambda run, v=value: dump(run / name, v)))
        cases.append((f"{name} nested too deep", lambda run: (run / name).write_text(
            "[" * 100_000 + "]" * 100_000)))
        data = load(path)

        def write(run, d):
            dump(run / name, d)

        if isinstance(data, dict):
            cases += field_cases(f"{name}: ", data, (), write, WRONG)
        if name == "front.json":
            cases += field_cases("front.json: ", data, ("front", 0), write)
            cases += field_cases("front.json: ", data, ("front", 0, "metrics"), write)
            cases += genome_cases("front.json: ", data, ("front", 0, "genome"), write)
            cases += field_cases("front.json: ", data, ("history", 0), write)
        if name == "config.json":  # the values of each key: tests/test_fuzz_config.py
            for section in data:
                cases += field_cases("config.json: ", data, (section,), write, [None])
        if name == "history.json":
            cases += field_cases("history.json: ", data, (0,), write)
    if name == "archive.jsonl":
        lines = archive_lines(finished)
        cases += field_cases("archive line 1: ", lines, (0,), write_archive)
        cases += field_cases("archive line 1: ", lines, (0, "metrics"), write_archive)
        cases += genome_cases("archive line 1: ", lines, (0, "genome"), write_archive)
        for value in WRONG:
            cases.append((f"archive line 2 = {value!r}"[:40],
                          lambda run, v=value: write_archive(run, set_in(lines, (1,), v))))
        cases.append(("archive line 2 garbled", lambda run: (run / "archive.jsonl").write_text(
            (run / "archive.jsonl").read_text().replace('"', "", 3))))
        cases.append(("archive line 1 nested too deep", lambda run: (
            run / "archive.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")))
    return cases


def genome_cases(prefix: str, data, keys: tuple, write) -> list:
    node = data
    for key in keys:
        node = node[key]
    genomes = {"too short": node[:-1], "too long": node + [0], "gene -1": [-1] + node[1:],
               "gene 10**6": node[:-1] + [10**6], "gene 10**30": [10**30] + node[1:],
               "empty": []}
    return [(f"{prefix}genome {label}", lambda run, g=g: write(run, set_in(data, keys, g)))
            for label, g in genomes.items()]


# ---- running the commands -------------------------------------------------------------------


def run_command(capsys, name: str, run: Path) -> tuple[str, str]:
    """("ok" | "error" | "would train", what went wrong or "") for one command."""
    argv = [a.replace("{run}", str(run)) for a in COMMANDS[name]]
    before = snapshot(run)
    try:
        status = main(argv)
    except WouldTrain:
        capsys.readouterr()
        return "would train", ""
    except SystemExit as exc:  # argparse
        return "error", f"SystemExit {exc.code}: {capsys.readouterr().err.strip()[-300:]}"
    except BaseException:  # noqa: BLE001  (what the fuzz looks for)
        capsys.readouterr()
        return "error", "traceback: " + traceback.format_exc(limit=-3)[-1200:]
    err = capsys.readouterr().err.strip()
    changed = changes(before, snapshot(run))
    if name == "plot" and status == 0:
        changed = [c for c in changed if c != "." and not c.startswith("plots")]
    if status == 2:
        lines = err.splitlines()
        if len(lines) != 1 or not err.startswith("evoapproxnas: error: "):
            return "error", f"exit 2 with stderr {err[-600:]!r}"
        if "Traceback" in err:
            return "error", f"traceback in {err!r}"
    elif status != 0:
        return "error", f"exit {status}: {err[-600:]}"
    if changed:
        return "error", f"exit {status} ({err[-200:]}) but changed {changed[:5]}"
    return ("ok" if status == 0 else "exit 2"), err


def fuzz(tmp_path, capsys, finished: Path, cases, commands, expect=None) -> dict:
    """Run ``commands`` on a fresh copy for every case; ``expect``: {command: outcome} every
    case must have. Returns {(case, command): outcome}."""
    problems, outcomes = [], {}
    for k, (label, damage) in enumerate(cases):
        run = tmp_path / f"c{k}"
        shutil.copytree(finished, run)  # (creates tmp_path too)
        damage(run)
        for name in commands:
            outcome, detail = run_command(capsys, name, run)
            outcomes[label, name] = outcome
            if outcome == "error":
                problems.append(f"{label} | {name}: {detail}")
            elif expect and name in expect and outcome != expect[name]:
                problems.append(f"{label} | {name}: {outcome}, expected {expect[name]}: "
                                f"{detail}")
        shutil.rmtree(run)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])
    return outcomes


# ---- the tests ------------------------------------------------------------------------------


def test_the_undamaged_run_is_viewed_and_resume_would_go_on(tmp_path, capsys, finished,
                                                           quick_plots, no_training):
    outcomes = fuzz(tmp_path, capsys, finished, [("run.json as is", lambda run: None)], ALL)
    assert outcomes == {("run.json as is", name): "ok" for name in ALL} | {
        ("run.json as is", "resume"): "would train"}


def is_field(label: str) -> bool:
    """Whether a case damages a field ("front.json: front.0.hash=None") rather than the whole
    file ("front.json = {'a': 1}")."""
    return ": " in label.split(" = ")[0]


def whole_and_fields(finished: Path, name: str) -> tuple[list, list]:
    """The damages of file ``name``: to the whole file, and to its fields."""
    cases = file_cases(finished, name)
    return [c for c in cases if not is_field(c[0])], [c for c in cases if is_field(c[0])]


def fuzz_fields(tmp_path, capsys, finished: Path, name: str, part: int, parts: int) -> None:
    """Every ``parts``-th damaged field of ``name`` from ``part`` on, with ``FIELD_READERS``
    (``plot`` with the ``PLOT_SAMPLE`` ones)."""
    fields = whole_and_fields(finished, name)[1][part::parts]
    readers = FIELD_READERS[name]
    fuzz(tmp_path / "fields", capsys, finished, fields, [c for c in readers if c != "plot"])
    if "plot" in readers:
        sample = [c for c in fields if c[0].endswith(PLOT_SAMPLE)]
        fuzz(tmp_path / "plot", capsys, finished, sample, ["plot"])


RUN_FILES = ["run.json", "config.json", "shape.json", "front.json", "archive.jsonl", "plots",
             "models", "writer.lock", "checkpoint.pkl", "checkpoint.prev.pkl"]
FIELD_PARTS = {"run.json": 1, "config.json": 3, "shape.json": 1, "front.json": 4,
               "archive.jsonl": 2}
"""How many tests share the damaged fields of a file (each under a few seconds)."""


@pytest.mark.parametrize("name", RUN_FILES)
def test_damaged_file(tmp_path, capsys, finished, quick_plots, no_training, name):
    """The file missing, truncated, emptied, not text, a folder, of the wrong JSON type."""
    whole = whole_and_fields(finished, name)[0]
    expect = {"run.json": ALL, "config.json": ALL[3:]}.get(name, ())  # report: run.json, front
    outcomes = fuzz(tmp_path, capsys, finished, whole, READERS[name],
                    {c: "exit 2" for c in expect})
    if name == "front.json":
        for value in WRONG:  # report reads nothing else
            assert outcomes[f"front.json = {value!r}"[:40], "report"] == "exit 2"
    if name == "shape.json":
        assert outcomes["shape.json missing", "plot"] == "exit 2"


def test_other_files(tmp_path, capsys, finished, quick_plots, no_training):
    """Files of a run not named in RUN_FILES (added since): damaged as a whole, every command
    that reads a run directory is tried."""
    others = sorted(p.name for p in finished.iterdir() if p.name not in RUN_FILES)
    cases = [c for name in others for c in whole_and_fields(finished, name)[0]]
    fuzz(tmp_path, capsys, finished, cases, ALL)


@pytest.mark.parametrize("name, part", [(name, part) for name, parts in FIELD_PARTS.items()
                                        for part in range(parts)])
def test_damaged_fields(tmp_path, capsys, finished, quick_plots, no_training, name, part):
    """Each field of the file (of its records, members, sections) deleted or of a wrong type."""
    fuzz_fields(tmp_path, capsys, finished, name, part, FIELD_PARTS[name])


@pytest.mark.parametrize("name", ["history.json", "archive.jsonl"])
def test_without_front(tmp_path, capsys, finished, quick_plots, no_training, name):
    """history.json and the archive are what report reads when front.json is missing."""
    def without_front(damage):
        return lambda run: ((run / "front.json").unlink(), damage(run))

    cases = [(label, without_front(damage)) for label, damage in file_cases(finished, name)
             if not is_field(label) or label.endswith(PLOT_SAMPLE)]
    fuzz(tmp_path, capsys, finished, cases, ("report", "report --html", "plot"))


def test_lock_held_by_another_process(tmp_path, capsys, finished, quick_plots, no_training):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from evoapproxnas.search.study.rundir import RunDir\n"
        "with RunDir(sys.argv[1]).writer():\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n"), str(run)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for name in ALL:
            outcome, detail = run_command(capsys, name, run)
            if name == "resume":
                assert outcome == "exit 2" and f"another process (pid {holder.pid})" in detail
            else:  # viewing a run that is being written is fine
                assert outcome == "ok", (name, detail)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.parametrize("where", ["x" * 300, "file/run", "nowhere/run"])
def test_run_directory_that_cannot_be(tmp_path, capsys, where):
    """A run directory whose name is too long, below a file, or absent: one line each."""
    (tmp_path / "file").write_text("x")
    run = tmp_path / where
    for name in ALL:
        argv = [a.replace("{run}", str(run)) for a in COMMANDS[name]]
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("evoapproxnas: error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _without_permission_override():
    """In the child, before exec: drop the capabilities that let root ignore file modes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a read-only folder is read-only for it."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_run_directory(tmp_path, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    modes = {}
    for path in [run, *run.rglob("*")]:
        modes[path] = path.stat().st_mode
        path.chmod(modes[path] & ~0o222)
    before = snapshot(run)
    try:
        results = {}
        for name in ("report", "plot", "hw estimate", "resume"):
            argv = [a.replace("{run}", str(run)) for a in COMMANDS[name]]
            proc = subprocess.run([sys.executable, "-m", "evoapproxnas", *argv], env=ENV,
                                  capture_output=True, text=True, timeout=120,
                                  preexec_fn=_without_permission_override)
            results[name] = proc.returncode, proc.stderr.strip()
            assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert changes(before, snapshot(run)) == []
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert results["report"][0] == 0 and results["hw estimate"][0] == 0
    for name in ("plot", "resume"):
        status, err = results[name]
        assert status == 2 and len(err.splitlines()) == 1, (name, err)
    assert "cannot write" in results["plot"][1] and "cannot lock" in results["resume"][1]


# ---- export (TensorFlow) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_weights(finished, tmp_path_factory) -> Path:
    """A copy of the finished run with real weights for front member 0."""
    import numpy as np

    from evoapproxnas.nn import build_model
    from evoapproxnas.search.study.rundir import RunDir

    path = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(finished, path)
    run = RunDir(path)
    member = run.front().members[0].record
    model = build_model(run.network(member), run.problem.multipliers,
                        weight_quantization=run.problem.cfg.multipliers.weight_quantization)
    np.savez(run.weights_path(member.hash, member.fidelity), *model.get_weights())
    return path


@pytest.mark.tf
@pytest.mark.slow
def test_export_of_damaged_weights_and_bad_destinations(tmp_path, capsys, with_weights):
    import numpy as np

    from evoapproxnas.search.study.rundir import RunDir

    member = RunDir(with_weights).front().members[0].record
    weights = RunDir(with_weights).weights_path(member.hash, member.fidelity)
    name = str(weights.relative_to(with_weights))
    cases = {
        "as is": (lambda run: None, "ok"),
        "weights missing": (lambda run: (run / name).unlink(), "were not saved"),
        "weights truncated": (lambda run: truncate(run / name), "not a readable weights"),
        "weights text": (lambda run: (run / name).write_text("x"), "not a readable weights"),
        "weights of another network": (lambda run: np.savez(run / name, np.zeros(3)),
                                       "do not fit"),
        "weights pickled objects": (lambda run: np.savez(run / name, np.array([{}], object)),
                                    "not a readable weights"),
    }
    for label, (damage, want) in cases.items():
        run = tmp_path / label.replace(" ", "_")
        shutil.copytree(with_weights, run)
        damage(run)
        before = snapshot(run)
        out = tmp_path / f"{run.name}.keras"
        status = main(["export", str(run), "--member", "0", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert changes(before, snapshot(run)) == [], label
        if want == "ok":
            assert status == 0 and out.is_file(), (label, err)
        else:
            assert status == 2 and len(err.splitlines()) == 1 and want in err, (label, err)
            assert not out.exists()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    for out, want in ((tmp_path / "nowhere" / "m.keras", "cannot write"),
                      (blocker / "m.keras", "cannot write"),
                      (tmp_path / "dir.keras", "cannot write")):
        if out.name == "dir.keras":
            out.mkdir()
            argv = ["--overwrite"]
        else:
            argv = []
        status = main(["export", str(with_weights), "--member", "0", "--out", str(out), *argv])
        err = capsys.readouterr().err.strip()
        assert status == 2 and len(err.splitlines()) == 1 and want in err, (out, err)
    assert blocker.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
