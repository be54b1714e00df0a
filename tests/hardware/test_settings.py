"""Every numeric setting of every preset of every cost model (found in the presets, so a new
setting is covered without touching this file), set to zero, negative and huge values: the
model refuses it with a one-line ``UserError`` or prices a network without another exception.
No setting is a negative amount. Through the ``hw`` CLI's ``--set`` and a campaign's
``hardware.overrides`` the refusal is one line and exit status 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evoapproxnas.cli import main
from evoapproxnas.errors import UserError
from evoapproxnas.hardware import MODELS, conv_layer, dense_layer, get_cost_model, presets
from evoapproxnas.hardware.explore import search_hardware
from evoapproxnas.hardware.pipeline import search_pipeline

from .helpers import HALF

TINY = Path(__file__).resolve().parents[1] / "search" / "tiny.toml"
LAYERS = [conv_layer(8, 8, 4, 8, 3, 1, multiplier=HALF), conv_layer(8, 8, 8, 8, 3, 2),
          dense_layer(128, 10)]


def numeric_settings(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``("key", value)`` of every number of a preset, nested tables as ``"tech.key"``."""
    out = []
    for key, value in config.items():
        if isinstance(value, dict):
            out += numeric_settings(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((prefix + key, value))
    return out


SETTINGS = sorted({(model, key, type(value).__name__) for model in MODELS
                   for cfg in presets(model).values() for key, value in numeric_settings(cfg)})


def price(model) -> None:
    """Everything a model computes for a network, with its own config."""
    result = model.estimate(LAYERS)
    assert all(not math.isnan(v) for v in result.values() if isinstance(v, float)), result
    if model.name == "asic":
        model.breakdown(LAYERS)
        model.area_um2(LAYERS)
        model.hierarchy(LAYERS[0])
    else:
        designs, options = model.partition_designs(LAYERS)
        for design in designs[:2]:
            model.design_cost(LAYERS, design, options)


@pytest.mark.parametrize("model, key, kind", SETTINGS)
def test_numeric_setting_zero_negative_huge(model, key, kind):
    problems = []
    huge = float(2**1023) if kind == "float" else 2**63 - 1
    for value in (0, -1, huge, 1e-300 if kind == "float" else 1):
        for preset in presets(model):
            try:
                cost_model = get_cost_model(model, preset, **{key.replace(".", "__"): value})
            except UserError as exc:
                if "\n" in str(exc) or key.split(".")[-1] not in str(exc):
                    problems.append(f"{preset} {key}={value}: message {exc}")
                continue
            if value == -1:
                problems.append(f"{preset} {key}=-1 accepted: no setting is a negative amount")
                continue
            try:
                price(cost_model)
            except UserError:
                pass  # e.g. no design fits the device
            except Exception as exc:  # noqa: BLE001  (what the test looks for)
                problems.append(f"{preset} {key}={value}: {type(exc).__name__}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", ["rf_word_bits", "glb_word_bits", "dram_word_bits"])
def test_zero_word_bits_are_refused(key):
    for value in (0, -8):
        with pytest.raises(UserError, match=rf"asic setting 'tech\.{key}' must be positive"):
            get_cost_model("asic", **{f"tech__{key}": value})
        with pytest.raises(UserError, match=rf"'tech\.{key}' must be positive"):
            search_hardware(LAYERS, "asic", "edap", overrides={f"tech.{key}": value})


@pytest.mark.parametrize("key", ["adder_luts_per_bit", "control_luts", "lutram_max_bits",
                                 "reconfig_cycles"])
def test_negative_fpga_amounts_are_refused(key):
    with pytest.raises(UserError, match=f"fpga setting '{key}' must be 0 or more"):
        get_cost_model("fpga", **{key: -1})
    with pytest.raises(UserError, match=f"'{key}' must be 0 or more"):
        search_pipeline(LAYERS, ["xc7z020"], **{key: -1})
    get_cost_model("fpga", **{key: 0}).estimate(LAYERS)  # zero: a cost not counted


def test_huge_global_buffer_is_refused():
    with pytest.raises(UserError, match="glb_kib' must be at most"):
        get_cost_model("asic", glb_kib=1e300)
    model = get_cost_model("asic", glb_kib=2.0**30)
    model.estimate_mapping(LAYERS[0], model.best_mapping(LAYERS[0]))


@pytest.mark.parametrize("setting", ["tech.rf_word_bits=0", "tech.glb_word_bits=0",
                                     "tech.dram_word_bits=0", "tech.dram_pj=-1",
                                     "control_luts=-5"])
def test_hw_estimate_refuses_in_one_line(tmp_path, capsys, setting):
    layers = tmp_path / "net.json"
    layers.write_text(json.dumps([{"kind": "conv2d", "input_shape": [8, 8, 3], "filters": 4,
                                   "kernel": 3}]))
    model = "fpga" if setting.startswith("control") else "asic"
    assert main(["hw", "estimate", "--layers", str(layers), "--model", model,
                 "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and setting.split("=")[0] in err and "Traceback" not in err


def test_campaign_refuses_zero_word_bits(tmp_path):
    from evoapproxnas.search.campaign import create_run

    out = tmp_path / "run"
    with pytest.raises(UserError, match=r"'tech\.glb_word_bits' must be positive") as info:
        create_run(TINY, out, ["hardware.model=asic",
                               "search.objectives=['error','energy_pj']",
                               "search.hv_reference={error = 1.0, energy_pj = 1e9}",
                               "hardware.overrides={ tech__glb_word_bits = 0 }"])
    assert "\n" not in str(info.value) and not out.exists()
