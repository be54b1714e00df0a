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

SPEC = CGPSpec(rows=1, columns=3, levels_back=3, functions=("conv2d", "max_pooling"),
               choices={"conv2d": {"filters": [16, 32]}})


def small_cnn(input_shape, n_classes):
    """conv 3x3/2 16ch relu -> conv 3x3/2 32ch relu -> global average pool -> dense."""
    dna = genome(SPEC, [node(SPEC, "conv2d", params=(1, 0, 1, 0, 1)),
                        node(SPEC, "conv2d", (1, 0), params=(1, 1, 1, 0, 1))], output=2)
    return decode(dna, SPEC, input_shape, n_classes)


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion_mnist", seed=0)


def test_training_beats_chance_and_coarser_multiplier_costs_accuracy(fashion):
    lib = load_library("evoapproxlib8u")
    fine, coarse = lib["mul8u_2AC"], lib["mul8u_13QR"]
    graph = small_cnn(fashion.input_shape, fashion.n_classes)
    budget = TrainBudget(epochs=3, train_samples=3000, val_samples=600, batch_size=64)
    result = train_and_evaluate(graph, [fine], fashion, budget, seed=1, return_model=True)
    assert result.status == "ok", result.reason
    assert result.val_accuracy_exact > 0.55  # chance is 0.10
    assert result.val_accuracy > result.val_accuracy_exact - 0.03
    coarse_model = build_model(graph, [coarse])
    coarse_model.set_weights(result.model.get_weights())
    x, y = fashion.x_val[:600], fashion.y_val[:600]
    coarse_accuracy = evaluate(coarse_model, x, y, 200)
    assert coarse_accuracy < result.val_accuracy - 0.05
    assert result.train_seconds > 0 and result.eval_seconds > 0
    assert result.test_accuracy is None


def test_same_seed_same_result():
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
