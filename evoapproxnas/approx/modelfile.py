"""A Keras model file checked without Keras: is it a file of the right kind, and what images
does it take. No TensorFlow (the checks of a command run before it is imported).

A ``.keras`` file (Keras 3's ``model.save``) is a zip archive holding ``config.json`` (the
model's architecture), ``metadata.json`` and ``model.weights.h5``; a legacy ``.h5`` file is
an HDF5 file (its first bytes are the HDF5 signature). The input shape comes from
``config.json``: a Sequential model's ``build_config``, or the ``batch_shape`` of the input
layers a functional model names in ``input_layers``. Where the config does not say, it is
left unknown (``None``) and checked once Keras has loaded the model.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.paths import check_path

SUFFIXES = (".keras", ".h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first eight bytes of an HDF5 file (the HDF5 file format specification)."""
MAX_CONFIG_BYTES = 64 * 2**20
"""Largest ``config.json`` read (an architecture is kilobytes; weights are elsewhere)."""


@dataclass(frozen=True)
class ModelFile:
    """A file that has the form of a Keras model (not loaded)."""

    path: Path
    input_shapes: tuple | None = None
    """One ``(H, W, C)``-like tuple per input (``None`` for a free size), as the file's
    config declares them; ``None``: the config does not say (legacy ``.h5`` files too)."""

    def check_images(self, input_shape, what: str) -> None:
        """``UserError`` (one line) unless the declared input takes images of ``input_shape``
        (nothing to check when the file does not declare it)."""
        if self.input_shapes is None:
            return
        want = tuple(int(v) for v in input_shape)
        shapes = self.input_shapes
        if len(shapes) != 1 or len(shapes[0]) != len(want):
            shown = ", ".join(str(tuple(s)) for s in shapes)
            raise UserError(f"{self.path}: the model takes inputs {shown}; it must take one "
                            f"batch of images (H, W, C) to run on {what}")
        got = shapes[0]
        if any(g is not None and g != w for g, w in zip(got, want, strict=True)):
            raise UserError(f"{self.path}: the model takes images {tuple(got)} but {what} has "
                            f"{want}; give a model trained on this dataset")


def check_model_file(path, what: str = "model file") -> ModelFile:
    """``path`` as a ``ModelFile``, or a one-line ``UserError`` when it is missing, a folder,
    not named ``.keras``/``.h5`` or not such a file inside (a zip with ``config.json``, an
    HDF5 file)."""
    if not str(path):
        raise UserError(f"no {what} given; give a .keras file saved by model.save()")
    path = check_path(path, what)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; give a .keras file saved by "
                        "model.save()")
    if not path.is_file():
        raise UserError(f"{what} {path} is not a file; give a .keras file saved by "
                        "model.save()")
    if path.suffix not in SUFFIXES:
        raise UserError(f"{path}: not a Keras model file (expected a .keras file saved by "
                        "model.save())")
    if path.suffix == ".h5":
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(HDF5_SIGNATURE))
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
        if head != HDF5_SIGNATURE:
            raise UserError(f"{path}: not a Keras model file (a .h5 file is an HDF5 file)")
        return ModelFile(path)
    return ModelFile(path, _input_shapes(_read_config(path)))


def _read_config(path: Path) -> dict:
    problem = "a .keras file is a zip archive holding config.json"
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ValueError("config.json is too large")
            config = json.loads(archive.read(info).decode("utf-8"))
    except KeyError:
        raise UserError(f"{path}: not a Keras model file ({problem})") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError,
            NotImplementedError) as exc:
        detail = "" if isinstance(exc, zipfile.BadZipFile) else f": {exc}"
        raise UserError(f"{path}: not a Keras model file ({problem}{detail})") from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise UserError(f"{path}: not a Keras model file (its config.json names no class)")
    return config


def _shape(value) -> tuple | None:
    """``(H, W, C)`` of a batch shape ``[None, H, W, C]`` (or ``None`` if it is not one)."""
    if not isinstance(value, list) or not value:
        return None
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
        return None
    return tuple(value[1:])


def _input_shapes(config: dict) -> tuple | None:
    """The input shapes a model config declares, or ``None`` when it does not say."""
    build = config.get("build_config")
    if isinstance(build, dict) and _shape(build.get("input_shape")) is not None:
        return (_shape(build["input_shape"]),)
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        return None
    inputs = {}
    for layer in inner["layers"]:
        if isinstance(layer, dict) and layer.get("class_name") == "InputLayer":
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            shape = _shape(cfg.get("batch_shape", cfg.get("batch_input_shape")))
            inputs[layer.get("name", cfg.get("name"))] = shape
    names = inner.get("input_layers")
    if config.get("class_name") == "Sequential" or names is None:
        first = next(iter(inputs.values()), None) if inputs else None
        return (first,) if first is not None else None
    if isinstance(names, list) and names and isinstance(names[0], str):
        names = [names]  # one input: [name, node, tensor]
    try:
        shapes = tuple(inputs[n[0]] for n in names)
    except (KeyError, TypeError, IndexError):
        return None
    return None if any(s is None for s in shapes) else shapes
