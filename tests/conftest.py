"""Shared test setup: quiet TensorFlow, no network, small thread pools.

TensorFlow's float kernels: the suite runs with Eigen's (``TF_ENABLE_ONEDNN_OPTS=0``) unless
told otherwise. Production lets ``evoapproxnas.tf_env`` choose (oneDNN's on CPUs with
AVX-512), so the strongest determinism and resume tests run under both (``FLOAT_KERNELS``):
their subprocesses get ``float_kernel_env(kernels)``, and an in-process test reruns itself
in a pytest subprocess (``rerun_under``), since TensorFlow reads the variable at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoapproxnas.tf_env import apply_onednn_default, default_onednn_setting

sys.path.insert(0, str(Path(__file__).parent))  # tests/_fakes.py for every test folder
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLOAT_KERNELS = ("eigen", "production")
KERNELS_ENV = "EVOAPPROXNAS_TEST_FLOAT_KERNELS"  # set by rerun_under for the pytest it starts
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"

if os.environ.get(KERNELS_ENV) == "production":
    os.environ.pop(ONEDNN, None)
    apply_onednn_default()
else:
    os.environ.setdefault(ONEDNN, "0")


def pytest_configure(config):
    # wherever a test reaches the op, a failed build of it fails the test instead of quietly
    # switching to the pure-TensorFlow fallback (scripts/setup.sh installs g++); the tests of
    # the fallback simulate the failure inside pytest.warns, which overrides this filter
    config.addinivalue_line(
        "filterwarnings",
        "error:evoapproxnas. the approximate-multiplication op could not be built:RuntimeWarning")


def float_kernel_env(kernels: str) -> dict[str, str]:
    """The environment for a subprocess (a campaign, or a pytest) that must run TensorFlow
    with ``kernels``: "eigen" (forced) or "production" (``TF_ENABLE_ONEDNN_OPTS`` unset, as a
    user's shell has it: the campaign's workers and ``evoapproxnas.approx`` choose). Skips
    "production" where it is Eigen's too (x86 without AVX-512): the "eigen" case is that."""
    env = {**os.environ, KERNELS_ENV: kernels}
    if kernels == "eigen":
        env[ONEDNN] = "0"
    elif kernels == "production":
        if default_onednn_setting() == "0":
            pytest.skip("production runs Eigen's float kernels on this CPU (no AVX-512): the "
                        "eigen case covers it")
        env.pop(ONEDNN, None)
    else:
        raise ValueError(f"unknown float kernels {kernels!r}")
    return env


def in_process_kernels() -> str:
    """The float kernels TensorFlow gets (or got, at its import) in this process."""
    setting = os.environ.get(ONEDNN)
    if setting == "0":
        return "eigen"
    return "production" if setting == default_onednn_setting() else f"{ONEDNN}={setting}"


def assert_tensorflow_runs(kernels: str) -> None:
    """TensorFlow in this process really uses ``kernels``' float kernels (where the CPU's
    flags say which production uses)."""
    from tensorflow.python.util import _pywrap_util_port  # no public query of this exists

    onednn = {"eigen": False, "production": default_onednn_setting() == "1"}[kernels]
    if kernels == "production" and default_onednn_setting() is None:
        return  # TensorFlow's own default on this platform: nothing to hold it to
    assert _pywrap_util_port.IsMklEnabled() == onednn, (
        f"{kernels}: TensorFlow's oneDNN kernels are "
        f"{'on' if _pywrap_util_port.IsMklEnabled() else 'off'}")


def rerun_under(request, kernels: str) -> bool:
    """For a test parametrized over ``FLOAT_KERNELS``: when this process's TensorFlow does
    not run ``kernels``, run the same test in a pytest subprocess that does, fail if it does
    not pass there, and return True (the caller then returns). False: run it here."""
    if in_process_kernels() == kernels:
        return False
    assert os.environ.get(KERNELS_ENV) != kernels, (
        f"started to run under {kernels} float kernels, TensorFlow here has {ONEDNN}="
        f"{os.environ.get(ONEDNN)}")
    env = float_kernel_env(kernels)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-q", "-p",
                           "no:cacheprovider", request.node.nodeid], env=env,
                          cwd=request.config.rootpath, capture_output=True, text=True,
                          timeout=600, check=False)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"under {kernels} float kernels:\n{tail}"
    assert "1 passed" in proc.stdout, f"under {kernels} float kernels, not run:\n{tail}"
    return True
