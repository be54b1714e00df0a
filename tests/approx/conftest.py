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
    cold cache that is the slowest step (10-20 s on two cores). A failure is left to the tests
    of the op to report; those of the TensorFlow path still run."""
    from evoapproxnas.approx import build

    try:
        build.load()
    except build.BuildError:
        pass


def case_seed(*parts) -> int:
    """A generator seed that depends only on a test case's parameters."""
    return zlib.crc32(repr(parts).encode())
