from dataclasses import replace

import keras
import numpy as np
import pytest

from evoapproxnas.cgp import CGPSpec, decode
from evoapproxnas.data import load_dataset
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import load_library
from evoapproxnas.nn import TrainBudget, build_model, evaluate, train_and_evaluate

from ..cgp.helpers import genome, node
from ..conftest import FLOAT_KERNELS, assert_tensorflow_runs, rerun_under

pytestmark = pytest.mark.tf

SPEC = CGPSpec(rows=1, columns=6, levels_back=6,
               functions=("conv2d", "max_pooling", "batch_norm"),
               choices={"conv2d": {"filters": [32, 64]}})


def small_cnn(input_shape, n_classes):
    """(conv 3x3 relu, batch norm, max pool) with 32 then 64 channels, then the head."""
    dna = genome(SPEC, [
        node(SPEC, "conv2d", params=(1, 0, 0, 0, 1)), node(SPEC, "batch_norm", (1, 0)),
        node(SPEC, "max_pooling", (2, 0)),
        node(SPEC, "conv2d", (3, 0), params=(1, 1, 0, 0, 1)), node(SPEC, "batch_norm", (4, 0)),
        node(SPEC, "max_pooling", (5, 0)),
    ], output=6)
    return decode(dna, SPEC, input_shape, n_classes)


@pytest.fixture(scope="module")
def fashion():
    """Fashion-MNIST from the system's dataset package (not shipped in the repository;
    scripts/setup.sh installs it, so its absence is a failure, not a skip)."""
    try:
        return load_dataset("fashion_mnist", seed=0)
    except UserError as exc:
        missing = str(exc)
    pytest.fail(f"Fashion-MNIST is not installed (run scripts/setup.sh): {missing}",
                pytrace=False)


# 2000 images x 3 epochs: exact accuracy ~0.68 (chance 0.10), 8 s on two cores
BUDGET = TrainBudget(epochs=3, train_samples=2000, val_samples=600, batch_size=64,
                     table_epochs=0)


@pytest.fixture(scope="module")
def trained(fashion):
    """One small CNN trained once on a Fashion-MNIST slice; multiplier genes -> mul8u_2AC."""
    graph = small_cnn(fashion.input_shape, fashion.n_classes)
    fine = load_library("evoapproxlib8u")["mul8u_2AC"]  # MAE 0.037 %
    result = train_and_evaluate(graph, [fine], fashion, BUDGET, seed=1, return_model=True)
    return graph, result


def accuracy_with(graph, weights, multiplier, data):
    model = build_model(graph, [load_library("evoapproxlib8u")[multiplier]])
    model.set_weights(weights)
    return evaluate(model, data.x_val[:BUDGET.val_samples], data.y_val[:BUDGET.val_samples], 200)


@pytest.mark.slow
def test_training_beats_chance_and_coarser_multiplier_costs_accuracy(fashion, trained):
    graph, result = trained
    assert result.status == "ok", result.reason
    assert result.val_accuracy_exact > 0.6  # chance is 0.10
    assert result.val_accuracy > result.val_accuracy_exact - 0.03
    coarse = accuracy_with(graph, result.model.get_weights(), "mul8u_JV3", fashion)  # MAE 2.15 %
    assert coarse < result.val_accuracy - 0.1
    assert result.train_seconds > 0 and result.eval_seconds > 0
    assert result.test_accuracy is None


@pytest.mark.slow
def test_training_through_the_tables_recovers_accuracy(fashion, trained):
    graph, result = trained
    # exact training (table_epochs = 0) does not use the table, so the same seed gives the
    # same weights for any multiplier: evaluating them with mul8u_12N4 is the exact-trained run
    before = accuracy_with(graph, result.model.get_weights(), "mul8u_12N4", fashion)
    coarse = [load_library("evoapproxlib8u")["mul8u_12N4"]]  # MAE 0.12 %, rank 228 error
    tuned = train_and_evaluate(graph, coarse, fashion, replace(BUDGET, table_epochs=1), seed=1)
    assert tuned.status == "ok", tuned.reason
    assert tuned.val_accuracy > before + 0.1
    start = train_and_evaluate(graph, coarse, fashion, replace(BUDGET, table_epochs=3), seed=1)
    assert start.status == "ok", start.reason
    assert start.val_accuracy > before + 0.1


@pytest.mark.slow
@pytest.mark.parametrize("kernels", FLOAT_KERNELS)
def test_same_seed_same_result(kernels, request):
    if rerun_under(request, kernels):  # TensorFlow here runs the other float kernels
        return
    assert_tensorflow_runs(kernels)
    data = load_dataset("synthetic", n_train=300, n_test=50, seed=2)
    graph = small_cnn(data.input_shape, data.n_classes)
    budget = TrainBudget(epochs=2, train_samples=200, val_samples=50, batch_size=32)
    runs = [train_and_evaluate(graph, None, data, budget, seed=5, return_model=True,
                               evaluate_test=True) for _ in range(2)]
    assert runs[0].val_accuracy == runs[1].val_accuracy
    assert runs[0].test_accuracy is not None
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()


def test_nan_loss_and_time_limit_are_failed_results():
    data = load_dataset("synthetic", n_train=200, n_test=20, seed=0)
    graph = small_cnn(data.input_shape, data.n_classes)
    budget = TrainBudget(epochs=1, train_samples=100, val_samples=20, batch_size=20)
    broken = replace(data, x_train=np.full_like(data.x_train, np.nan))
    result = train_and_evaluate(graph, None, broken, budget, seed=0)
    assert result.status == "failed" and "NaN" in result.reason
    slow = train_and_evaluate(graph, None, data, budget, seed=0, time_limit_s=1e-4)
    assert slow.status == "failed" and "time limit" in slow.reason
    assert slow.val_accuracy is None


def test_bad_budget_is_a_user_error():
    with pytest.raises(UserError, match="optimizer"):
        TrainBudget(optimizer="adamw2")
    with pytest.raises(UserError, match="epochs"):
        TrainBudget(epochs=0)
    with pytest.raises(UserError, match="table_epochs"):
        TrainBudget(epochs=2, table_epochs=3)
    with pytest.raises(UserError, match="lr_schedule"):
        TrainBudget(lr_schedule="step")


def test_cosine_schedule_decays_the_rate_to_zero_over_the_whole_training():
    import math

    from evoapproxnas.nn.train import _optimizer

    data = load_dataset("synthetic", n_train=200, n_test=20, seed=0)
    graph = small_cnn(data.input_shape, data.n_classes)
    budget = TrainBudget(epochs=2, table_epochs=0, train_samples=100, val_samples=20,
                         batch_size=20, learning_rate=0.01, lr_schedule="cosine")
    result = train_and_evaluate(graph, None, data, budget, seed=0, return_model=True)
    optimizer = result.model.optimizer
    assert int(optimizer.iterations) == 10  # 2 epochs of 5 batches
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    fresh = _optimizer(budget, steps=8)
    for step in (0, 2, 4, 6):  # the closed form of cosine decay (no warm-up, floor 0)
        fresh.iterations.assign(step)
        want = 0.01 * 0.5 * (1 + math.cos(math.pi * step / 8))
        assert float(fresh.learning_rate) == pytest.approx(want, rel=1e-5)
    constant = train_and_evaluate(graph, None, data, replace(budget, lr_schedule="constant"),
                                  seed=0, return_model=True)
    assert float(constant.model.optimizer.learning_rate) == pytest.approx(0.01)


def test_the_training_loop_feeds_every_image_once_per_epoch_through_one_traced_step():
    from evoapproxnas.nn.train import train_epoch, training_step

    data = load_dataset("synthetic", n_train=200, n_test=20, seed=0)
    x, y = data.x_train[:50], data.y_train[:50]
    seen = []

    def recording_step(xb, yb):
        seen.append((np.asarray(xb), np.asarray(yb)))
        return 0.5

    train_epoch(recording_step, x, y, 16, np.random.default_rng(3))
    assert [len(b) for b, _ in seen] == [16, 16, 16, 2]
    fed_x = np.concatenate([b for b, _ in seen])
    fed_y = np.concatenate([t for _, t in seen])
    order = [int(np.flatnonzero((x == row).all(axis=(1, 2, 3)))[0]) for row in fed_x]
    assert sorted(order) == list(range(50)) and order != list(range(50))  # shuffled, all once
    np.testing.assert_array_equal(fed_y, y[order])  # labels stay with their images
    seen.clear()
    train_epoch(recording_step, x, y, 16, np.random.default_rng(3))
    assert [int(np.flatnonzero((x == row).all(axis=(1, 2, 3)))[0])
            for row in np.concatenate([b for b, _ in seen])] == order  # seeded

    model = build_model(small_cnn(data.input_shape, data.n_classes), None, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step = training_step(model, x, y)
    before = [w.copy() for w in model.get_weights()]
    train_epoch(step, x, y, 16, np.random.default_rng(0))
    train_epoch(step, x, y, 16, np.random.default_rng(1))
    assert step.experimental_get_tracing_count() == 1  # the short last batch too
    assert int(model.optimizer.iterations) == 8
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
