import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import build_dataset
from evoapproxnas.hardware.learned.evaluator import load_evaluator

from .helpers import TINY

pytestmark = [pytest.mark.tf, pytest.mark.slow]  # a few seconds of training

SETTINGS = dict(epochs=6, generator_epochs=2, batch_size=64, hidden=16, depth=2,
                area_hidden=8, learning_rate=2e-2, held_out=0.25)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from evoapproxnas.hardware.learned.train import TrainSettings, save_evaluator, train_evaluator

    dataset = build_dataset(TINY)
    result = train_evaluator(dataset, TrainSettings(**SETTINGS))
    folder = save_evaluator(result, tmp_path_factory.mktemp("ev") / "tiny")
    return dataset, result, folder


def test_trained_evaluator_beats_a_mean_predictor_on_held_out_networks(trained):
    dataset, result, _ = trained
    s = result.spec["training"]
    train, held = dataset.split(s["held_out"], np.random.default_rng(s["seed"]))
    assert len(held) == 4 and not set(train) & set(held)
    k = len(dataset.grid.points)
    table = dataset.table.select(held)
    nets, pts = np.repeat(np.arange(len(held)), k), np.tile(np.arange(k), len(held))
    pred = result.evaluator.predict_logs(table, nets, pts)
    true = np.log(dataset.targets[held].reshape(-1, 3))
    mean = np.log(dataset.targets[train].reshape(-1, 3)).mean(axis=0)  # the mean predictor
    ours = ((pred - true) ** 2).mean(axis=0)
    baseline = ((mean - true) ** 2).mean(axis=0)
    assert (ours < baseline).all(), (ours, baseline)
    assert set(result.spec["report"]["mape_pct"]) == {"latency_cycles", "energy_pj",
                                                      "area_um2", "edap"}


def test_saved_evaluator_predicts_the_same_values(trained):
    from evoapproxnas.hardware.learned.train import load_keras_models

    dataset, result, folder = trained
    loaded = load_evaluator(folder)
    table = dataset.table.select(np.arange(6))
    nets, pts = np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6)
    want = result.evaluator.predict_logs(table, nets, pts)
    assert np.array_equal(loaded.predict_logs(table, nets, pts), want)
    assert np.array_equal(loaded.generate(table), result.evaluator.generate(table))
    estimator, generator = load_keras_models(folder)
    rows, net, pair = loaded.encode(table)
    assert loaded.pair_features and pair.shape == (len(rows), 4, len(E.PAIR_FEATURES))
    padded, mask = E.padded(table, rows)
    pair_pad = np.stack([E.padded(table, pair[:, k])[0] for k in range(4)], 2)
    keras_out, _ = estimator([padded[nets], mask[nets], loaded._cfg[pts], net[nets],
                              pair_pad[nets, :, pts]])
    np.testing.assert_allclose(keras_out.numpy(), want, rtol=1e-5, atol=1e-4)
    logits = generator([padded, mask, net])
    heads = [np.argmax(lg.numpy(), axis=1) for lg in logits]
    assert np.array_equal(dataset.grid.join(*heads), loaded.generate(table))


def test_missing_or_corrupt_evaluator_is_one_line(trained, tmp_path):
    from evoapproxnas.hardware.learned.evaluator import write_folder
    from evoapproxnas.hardware.learned.train import load_keras_models

    _, result, folder = trained
    with pytest.raises(UserError, match="does not exist"):
        load_evaluator(tmp_path / "nothing")
    bad = write_folder(tmp_path / "bad", result.spec, result.evaluator.weights)
    (bad / "weights.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(UserError, match="not readable"):
        load_evaluator(bad)
    (bad / "estimator.keras").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable Keras model"):
        load_keras_models(bad)
    with pytest.raises(UserError, match="exists"):
        write_folder(folder, result.spec, result.evaluator.weights)
