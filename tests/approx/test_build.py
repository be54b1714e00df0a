"""Building the custom op: cache folder override, atomic write, reuse, clear errors, CLI."""

from __future__ import annotations

import os

import pytest

from evoapproxnas import cli
from evoapproxnas.approx import build


@pytest.fixture(scope="module")
def op_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ops")


CHILD = """
import numpy as np
from evoapproxnas.approx import build, ops
build.load()
lut = np.arange(65536, dtype=np.uint16).reshape(256, 256)
out = ops.lut_matmul(np.ones((1, 2), np.uint8), np.ones((2, 1), np.uint8), lut, backend="op")
assert int(out.numpy()[0, 0]) == 2 * 257, out
"""


def test_concurrent_builds_into_override_folder_then_reuse(op_dir, monkeypatch, capsys):
    """Two processes building at once into an empty folder both load a complete library."""
    import subprocess
    import sys

    env = {**os.environ, build.ENV_DIR: str(op_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=env) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    monkeypatch.setenv(build.ENV_DIR, str(op_dir))
    path = build.library_path()
    assert path.parent == op_dir and path.name.startswith("lut_ops-") and path.suffix == ".so"
    (op_dir / "lut_ops-000000000000.so").write_bytes(b"stale")
    assert build.build(force=True) == path  # a rebuild prunes builds of other sources
    assert sorted(p.name for p in op_dir.iterdir()) == [path.name]  # no temp files left
    stamp = path.stat().st_mtime_ns
    assert build.build() == path and path.stat().st_mtime_ns == stamp  # cached, not rebuilt
    assert cli.main(["build-op"]) == 0
    assert str(path) in capsys.readouterr().out


def test_default_cache_is_per_tensorflow_version(monkeypatch, tmp_path):
    import tensorflow as tf

    monkeypatch.delenv(build.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert build.cache_dir() == tmp_path / "evoapproxnas" / "ops" / f"tf-{tf.__version__}"


def test_missing_or_failing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(build.BuildError, match="no C\\+\\+ compiler"):
        build.build()
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(build.BuildError, match="compiling .* failed"):
        build.build()
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_importing_the_package_neither_imports_tensorflow_nor_loads_the_op():
    import subprocess
    import sys

    code = (
        "import sys, evoapproxnas, evoapproxnas.approx, evoapproxnas.approx.cli;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported';"
        "from evoapproxnas.approx import build; assert not build._loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
