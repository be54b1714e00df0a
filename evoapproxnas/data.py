"""Datasets: Fashion-MNIST (IDX files), CIFAR-10 (python pickle batches) and a synthetic set.

Every loader returns a ``Dataset`` whose images are float32 in [0, 1], NHWC, labels int64.
A validation split is carved (seeded) from the training data and the training part is
shuffled with the same seed, so its first N images are a random subset; the test set is
kept apart for final reports.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError, closest_names

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion_mnist", "cifar10", "synthetic")


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test arrays of one image classification dataset."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, int, int]
    n_classes: int


def load_dataset(name: str, data_dir=None, *, val_fraction: float = 0.1, seed: int = 0,
                 **kwargs) -> Dataset:
    """Load ``name`` ("fashion_mnist", "cifar10" or "synthetic") and split off validation.

    ``data_dir``: where the files are (Fashion-MNIST defaults to Debian's
    ``dataset-fashion-mnist`` location). ``kwargs`` go to the synthetic generator.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}{closest_names(name, DATASETS)}; "
                        f"choose one of {', '.join(DATASETS)}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise UserError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    if kwargs and name != "synthetic":
        raise UserError(f"dataset {name}: unexpected options {sorted(kwargs)}")
    if name == "fashion_mnist":
        (x, y), (xt, yt) = _fashion_mnist(Path(data_dir) if data_dir else FASHION_MNIST_DIR)
    elif name == "cifar10":
        if data_dir is None:
            raise UserError("dataset cifar10: give data_dir, the folder holding data_batch_1..5 "
                            "and test_batch (the 'cifar-10-batches-py' folder of the download)")
        (x, y), (xt, yt) = _cifar10(Path(data_dir))
    else:
        (x, y), (xt, yt) = synthetic_arrays(seed=seed, **kwargs)
    return split(name, x, y, xt, yt, val_fraction, seed)


def split(name, x, y, x_test, y_test, val_fraction: float, seed: int) -> Dataset:
    """Shuffle the training data with ``seed`` and carve the validation part off its end."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * val_fraction))
    if n_val >= len(x):
        raise UserError(f"dataset {name}: {len(x)} training images leave none after validation")
    train, val = order[:-n_val], order[-n_val:]
    n_classes = int(max(y.max(), y_test.max())) + 1
    return Dataset(name, x[train], y[train], x[val], y[val], x_test, y_test,
                   tuple(int(v) for v in x.shape[1:]), n_classes)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes into an array of its shape."""
    with _open(path) as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise UserError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"{path}: truncated IDX file ({body.size} of {int(np.prod(dims))} bytes)")
    return body.reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist(folder: Path):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    paths = [_find(folder, stem) for stem in stems]
    if None in paths:
        missing = [s for s, p in zip(stems, paths) if p is None]
        raise UserError(
            f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}[.gz]); install "
            "it with 'apt-get install dataset-fashion-mnist' or point data_dir at a folder "
            "holding the four IDX files"
        )
    x, y, xt, yt = (read_idx(p) for p in paths)
    if x.ndim != 3 or xt.ndim != 3 or len(x) != len(y) or len(xt) != len(yt):
        raise UserError(f"Fashion-MNIST in {folder}: image and label files do not match")
    def to_float(a):
        return a[..., None].astype(np.float32) / 255.0

    return (to_float(x), y.astype(np.int64)), (to_float(xt), yt.astype(np.int64))


def _cifar_batch(path: Path):
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data, labels = batch[b"data"], batch[b"labels"]
    except (OSError, pickle.UnpicklingError, KeyError, EOFError) as exc:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    images = np.asarray(data, np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / 255.0, np.asarray(labels, np.int64)


def _cifar10(folder: Path):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise UserError(
            f"CIFAR-10 not found in {folder} (missing {', '.join(missing)}); download the "
            "python version (cifar-10-python.tar.gz), unpack it and point data_dir at its "
            "'cifar-10-batches-py' folder"
        )
    parts = [_cifar_batch(folder / n) for n in names[:5]]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return (x, y), _cifar_batch(folder / "test_batch")


def synthetic_arrays(*, n_train: int = 600, n_test: int = 200, image_size: int = 16,
                     channels: int = 1, n_classes: int = 4, noise: float = 0.15, seed: int = 0):
    """Class-dependent stripe patterns (class k: orientation and frequency) plus noise."""
    if n_classes < 2 or n_classes > 8 or image_size < 4 or n_train < 2 or n_test < 1:
        raise UserError("synthetic dataset: need 2..8 classes, image_size >= 4, n_train >= 2, "
                        "n_test >= 1")
    rng = np.random.default_rng(seed + 7919)
    coords = np.arange(image_size) / image_size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    patterns = []
    for k in range(n_classes):
        angle = np.pi * (k % 4) / 4
        freq = 2 + 2 * (k // 4)
        wave = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
        patterns.append(0.5 + 0.35 * wave)
    patterns = np.stack(patterns)

    def make(n):
        labels = rng.integers(0, n_classes, n)
        shift = rng.integers(0, image_size, (n, 2))
        images = np.stack([np.roll(patterns[c], tuple(s), axis=(0, 1))
                           for c, s in zip(labels, shift)])
        images = images[..., None] + rng.normal(0, noise, (n, image_size, image_size, channels))
        return np.clip(images, 0, 1).astype(np.float32), labels.astype(np.int64)

    return make(n_train), make(n_test)
