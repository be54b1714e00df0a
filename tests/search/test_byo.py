"""Bring your own network on synthetic data: a sweep over three multipliers writes a run
directory that report, plot and export read; the per-layer sensitivity map; the assignment
search (``[space] kind = "assignment"``) resumes exactly after SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _fakes import cheapest_within, kill_when

from evoapproxnas.cli import main
from evoapproxnas.search.study.archive import read_records

pytestmark = [pytest.mark.tf, pytest.mark.slow]  # each runs TensorFlow models for > 5 s

LIB = "evoapproxlib8u"
SWEPT = ["mul8u_1JFF", "mul8u_L40", "mul8u_2AC"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small residual network trained briefly on the synthetic set (16x16x1, 4 classes)."""
    import keras

    from evoapproxnas.data import load_dataset

    data = load_dataset("synthetic", None, val_fraction=0.1, seed=1)
    keras.utils.set_random_seed(0)
    inp = keras.Input(data.input_shape)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False)(inp)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([x, y]))
    model = keras.Model(inp, keras.layers.Dense(data.n_classes)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("model") / "net.keras"
    model.save(path)
    return path


def test_sweep_writes_a_run_directory_report_reads(trained, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(trained), "--library", LIB, "--data", "synthetic", "--out",
                 str(out), "--multipliers", ",".join(SWEPT), "--fine-tune-epochs", "1",
                 "--fine-tune-images", "64", "--val-images", "60", "--test-images", "100",
                 "--fold-batchnorm", "--calibration-images", "100", "--quiet"]) == 0
    capsys.readouterr()
    records = read_records(out / "archive.jsonl")
    assert len(records) == 6 and {r.metrics["fine_tune_epochs"] for r in records} == {0, 1}
    # relative power from the library's own index, not the code's formula
    index = json.loads((ROOT / "multipliers" / LIB / "library.json").read_text())
    entries = index["multipliers"] if isinstance(index, dict) else index
    power = {e["name"]: e["power_mw"] for e in entries if e["name"] in SWEPT}
    for r in records:
        name = set(r.metrics["multipliers"].values())
        assert len(name) == 1  # every layer on the one multiplier
        assert r.metrics["power_rel"] == pytest.approx(power[name.pop()] / power["mul8u_1JFF"])
    assert (out / "models").glob("*-ft1.weights.npz")
    assert main(["report", str(out), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front["evaluations"] == 6 and front["front"]
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "sweep.png").is_file() and (out / "plots" / "member_0.png").is_file()
    capsys.readouterr()
    # the exported member reproduces its test accuracy
    assert main(["export", str(out), "--member", "0", "--out", str(tmp_path / "m.keras")]) == 0
    import keras

    from evoapproxnas.data import load_dataset

    data = load_dataset("synthetic", None, val_fraction=0.1, seed=1)
    model = keras.models.load_model(tmp_path / "m.keras")
    pred = np.argmax(np.asarray(model(data.x_test[:100], training=False)), axis=-1)
    assert np.mean(pred == data.y_test[:100]) == pytest.approx(front["front"][0]["test_accuracy"])


def test_sensitivity_heat_map(trained, tmp_path, capsys):
    import keras

    from evoapproxnas.approx.layers import set_multiplier
    from evoapproxnas.data import load_dataset

    out = tmp_path / "sens"
    assert main(["sensitivity", str(trained), "--library", LIB, "--data", "synthetic",
                 "--out", str(out), "--multipliers", "mul8u_1JFF,mul8u_L40",
                 "--val-images", "60", "--calibration-images", "100", "--quiet"]) == 0
    capsys.readouterr()
    result = json.loads((out / "sensitivity.json").read_text())
    acc = np.array(result["accuracy"])
    assert acc.shape == (3, 2) and (out / "sensitivity.png").is_file()
    assert np.all(acc[:, 0] == result["base_accuracy"])  # the exact multiplier changes nothing
    # one cell by hand: the converted model with only the depthwise layer on L40
    from evoapproxnas.approx.convert import approximate

    data = load_dataset("synthetic", None, val_fraction=0.1, seed=1)
    model = approximate(keras.models.load_model(trained), "mul8u_1JFF", LIB,
                        calibration_images=data.x_train[:100])
    name = result["layers"][1]
    set_multiplier(model, {name: "mul8u_L40"})
    pred = np.argmax(np.asarray(model(data.x_val[:60], training=False)), axis=-1)
    assert acc[1, 1] == pytest.approx(np.mean(pred == data.y_val[:60]))


ASSIGN = """
[data]
name = "synthetic"
[space]
kind = "assignment"
model = "net_a.keras"
[multipliers]
library = "evoapproxlib8u"
allowed = ["mul8u_1JFF", "mul8u_2AC", "mul8u_L40", "mul8u_QKX"]
[training]
val_samples = 60
[search]
population = 3
generations = 2
seed = 5
objectives = ["error", "power_rel"]
[executor]
workers = 1
"""


def _cli(*argv) -> subprocess.Popen:
    import os

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    return subprocess.Popen([sys.executable, "-m", "evoapproxnas", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


@pytest.fixture(scope="module")
def converted(trained, tmp_path_factory) -> Path:
    """``trained`` converted by ``evoapproxnas approximate`` (the assignment space's model)."""
    path = tmp_path_factory.mktemp("converted") / "net_a.keras"
    assert main(["approximate", str(trained), "--out", str(path), "--data", "synthetic",
                 "--calibration-images", "100"]) == 0
    return path


def test_assignment_search_resumes_exactly_after_sigkill(converted, tmp_path):
    import shutil

    shutil.copyfile(converted, tmp_path / "net_a.keras")
    config = tmp_path / "assign.toml"
    config.write_text(ASSIGN)
    reference = tmp_path / "ref"
    _finish(_cli("run", config, "--out", reference, "--quiet", "--no-plots"))
    records = read_records(reference / "archive.jsonl")
    assert {r.generation for r in records} == {0, 1}
    assert all(r.status == "ok" and len(r.genome) == 3 for r in records)
    killed = tmp_path / "killed"
    proc = _cli("run", config, "--out", killed, "--quiet", "--no-plots")
    kill_when(proc, lambda: killed.exists() and any(
        r.generation >= 1 for r in read_records(killed / "archive.jsonl")))
    assert not (killed / "front.json").exists()
    _finish(_cli("resume", killed, "--quiet", "--no-plots"))

    def comparable(run: Path):
        rows = sorted((r.without_timings() for r in read_records(run / "archive.jsonl")),
                      key=lambda r: r["hash"])
        front = json.loads((run / "front.json").read_text())
        return rows, [{k: v for k, v in m.items() if k != "timings"} for m in front["front"]]

    assert comparable(killed) == comparable(reference)


def test_a_sensitivity_guided_search_starts_from_the_maps_cheapest_assignments(converted,
                                                                                tmp_path):
    import shutil

    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter

    shutil.copyfile(converted, tmp_path / "net_a.keras")
    allowed = ["mul8u_1JFF", "mul8u_2AC", "mul8u_L40", "mul8u_QKX"]
    assert main(["sensitivity", str(tmp_path / "net_a.keras"), "--library", LIB, "--data",
                 "synthetic", "--out", str(tmp_path / "sens"), "--multipliers",
                 ",".join(allowed), "--val-images", "60", "--quiet"]) == 0
    config = tmp_path / "guided.toml"
    config.write_text(ASSIGN.replace('model = "net_a.keras"', 'model = "net_a.keras"\n'
                                     'sensitivity = "sens/sensitivity.json"\n'
                                     'sensitivity_share = 1.0')
                      .replace("generations = 2", "generations = 1"))
    run = create_run(config, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["space"]["sensitivity"] == "sensitivity.json"  # the run keeps its own copy
    (tmp_path / "sens" / "sensitivity.json").unlink()  # ... and needs nothing outside it
    run_campaign(run.path, reporter=SilentReporter())
    # every sampled genome is the map's rule for some tolerance (plain Python from the file)
    sens = json.loads((tmp_path / "run" / "sensitivity.json").read_text())
    columns = [sens["multipliers"].index(name) for name in allowed]  # gene order
    drops = [[sens["base_accuracy"] - row[j] for j in columns] for row in sens["accuracy"]]
    power = [sens["power_rel"][j] for j in columns]
    expected = {cheapest_within(drops, power, t) for t in {d for row in drops for d in row}}
    records = read_records(tmp_path / "run" / "archive.jsonl")
    assert records and all(tuple(r.genome) in expected for r in records)
