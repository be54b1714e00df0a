"""Fuzz of the command-line front doors that are not campaigns: every subcommand of
``evoapproxnas`` (found in ``build_parser()``, so a new one is fuzzed without touching this
file) with every argument that takes a path or a name (``--library``, files, ``--out``,
``--run``, presets, device lists...) given, in turn, a missing file, a directory where a file
is expected, a file where a directory is expected, a path below a file, an over-long name, an
unknown name and an empty string, the other arguments valid.

Each command either succeeds or exits with status 2 and one line on stderr, without a
traceback and without writing anything. Commands run in-process; a case that would import
TensorFlow (a Keras file) runs in a subprocess instead. The commands whose work is heavy
(``HEAVY``: converting a model, training) are stopped where that work begins: a case that
gets there has passed every check, which it may only do with a value that is in fact valid
(``ACCEPTED``). ``run`` and ``resume`` start campaigns: tests/test_fuzz_config.py and
tests/test_fuzz_viewers.py cover them.
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
from _fakes import InstantWorkers

from evoapproxnas.cli import build_parser, main
from evoapproxnas.search.reporting import SilentReporter

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "search" / "tiny.toml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

SKIP = {"run", "resume"}
"""Commands that run a campaign (fuzzed in tests/test_fuzz_config.py and test_fuzz_viewers.py)."""
HEAVY = {"approximate": ("evoapproxnas.cli.byo", "convert_model"),
         "sweep": ("evoapproxnas.cli.byo", "convert_model"),
         "sensitivity": ("evoapproxnas.cli.byo", "convert_model"),
         "hw learn train": ("evoapproxnas.hardware.learned.train", "train_evaluator")}
"""Commands whose successful run converts a Keras model or trains (TensorFlow, seconds to
minutes), and the function (module, name) where that work begins: it is replaced by one that
stops the case, so each case costs only the checks. The successful runs are tested in
tests/approx/test_convert.py, tests/search/test_byo.py and tests/hardware/learned/."""
ACCEPTED = {
    "approximate": {("data_dir", "empty"), ("multiplier", "empty"), ("out", "missing")},
    "sweep": {("data_dir", "empty"), ("multipliers", "empty"), ("out", "missing"),
              ("out", "unknown name"), ("out", "parent missing")},
    "sensitivity": {("data_dir", "empty"), ("multipliers", "empty"), ("out", "missing"),
                    ("out", "unknown name"), ("out", "parent missing"),
                    ("out", "a directory")},
    "hw learn train": {("out", "missing"), ("out", "unknown name"),
                       ("out", "parent missing")},
}
"""The damaged values of a ``HEAVY`` command that are in fact valid, as ``(dest, damage)``
(an empty optional value is its default; a new output path, a relative one included, is
created; an empty folder takes a sensitivity map; a bare name is an evaluator saved by name):
exactly these reach the heavy work, every other case is refused before it."""
NOT_PATHS = {"overrides", "set"}
"""String arguments that are neither paths nor names (``KEY=VALUE`` overrides)."""
VALID = {
    "library": "evoapproxlib8u",
    "name": "mul8u_1JFF",
    "run": "{run}",
    "run_dir": "{run}",
    "layers": "{layers}",
    "fpgas": "xc7z020",  # a device: --preset is read
    "member": "0",
    "import_format": "tfapprox-bin",
    "files": "{bin}",
    ("multipliers plot", "out"): "{tmp}/library.png",
    ("multipliers import", "out"): "{tmp}/newlib",
    ("multipliers import", "name"): "newlib",
    ("export", "out"): "{tmp}/model.keras",
    ("report", "html"): "{tmp}/page.html",
    ("hw estimate", "keras"): "{tmp}/model.keras",  # the form only: no model is saved
    "preset": "{tmp}/hardware.toml",  # the form only (optional: the default preset is valid)
    "metadata": "{tmp}/figures.csv",  # the form only (optional)
    "model": "{model}",  # the form only: checked, never loaded (HEAVY stops before Keras)
    ("approximate", "out"): "{tmp}/approx.keras",
    ("sweep", "out"): "{tmp}/sweep",
    ("sensitivity", "out"): "{tmp}/sensitivity",
    ("hw learn dataset", "out"): "{tmp}/costs",
    ("hw learn train", "out"): "{tmp}/evaluator",
    "dataset": "{dataset}",
    "evaluator": "{evaluator}",
}
"""A valid value of each argument, by ``dest`` or ``(command, dest)`` (``{run}``: a finished
run, ``{layers}``: a JSON layer file, ``{bin}``: a TFApprox table, ``{model}``: a file
with the form of a Keras model taking the synthetic images, ``{dataset}`` and
``{evaluator}``: a learned evaluator's tiny dataset and an evaluator of it, ``{tmp}``: the
case's folder): the commands get it for their required arguments (one not listed gets the unknown
name), and the damaged values keep its suffix."""
EXTRA = {"hw learn dataset": ["--networks", "1", "--set", "depth=[1,2]"],
         "hw learn report": ["--batch", "4"],
         **{c: ["--data", "synthetic"] for c in ("approximate", "sweep", "sensitivity")}}
"""Arguments a command gets in every case so that one that succeeds stays small (a dataset of
one network, not the default 2000; the synthetic images, made in milliseconds, not the
default Fashion-MNIST read from outside the repository); a damaged value given after them
replaces them."""
GROUP_CHOICE = {"hw estimate": "layers"}
"""The member of a required group of exclusive arguments the other arguments are fuzzed with
(default: the first with a valid value): --layers names multipliers, so --library is read."""


def bad_values(valid: str | None) -> dict[str, str]:
    """The damaged values of an argument whose valid value is ``valid`` (its suffix kept, so
    that a check of the file type does not hide the others)."""
    suffix = Path(valid).suffix if valid else ""
    return {
        "empty": "",
        "unknown name": "bogus",
        "over-long name": "x" * 300,
        "over-long name with suffix": "x" * 300 + suffix,
        "over-long part": "{tmp}/missing/" + "x" * 300 + suffix,
        "missing": "{tmp}/missing" + suffix,
        "parent missing": "{tmp}/nodir/out" + suffix,
        "a directory": "{tmp}/adir" + suffix,
        "a file": "{tmp}/afile" + suffix,
        "below a file": "{tmp}/afile" + suffix + "/below" + suffix,
    }


# ---- the commands, from the parser ----------------------------------------------------------


def leaf_commands(parser: argparse.ArgumentParser, prefix=()) -> dict[str, argparse.ArgumentParser]:
    """``{"hw estimate": parser, ...}``: every command that runs something."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out = {}
            for name, sub in action.choices.items():
                out.update(leaf_commands(sub, (*prefix, name)))
            return out
    return {" ".join(prefix): parser}


def value_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if isinstance(a, (argparse._StoreAction,
                                                         argparse._AppendAction))]


def is_path_or_name(action: argparse.Action) -> bool:
    return action.type is None and action.choices is None and action.dest not in NOT_PATHS


def exclusive_peers(parser: argparse.ArgumentParser, action: argparse.Action) -> set[str]:
    return {a.dest for g in parser._mutually_exclusive_groups if action in g._group_actions
            for a in g._group_actions if a is not action}


def valid_value(command: str, action: argparse.Action) -> str | None:
    return VALID.get((command, action.dest), VALID.get(action.dest))


def baseline(command: str, parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """``{dest: argv part}`` of the required arguments (one of each required group)."""
    parts = {}
    groups_done = set()
    for group in parser._mutually_exclusive_groups:
        if group.required:
            known = [a for a in group._group_actions if valid_value(command, a)]
            known.sort(key=lambda a: a.dest != GROUP_CHOICE.get(command))
            first = (known or group._group_actions)[0]
            parts[first.dest] = first
            groups_done.update(id(a) for a in group._group_actions)
    for action in value_actions(parser):
        if action.required and id(action) not in groups_done:
            parts[action.dest] = action
    return {dest: argv_part(a, valid_value(command, a) or "bogus") for dest, a in parts.items()}


def argv_part(action: argparse.Action, value: str) -> list[str]:
    return [action.option_strings[0], value] if action.option_strings else [value]


def cases() -> list[tuple[str, str, str, list[str]]]:
    """``(command, dest, damage, argv)`` for every path or name argument of every command."""
    out = []
    for command, parser in leaf_commands(build_parser()).items():
        if command in SKIP:
            continue
        base = baseline(command, parser)
        for action in value_actions(parser):
            if not is_path_or_name(action):
                continue
            parts = {d: p for d, p in base.items()
                     if d != action.dest and d not in exclusive_peers(parser, action)}
            for damage, value in bad_values(valid_value(command, action)).items():
                argv = [*command.split(), *EXTRA.get(command, ()),
                        *(x for p in parts.values() for x in p),
                        *argv_part(action, value)]
                out.append((command, action.dest, damage, argv))
    return out


CASES = cases()
SUFFIXES = sorted({""} | {Path(v).suffix for v in VALID.values()})
"""The suffixes of the damaged values (of the folders and files they name)."""


def test_every_command_with_a_path_or_name_is_fuzzed():
    fuzzed = {(c, d) for c, d, _, _ in CASES}
    assert {c for c, _ in fuzzed} >= {"multipliers list", "multipliers show", "multipliers plot",
                                      "multipliers import", "report", "plot", "export",
                                      "hw estimate", "hw pipeline"}
    assert {("hw estimate", d) for d in ("run", "keras", "layers", "preset", "library")} <= fuzzed
    assert set(HEAVY) | {"hw learn dataset", "hw learn report"} <= {c for c, _ in fuzzed}
    for command, accepted in ACCEPTED.items():  # no stale entry
        assert accepted <= {(d, damage) for c, d, damage, _ in CASES if c == command}


# ---- the files the valid values name --------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """A finished run of the tiny campaign, a layer file, a TFApprox table, a file with the
    form of a Keras model, a learned evaluator's dataset and an evaluator of it."""
    import json
    import zipfile

    from hardware.learned.helpers import random_evaluator

    from evoapproxnas.hardware.learned.dataset import DatasetSettings, build_dataset
    from evoapproxnas.hardware.learned.evaluator import write_folder
    from evoapproxnas.multipliers.metrics import exact_products
    from evoapproxnas.search.campaign import create_run, run_campaign

    root = tmp_path_factory.mktemp("inputs")
    run = create_run(TINY, root / "run", ["search.generations=1"])
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=InstantWorkers())
    layers = root / "net.json"
    layers.write_text(json.dumps([{"kind": "conv2d", "input_shape": [8, 8, 3], "filters": 4,
                                   "kernel": 3, "multiplier": "mul8u_1JFF"},
                                  {"kind": "dense", "input_shape": [1, 1, 64], "filters": 3,
                                   "multiplier": None}]))
    table = root / "mul8u_mine.bin"
    table.write_bytes(np.ascontiguousarray(exact_products(False), "<u2").tobytes())
    model = root / "net.keras"  # what model.save() writes, less the weights (never loaded)
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        archive.writestr("config.json", json.dumps({
            "module": "keras", "class_name": "Sequential",
            "config": {"name": "net", "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 16, 16, 1]}},
                {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3]}},
                {"class_name": "Flatten", "config": {}},
                {"class_name": "Dense", "config": {"units": 4}}]},
            "build_config": {"input_shape": [None, 16, 16, 1]}}))
    settings = DatasetSettings(networks=2, input_sizes=(8,), depth=(1, 2), kernels=(3,),
                               filters=(4,), libraries=("evoapproxlib8u",),
                               grid={"dataflow": ["ws"], "array": [[8, 8]], "glb_kib": [32.0]})
    dataset = root / "costs"
    build_dataset(settings).save(dataset)
    evaluator = random_evaluator(settings)
    spec = {**evaluator.spec, "training": {"held_out": 0.5, "seed": 0}}
    write_folder(root / "evaluator", spec, evaluator.weights)
    return {"run": str(run.path), "layers": str(layers), "bin": str(table), "model": str(model),
            "dataset": str(dataset), "evaluator": str(root / "evaluator")}


# ---- running a case -------------------------------------------------------------------------


class NeedsTensorFlow(BaseException):
    """Raised in place of the first import of TensorFlow: the case goes to a subprocess."""


class ReachedHeavyWork(BaseException):
    """Raised where a ``HEAVY`` command's work begins: every check has passed."""


def _stop(*args, **kwargs):
    raise ReachedHeavyWork


class _RefuseTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise NeedsTensorFlow(name)
        return None


def snapshot(*roots: Path) -> dict:
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            out[str(path)] = (st.st_ino, st.st_size, st.st_mode, st.st_mtime_ns)
    return out


def in_process(capsys, argv: list[str]) -> tuple[int | str, str]:
    """(exit status, stderr), or ("tf", "") when the command would import TensorFlow."""
    finder = _RefuseTensorFlow()
    sys.meta_path.insert(0, finder)
    try:
        status = main(argv)
    except NeedsTensorFlow:
        capsys.readouterr()
        return "tf", ""
    except ReachedHeavyWork:
        capsys.readouterr()
        return "checked", ""
    except SystemExit as exc:  # argparse
        return f"SystemExit {exc.code}", capsys.readouterr().err
    except BaseException:  # noqa: BLE001  (what the fuzz looks for)
        capsys.readouterr()
        return "traceback", traceback.format_exc(limit=-3)[-1500:]
    finally:
        sys.meta_path.remove(finder)
    return status, capsys.readouterr().err


def in_subprocess(argv: list[str]) -> tuple[int, str]:
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), ENV.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", *argv], env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr


def problem(status, err: str, changed: list[str], accepted: bool | None = None) -> str | None:
    """What is wrong with an outcome, or ``None``. ``accepted`` (``HEAVY`` commands): whether
    the damaged value is in fact valid."""
    err = err.strip()
    if accepted is not None:
        if status == "tf":
            return "imports TensorFlow before its checks are done"
        if status == "checked" and not accepted:
            return "passed every check and went on to the heavy work"
        if status == "checked" and changed:
            return f"wrote {changed[:3]} before its checks were done"
        if status == "checked":
            return None
        if accepted:
            return f"refused a valid value (exit {status}: {err[-600:]})"
    if status == 0:
        return None
    if status != 2:
        return f"exit {status}: {err[-1500:]}"
    if len(err.splitlines()) != 1 or not err.startswith("evoapproxnas: error: "):
        return f"exit 2 with stderr {err[-600:]!r}"
    if "Traceback" in err:
        return f"traceback in {err!r}"
    if changed:
        return f"exit 2 ({err}) but wrote {changed[:3]}"
    return None


def run_case(tmp_path: Path, capsys, inputs: dict, argv: list[str], subprocesses: list,
             heavy: tuple[str, str] | None = None, accepted: bool | None = None) -> str | None:
    """Run one case in its own folder (the working directory too: a relative name that is
    accepted writes there); ``heavy``: the (module, function) that stops it."""
    import importlib

    tmp_path.mkdir(parents=True)
    for suffix in SUFFIXES:
        (tmp_path / f"adir{suffix}").mkdir()
        (tmp_path / f"afile{suffix}").write_text("x")
    argv = [a.format(tmp=tmp_path, **inputs) for a in argv]
    before = snapshot(tmp_path, Path(inputs["run"]))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    module = importlib.import_module(heavy[0]) if heavy else None
    work = getattr(module, heavy[1]) if heavy else None
    try:
        if heavy:
            setattr(module, heavy[1], _stop)
        status, err = in_process(capsys, argv)
        if status == "tf" and not heavy:
            subprocesses.append(argv)
            status, err = in_subprocess(argv)
    finally:
        if heavy:
            setattr(module, heavy[1], work)
        os.chdir(cwd)
    return problem(status, err, [k for k, v in snapshot(tmp_path, Path(inputs["run"])).items()
                                 if before.get(k) != v] if status in (2, "checked") else [],
                   accepted)


@pytest.mark.parametrize("command", sorted({c for c, _, _, _ in CASES}))
def test_bad_paths_and_names(tmp_path, capsys, inputs, command, monkeypatch):
    monkeypatch.setenv("EVOAPPROXNAS_EVALUATOR_DIR", str(tmp_path / "evaluators"))
    problems, subprocesses = [], []
    for k, (cmd, dest, damage, argv) in enumerate(CASES):
        if cmd != command:
            continue
        accepted = (dest, damage) in ACCEPTED.get(command, ()) if command in HEAVY else None
        found = run_case(tmp_path / f"c{k}", capsys, inputs, argv, subprocesses,
                         HEAVY.get(command), accepted)
        if found:
            problems.append(f"{command} {dest} {damage}: {found}")
    assert len(subprocesses) <= 2, subprocesses  # TensorFlow is slow to start
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
