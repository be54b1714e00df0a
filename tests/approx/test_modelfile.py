"""The model file's form, checked without Keras: the input shapes read from real files Keras
saved agree with Keras's own ``model.input_shape``; damaged files are one line each."""

from __future__ import annotations

import json
import zipfile

import pytest

from evoapproxnas.approx.modelfile import check_model_file
from evoapproxnas.errors import UserError


@pytest.mark.tf
def test_input_shapes_agree_with_keras(tmp_path):
    import keras

    inp = keras.Input((12, 10, 3))
    x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inp))
    functional = keras.Model(inp, keras.layers.Dense(4)(x))
    outer_in = keras.Input((12, 10, 3))
    nested = keras.Model(outer_in, functional(outer_in))
    sequential = keras.Sequential([keras.Input((9, 9, 1)), keras.layers.Conv2D(2, 3)])
    built = keras.Sequential([keras.layers.Conv2D(2, 3)])
    built.build((None, 8, 7, 2))
    two = keras.Model([inp, keras.Input((5,))], functional(inp))
    for name, model in [("functional", functional), ("nested", nested),
                        ("sequential", sequential), ("built", built), ("two", two)]:
        path = tmp_path / f"{name}.keras"
        model.save(path)
        shapes = model.input_shape if isinstance(model.input_shape, list) else [
            model.input_shape]
        assert check_model_file(path).input_shapes == tuple(tuple(s[1:]) for s in shapes), name
    sequential.save(tmp_path / "legacy.h5")
    assert check_model_file(tmp_path / "legacy.h5").input_shapes is None  # checked once loaded
    check_model_file(tmp_path / "functional.keras").check_images((12, 10, 3), "the data")
    with pytest.raises(UserError, match=r"takes images \(12, 10, 3\) but the data has"):
        check_model_file(tmp_path / "functional.keras").check_images((28, 28, 1), "the data")
    with pytest.raises(UserError, match="must take one batch of images"):
        check_model_file(tmp_path / "two.keras").check_images((12, 10, 3), "the data")


def _zip(path, **members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name.replace("_", "."), text)
    return path


def test_damaged_files_are_one_line(tmp_path):
    (tmp_path / "text.keras").write_text("hello")
    (tmp_path / "text.h5").write_text("hello")
    (tmp_path / "folder.keras").mkdir()
    cases = {
        "": "no model file given",
        str(tmp_path / "missing.keras"): "does not exist",
        str(tmp_path / "folder.keras"): "is not a file",
        str(tmp_path / "text.h5"): "an HDF5 file",
        str(tmp_path / "text.keras"): "zip archive holding config.json",
        str(_zip(tmp_path / "noconfig.keras", metadata_json="{}")): "holding config.json",
        str(_zip(tmp_path / "notjson.keras", config_json="{oops")): "holding config.json",
        str(_zip(tmp_path / "list.keras", config_json="[1, 2]")): "names no class",
        str(_zip(tmp_path / "net.onnx", config_json="{}")): "expected a .keras file",
        "x" * 300 + ".keras": "cannot be a file name",
    }
    for path, text in cases.items():
        with pytest.raises(UserError, match=text) as info:
            check_model_file(path)
        assert len(str(info.value).splitlines()) == 1


def test_a_config_that_does_not_say_leaves_the_shape_unknown(tmp_path):
    config = {"class_name": "Functional", "config": {"layers": [], "input_layers": [["a", 0, 0]]}}
    path = _zip(tmp_path / "odd.keras", config_json=json.dumps(config))
    model = check_model_file(path)
    assert model.input_shapes is None
    model.check_images((28, 28, 1), "the data")  # nothing to check before Keras loads it
