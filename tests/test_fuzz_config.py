"""Fuzz of the campaign config: every key of every section (enumerated from the section types,
so a new key is fuzzed without touching this file), nested keys of the table-valued ones,
given values of the wrong type and shape, through ``--set`` overrides and through a TOML
file. Each value is either accepted or refused with a ``UserError`` of one line naming the
key, never another exception; accepted ones then go through ``create_run`` (dataset,
multipliers, CGP spec, hardware) with the same rule. A few end-to-end ``evoapproxnas run``
commands show the user's view: exit status 2, one line, no traceback, no run directory.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from evoapproxnas.cgp.functions import DEFAULT_FUNCTIONS, FUNCTIONS
from evoapproxnas.config import (
    HIDDEN_KEYS,
    SECTIONS,
    SYNTHETIC_OPTIONS,
    load_config,
)
from evoapproxnas.errors import UserError
from evoapproxnas.metrics import names as metric_names

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

TINY = Path(__file__).parent / "search" / "tiny.toml"

VALUES = [
    "0", "-1", "1", "2", "0.5", "-0.5", "1e308", "1e999", "nan", "inf", "-inf",
    "1" + "0" * 30, "-1" + "0" * 30, "1" + "0" * 400,
    '""', '"  "', '"bogus"', "bogus", '"mul8u_1JFF"', "true", "false",
    "[]", "[5]", "[1.5]", '["bogus"]', '["error", "error"]', "[[1]]", "[{ a = 1 }]", "[1, 2]",
    "{}", "{ a = 1 }", "{ conv2d = 5 }", "{ conv2d = [5] }", "{ conv2d = { filters = [0] } }",
    "{ conv2d = { filters = 5 } }", "{ error = nan }", '{ GPU = "x" }',
    "[" * 2000 + "]" * 2000, '"' + "x" * 300 + '"', '"' + "x" * 300 + '.toml"', '"a\\u0000b"',
]
"""TOML literals: numbers (zero, negative, huge, NaN, infinite), strings (empty, unknown
names), lists and tables (empty, of the wrong element type, nested)."""
NESTED_VALUES = ["0", "-1", "1.5", "1" + "0" * 30, "nan", "inf", '"x"', '""', "[]", "[0]",
                 "[-1]", "[1.5]", '["x"]', "[[1]]", "{}", "true"]
"""The same, fewer, for keys inside table-valued keys."""


def keys() -> list[str]:
    """Every ``section.key`` a campaign file may set."""
    return [f"{section}.{f.name}" for section, cls in SECTIONS.items()
            for f in dataclasses.fields(cls) if f.name not in HIDDEN_KEYS.get(section, ())]


def nested_keys() -> list[tuple[str, list[str]]]:
    """Keys inside table-valued keys, each with the overrides it needs to be read."""
    every = f"cgp.functions={list(DEFAULT_FUNCTIONS)}"
    out = [(f"data.synthetic.{name}", []) for name in SYNTHETIC_OPTIONS]
    out += [(f"cgp.choices.{fn}.{param}", [every]) for fn in DEFAULT_FUNCTIONS
            for param in FUNCTIONS[fn].param_names]
    out += [(f"cgp.choices.{fn}", [every]) for fn in DEFAULT_FUNCTIONS]
    out += [(f"search.hv_reference.{metric}", []) for metric in metric_names()]
    out += [("executor.resources.GPU", [])]
    out += [("controller.reward_weights.error", [])]
    return out


def outcome(path, overrides, key: str) -> tuple[bool, str | None]:
    """(accepted?, what is wrong with the way it was refused, if it was)."""
    try:
        load_config(path, overrides)
    except UserError as exc:
        message = str(exc)
        unparsed = "nested too deep" in message  # the parser gave up: no key is known
        if "\n" in message or (key not in message and not unparsed):
            return False, f"message does not name {key} on one line: {message!r}"
        return False, None
    except Exception:  # noqa: BLE001  (what the fuzz looks for)
        return False, "traceback: " + traceback.format_exc(limit=-2)[-800:]
    return True, None


def check_create_run(tmp_path, path, overrides) -> str | None:
    """``create_run`` of an accepted config: a run directory, or a one-line ``UserError``
    and none."""
    from evoapproxnas.search.campaign import create_run

    out = tmp_path / "run"
    try:
        create_run(path, out, overrides)
    except UserError as exc:
        if "\n" in str(exc):
            return f"message of more than one line: {exc}"
        if out.exists():
            return f"refused ({exc}) but created {out}"
        return None
    except Exception:  # noqa: BLE001
        return "create_run traceback: " + traceback.format_exc(limit=-2)[-800:]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return None


def fuzz_key(tmp_path, key: str, values: list[str], extra: list[str]) -> list[str]:
    """Every value of ``key`` as ``--set`` and as a TOML file; the problems found."""
    problems = []
    section, _, rest = key.partition(".")
    top = f"{section}.{rest.split('.')[0]}"
    for value in values:
        where = f"{key}={value[:40]}"
        accepted, found = outcome(TINY, [*extra, f"{key}={value}"], top)
        if accepted:
            found = check_create_run(tmp_path, TINY, [*extra, f"{key}={value}"])
        if found:
            problems.append(f"--set {where}: {found}")
        try:
            tomllib.loads(f"v = {value}")
        except tomllib.TOMLDecodeError:
            continue  # a bare word: only --set takes it (as a string)
        except RecursionError:
            pass  # nested too deep for the parser: the loader says so
        path = tmp_path / "c.toml"
        inner = rest.split(".")
        body = f"[{'.'.join([section, *inner[:-1]])}]\n{inner[-1]} = {value}\n"
        path.write_text(body)
        found = outcome(path, extra, top)[1]
        if found:
            problems.append(f"file {where}: {found}")
    return problems


@pytest.mark.parametrize("key", keys())
def test_every_key(tmp_path, key):
    problems = fuzz_key(tmp_path, key, VALUES, [])
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("key, extra", nested_keys(), ids=[k for k, _ in nested_keys()])
def test_keys_inside_tables(tmp_path, key, extra):
    problems = fuzz_key(tmp_path, key, NESTED_VALUES, extra)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_whole_file_and_sections_of_the_wrong_type(tmp_path, suffix):
    """A config whose top level or a section is not a table (a run's config.json is read by
    the same loader), with and without overrides."""
    import json

    problems = []
    path = tmp_path / f"c{suffix}"
    for value in ["[1]", "5", '"x"', "null", "[]", "{ a = 1 }"]:
        if suffix == ".json":
            if "=" in value:
                continue
            bodies = [value] + [json.dumps({section: json.loads(value)}) for section in SECTIONS]
        else:
            bodies = [f"{section} = {value}" for section in SECTIONS if value != "null"]
            bodies += [f"[[{section}]]\nx = 1" for section in SECTIONS]
        for body in bodies:
            path.write_text(body)
            for overrides in ([], ["search.population=4"]):
                found = outcome(path, overrides, "")[1]
                if found:
                    problems.append(f"{body!r} {overrides}: {found}")
    assert not problems, "\n".join(problems[:20])


def test_every_key_is_fuzzed():
    # the sections are the types their packages consume; a key added to any is in keys()
    assert {"training.epochs", "cgp.functions", "cgp.choices", "hardware.overrides",
            "search.time_budget_s", "data.synthetic"} <= set(keys())
    assert "cgp.n_multipliers" not in keys()


def test_synthetic_options_are_the_generators():
    import inspect

    from evoapproxnas.data import synthetic_arrays

    params = set(inspect.signature(synthetic_arrays).parameters) - {"seed"}
    assert set(SYNTHETIC_OPTIONS) == params


def preset_keys(model: str) -> list[str]:
    from evoapproxnas.hardware.config import model_class

    cls = model_class(model)
    preset = cls.PRESETS[cls.DEFAULT_PRESET]
    return [f"{k}.{kk}" if isinstance(v, dict) else k
            for k, v in preset.items() for kk in (v if isinstance(v, dict) else [None])]


@pytest.mark.parametrize("model, metric", [("asic", "energy_pj"), ("fpga", "fps")])
def test_hardware_overrides_of_every_setting(tmp_path, model, metric):
    """Every setting of the model's default preset, given wrong values in hardware.overrides
    of a campaign with a hardware objective: create_run refuses them in one line or takes
    them."""
    problems = []
    base = [f"hardware.model={model}", f"search.objectives=['error','{metric}']",
            f"search.hv_reference={{error = 1.0, {metric} = 1e9}}"]
    for setting in preset_keys(model):
        for value in ("-1", "0", "1.5", "1" + "0" * 30, "nan", "inf", '"x"', "[]", "[0]",
                      "{}", "true"):
            found = check_create_run(tmp_path, TINY, [
                *base, f"hardware.overrides={{ {setting.replace('.', '__')} = {value} }}"])
            if found:
                problems.append(f"{setting}={value[:40]}: {found}")
    assert not problems, "\n".join(problems[:20])


# ---- end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--set", "cgp.functions=[5]"],
    ["--set", "cgp.choices={conv2d=5}"],
    ["--set", "multipliers.allowed=[[1]]"],
    ["--set", "data.synthetic={n_train='x'}"],
    ["--set", "executor.time_limit_s=" + "1" + "0" * 400],
    ["FILE", "[search]\npopulation = 1" + "0" * 30 + "\n"],
], ids=["functions", "choices", "allowed", "synthetic", "huge-float", "file-huge-int"])
def test_run_command_refuses_in_one_line(tmp_path, args):
    config = TINY
    if args[0] == "FILE":
        config = tmp_path / "bad.toml"
        config.write_text(args[1])
        args = []
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "run", str(config), "--out",
                           str(out), "--quiet", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    err = proc.stderr.strip()
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err and len(err.splitlines()) == 1, err[-3000:]
    assert err.startswith("evoapproxnas: error: ")
    assert not out.exists()
