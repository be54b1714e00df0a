import json

import pytest

from evoapproxnas.cli import main
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model

LAYERS = [
    {"kind": "conv2d", "input_shape": [28, 28, 1], "filters": 8, "kernel": [3, 3],
     "strides": [1, 1], "padding": "same", "multiplier": "mul8u_12N4", "name": "c1"},
    {"kind": "dense", "input_shape": [1, 1, 6272], "filters": 10, "multiplier": None,
     "name": "head"},
]


@pytest.fixture
def layers_file(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(LAYERS))
    return path


def test_estimate_layers_json(layers_file, capsys):
    from evoapproxnas.multipliers import load_library

    assert main(["hw", "estimate", "--layers", str(layers_file), "--model", "asic",
                 "--preset", "timeloop-eyeriss-like", "--set", "pe_x=7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    mult = load_library("evoapproxlib8u")["mul8u_12N4"]
    want = get_cost_model("asic", "timeloop-eyeriss-like", pe_x=7).estimate(
        [conv_layer(28, 28, 1, 8, 3, multiplier=mult), dense_layer(6272, 10)])
    assert out["networks"]["net"] == pytest.approx(want)


def test_estimate_with_search_text(layers_file, capsys):
    assert main(["hw", "estimate", "--layers", str(layers_file), "--model", "fpga",
                 "--search", "fps"]) == 0
    out = capsys.readouterr().out
    assert "fps" in out and "config" in out


@pytest.mark.parametrize("args, needle", [
    (["--set", "pe_x"], "KEY=VALUE"),
    (["--set", "pe_q=3"], "unknown hardware setting 'pe_q'"),
    (["--preset", "nope"], "unknown asic preset"),
    (["--search", "fpss"], "unknown asic metric"),
])
def test_estimate_errors_are_one_line(layers_file, capsys, args, needle):
    assert main(["hw", "estimate", "--layers", str(layers_file), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_bad_layer_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "conv2d"}')
    assert main(["hw", "estimate", "--layers", str(bad)]) == 2
    assert "JSON list" in capsys.readouterr().err
    bad.write_text(json.dumps([dict(LAYERS[0], multiplier="mul8u_12N5")]))
    assert main(["hw", "estimate", "--layers", str(bad)]) == 2
    assert "mul8u_12N4" in capsys.readouterr().err
    assert main(["hw", "estimate", "--layers", str(tmp_path / "missing.json")]) == 2


def test_presets_listing(capsys):
    assert main(["hw", "presets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["asic"]["timeloop-eyeriss-like"]["tech"]["dram_pj"] == 512.0
    assert "zynq7020" in data["fpga"]
    assert main(["hw", "presets", "--model", "fpga"]) == 0
    assert "fpga zcu102:" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.tf
def test_estimate_keras_model(tmp_path, capsys):
    import keras
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="valid")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10)(x)
    path = tmp_path / "m.keras"
    keras.Model(inputs, outputs).save(path)
    assert main(["hw", "estimate", "--keras", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["networks"]["m"]
    want = get_cost_model("asic").estimate([conv_layer(16, 16, 3, 8, 3, 2),
                                            conv_layer(8, 8, 8, 8, 3, 1, "valid", groups=8),
                                            dense_layer(6 * 6 * 8, 10)])
    assert got == pytest.approx(want)


def test_estimate_run_front_members(tmp_path, capsys):
    from pathlib import Path

    import numpy as np

    from evoapproxnas import cgp
    from evoapproxnas.config import load_config
    from evoapproxnas.hardware import layers_from_graph
    from evoapproxnas.search.study.records import EvaluationRecord, FrontMember
    from evoapproxnas.search.study.rundir import RunDir, RunFront

    tiny = Path(__file__).parents[1] / "search" / "tiny.toml"
    cfg = load_config(tiny, ["search.objectives=['error','fps']", "hardware.model='fpga'",
                             "hardware.preset='zynq7020-lut'",
                             "search.hv_reference={error=1.0, fps=0}"])
    run = RunDir.create(tmp_path / "run", cfg, (8, 8, 1), 3, str(tiny))
    problem = run.problem
    rng = np.random.default_rng(2)
    genomes = [cgp.random_genome(problem.spec, rng) for _ in range(2)]
    members = [FrontMember(EvaluationRecord(hash=f"h{i}", generation=0, index=i,
                                            genome=g.tolist(), status="ok", reason=None,
                                            violation=0.0, metrics={}, seed=0))
               for i, g in enumerate(genomes)]
    run.write_front(RunFront(["error", "fps"], members, 2, 0))
    assert main(["hw", "estimate", "--run", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "fpga" and out["preset"] == "zynq7020-lut"
    model = get_cost_model("fpga", "zynq7020-lut")
    for i, g in enumerate(genomes):
        layers = layers_from_graph(problem.decode(g), problem.multipliers)
        assert out["networks"][f"h{i}"] == pytest.approx(model.estimate(layers))
    assert main(["hw", "estimate", "--run", str(tmp_path / "nope")]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def _fpga_run(tmp_path, *extra):
    """A run directory of the tiny campaign (FPGA objectives) with a two-member front."""
    from pathlib import Path

    import numpy as np

    from evoapproxnas import cgp
    from evoapproxnas.config import load_config
    from evoapproxnas.search.study.records import EvaluationRecord, FrontMember
    from evoapproxnas.search.study.rundir import RunDir, RunFront

    tiny = Path(__file__).parents[1] / "search" / "tiny.toml"
    cfg = load_config(tiny, ["search.objectives=['error','fps']", "hardware.model='fpga'",
                             "hardware.preset='zynq7020-lut'", "cgp.head_multiplier='gene'",
                             "search.hv_reference={error=1.0, fps=0}", *extra])
    run = RunDir.create(tmp_path / "run", cfg, (8, 8, 1), 3, str(tiny))
    rng = np.random.default_rng(3)
    genomes = [cgp.random_genome(run.problem.spec, rng) for _ in range(2)]
    members = [FrontMember(EvaluationRecord(hash=f"h{i}", generation=0, index=i,
                                            genome=g.tolist(), status="ok", reason=None,
                                            violation=0.0, metrics={}, seed=0))
               for i, g in enumerate(genomes)]
    run.write_front(RunFront(["error", "fps"], members, 2, 0))
    return run, genomes


def test_pipeline_command(tmp_path, capsys):
    from evoapproxnas.hardware import layers_from_graph, search_pipeline

    run, genomes = _fpga_run(tmp_path)
    layers = layers_from_graph(run.problem.decode(genomes[1]), run.problem.choice)
    want = search_pipeline(layers, ["zynq7020", "zynq7020"], "zynq7020-lut")
    assert main(["hw", "pipeline", "--run", str(run.path), "--member", "1",
                 "--fpgas", "zynq7020,zynq7020", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hash"] == "h1" and out["fps"] == pytest.approx(want.fps)
    assert out["efficiency"] == pytest.approx(want.efficiency)
    assert [s["cycles"] for s in out["stages"]] == list(want.stage_cycles)
    assert sum(len(s["layers"]) for s in out["stages"]) == len(layers)
    assert main(["hw", "pipeline", "--run", str(run.path), "--member", "1",
                 "--fpgas", "zynq7020, xc7z020"]) == 0
    text = capsys.readouterr().out
    assert "stage 0: zynq7020" in text and "stage 1: xc7z020" in text
    assert "pipeline:" in text and "fps" in text and "efficiency" in text
    assert main(["hw", "pipeline", "--run", str(tmp_path / "nope"), "--member", "0",
                 "--fpgas", "zynq7020"]) == 2
    assert "is not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--member", "2", "--fpgas", "zynq7020"], "--member 2 is out of range"),
    (["--member", "0", "--fpgas", "zynq7020,,zynq7020"], "comma-separated"),
    (["--member", "0", "--fpgas", "zynq7030"], "unknown FPGA 'zynq7030'"),
    (["--member", "0", "--fpgas", ",".join(["zynq7020"] * 40)], "use fewer devices"),
    (["--member", "0", "--fpgas", "zynq7020", "--set", "tm_max=2"], "unknown hardware setting"),
])
def test_pipeline_command_errors_are_one_line(tmp_path, capsys, args, needle):
    run, _ = _fpga_run(tmp_path)
    assert main(["hw", "pipeline", "--run", str(run.path), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_estimate_run_reproduces_the_campaigns_search(tmp_path, capsys):
    run, genomes = _fpga_run(tmp_path, "hardware.search=true", "hardware.search_metric='fps'",
                             "search.constraints=['luts <= 6000']")
    assert main(["hw", "estimate", "--run", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["networks"]
    for i, g in enumerate(genomes):
        recorded = run.problem.cheap_metrics(run.problem.decode(g))
        assert out[f"h{i}"]["fps"] == pytest.approx(recorded["fps"])
        assert out[f"h{i}"]["luts"] == pytest.approx(recorded["luts"]) and recorded["luts"] <= 6000
