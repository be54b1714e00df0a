import gzip
import pickle
import struct

import numpy as np
import pytest

from evoapproxnas.data import FASHION_MNIST_DIR, load_dataset, read_idx
from evoapproxnas.errors import UserError


def write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_a_data_dir(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20) % 10
    test_images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test_images, compress)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels[:5], compress)
    data = load_dataset("fashion_mnist", tmp_path, val_fraction=0.25, seed=1)
    assert data.x_train.shape == (15, 28, 28, 1) and data.x_val.shape == (5, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.input_shape == (28, 28, 1) and data.n_classes == 10
    np.testing.assert_allclose(data.x_test[..., 0], test_images / 255.0, rtol=1e-6)
    # train + validation is a permutation of the original training set, labels kept with images
    merged = np.concatenate([data.x_train, data.x_val])[..., 0]
    merged_labels = np.concatenate([data.y_train, data.y_val])
    order = np.argsort([np.round(m * 255).astype(np.uint8).tobytes() for m in merged])
    expected = np.argsort([im.tobytes() for im in images])
    np.testing.assert_array_equal(merged_labels[order], labels[expected])


def test_split_is_seeded():
    a = load_dataset("synthetic", seed=3)
    b = load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_read_idx_rejects_other_files(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01")
    with pytest.raises(UserError, match="IDX"):
        read_idx(path)


def test_missing_dataset_says_how_to_install(tmp_path):
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", tmp_path)
    with pytest.raises(UserError, match="data_batch_1"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(UserError, match="did you mean: fashion_mnist"):
        load_dataset("fashion-mnist")


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    planes = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, 4))
        planes[name] = (data, labels)
        with open(tmp_path / name, "wb") as handle:
            pickle.dump({b"data": data, b"labels": labels}, handle)
    data = load_dataset("cifar10", tmp_path, val_fraction=0.25)
    assert data.x_train.shape == (15, 32, 32, 3) and data.x_val.shape == (5, 32, 32, 3)
    raw, labels = planes["test_batch"]
    # row layout: 1024 red, 1024 green, 1024 blue values, each row-major 32x32
    image = raw[2]
    assert data.x_test[2, 0, 1, 0] == pytest.approx(image[1] / 255)
    assert data.x_test[2, 1, 0, 1] == pytest.approx(image[1024 + 32] / 255)
    assert data.x_test[2, 31, 31, 2] == pytest.approx(image[3071] / 255)
    assert data.y_test.tolist() == labels


def test_synthetic_size_is_controllable():
    data = load_dataset("synthetic", n_train=100, n_test=30, image_size=12, n_classes=6,
                        channels=2, val_fraction=0.2)
    assert data.x_train.shape == (80, 12, 12, 2) and data.x_test.shape == (30, 12, 12, 2)
    assert data.n_classes == 6 and set(np.unique(data.y_train)) <= set(range(6))
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0


def test_installed_fashion_mnist():
    """Needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)."""
    assert FASHION_MNIST_DIR.is_dir()
    data = load_dataset("fashion_mnist")
    assert len(data.x_train) + len(data.x_val) == 60000 and len(data.x_test) == 10000
    assert len(data.x_val) == 6000
    assert np.bincount(data.y_test).tolist() == [1000] * 10
