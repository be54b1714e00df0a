"""Fixtures of the tiny real campaigns' tests: uninterrupted reference runs (one per test
module that asks, so the modules can run on different xdist workers)."""

from pathlib import Path

import pytest

from ._campaigns import TINY, cli, finish, kernel_env


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted pymoo run of 2 generations."""
    out = tmp_path_factory.mktemp("ref") / "run"
    finish(cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots"))
    return out


@pytest.fixture(scope="module")
def production_reference(tmp_path_factory) -> Path:
    """The same run under the float kernels a user's run gets on this CPU (oneDNN's with
    AVX-512; the tests asking for it skip where those are Eigen's)."""
    out = tmp_path_factory.mktemp("ref-production") / "run"
    finish(cli("run", TINY, "--out", out, "--set", "search.generations=2", "--quiet",
               "--no-plots", env=kernel_env("production")))
    return out
