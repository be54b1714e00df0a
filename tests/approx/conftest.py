"""Helpers for the approx tests: product tables from the bundled libraries and random ones."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from evoapproxnas.multipliers import load_library


def library_table(library: str, name: str) -> np.ndarray:
    return np.asarray(load_library(library)[name].lut)


@pytest.fixture(scope="session")
def tables() -> dict[str, np.ndarray]:
    """Named tables: random asymmetric unsigned/signed, exact, zero, and a dense approximate."""
    rng = np.random.default_rng(1234)
    return {
        "random_u": rng.integers(0, 65536, (256, 256)).astype(np.uint16),
        "random_s": rng.integers(-32768, 32768, (256, 256)).astype(np.int16),
        "exact_u": library_table("evoapproxlib8u", "mul8u_1JFF"),
        "exact_s": library_table("evoapproxlib8s", "mul8s_1KV8"),
        "zero_u": library_table("evoapproxlib8u", "mul8u_E9R"),
        "L40_u": library_table("evoapproxlib8u", "mul8u_L40"),
    }


def random_codes(rng: np.random.Generator, shape, signed: bool) -> np.ndarray:
    if signed:
        return rng.integers(-128, 128, shape).astype(np.int8)
    return rng.integers(0, 256, shape).astype(np.uint8)


@pytest.fixture(scope="session")
def compiled_op():
    """Compile the op (or find it in the cache) once, before the first test that asks: on a
    cold cache that is the slowest step (10-20 s on two cores).

    A failed build fails every TensorFlow test of this folder (``_the_op_must_build``):
    scripts/setup.sh installs g++, so the op builds wherever the suite is meant to run, and
    without it the "auto" backend would quietly fall back to the pure-TensorFlow path, and
    the tests comparing the op with that path would compare it with itself. The tests of the
    fallback choose it explicitly (backend="tf", $EVOAPPROXNAS_APPROX_BACKEND=tf, or a
    simulated BuildError)."""
    from evoapproxnas.approx import build, ops

    try:
        build.load()
        failure = None
    except build.BuildError as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(f"the approximate-multiplication op did not build: {failure}; run "
                    "scripts/setup.sh (it installs g++)", pytrace=False)
    assert ops.op_available(), "the op built but the layers' 'auto' backend does not use it"


@pytest.fixture(autouse=True)
def _the_op_must_build(request):
    """Every test of this folder that needs TensorFlow runs with the op built (the others,
    e.g. under -m "not tf", do not import TensorFlow for it)."""
    if request.node.get_closest_marker("tf") is not None:
        request.getfixturevalue("compiled_op")


def case_seed(*parts) -> int:
    """A generator seed that depends only on a test case's parameters."""
    return zlib.crc32(repr(parts).encode())


def assert_straight_through(exact_layer, table_layer, x: np.ndarray) -> np.ndarray:
    """Train-mode gradients (input, kernel, bias) of one weighted loss through ``exact_layer``
    and through ``table_layer`` (the same weights, training through its tables) agree, with
    the activation range frozen, while the forward outputs differ (the table path really
    uses the table). Returns the table layer's training-mode output."""
    import tensorflow as tf

    grads, outs = [], []
    for lay in (exact_layer, table_layer):
        lay.input_range.assign(exact_layer.input_range.numpy() * [1, 1, 0])
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = lay(xt, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 1.0 + y.shape[-1]))
        grads.append(tape.gradient(loss, [xt, lay.kernel, lay.bias]))
        outs.append(y.numpy())
    for g_exact, g_tables in zip(*grads, strict=True):
        assert g_exact is not None and np.abs(g_exact.numpy()).sum() > 0
        np.testing.assert_allclose(g_tables.numpy(), g_exact.numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(outs[0], outs[1])
    return outs[1]
