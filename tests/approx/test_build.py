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

# A stand-in compiler: it records its call, waits until `want` calls have started (so that the
# builds overlap for sure), then writes a real op library to the -o path slowly, in chunks.
FAKE_CXX = """#!{python}
import pathlib, sys, time
args = sys.argv[1:]
calls = pathlib.Path({calls!r})
with open(calls / f"call-{{len(list(calls.iterdir()))}}-{{id(args)}}", "w"):
    pass
deadline = time.monotonic() + 120
while len(list(calls.iterdir())) < {want} and time.monotonic() < deadline:
    time.sleep(0.05)
data = pathlib.Path({library!r}).read_bytes()
with open(args[args.index("-o") + 1], "wb") as out:
    for i in range(0, len(data), len(data) // 4 + 1):
        out.write(data[i : i + len(data) // 4 + 1])
        out.flush()
        time.sleep(0.1)
"""


def fake_compiler(folder, library, want: int):
    """Write FAKE_CXX under ``folder``; return its path and the folder recording its calls."""
    import sys

    calls = folder / "calls"
    calls.mkdir(parents=True)
    exe = folder / "fake-cxx"
    exe.write_text(FAKE_CXX.format(python=sys.executable, calls=str(calls), want=want,
                                   library=str(library)))
    exe.chmod(0o755)
    return exe, calls


@pytest.mark.slow
@pytest.mark.tf
def test_concurrent_builds_into_override_folder_then_reuse(op_dir, tmp_path, monkeypatch,
                                                           capsys):
    """Two processes (a child, and this one) building at once into an empty folder both get a
    complete library, and the child loads and runs it.

    The compiler is a stand-in that copies the real library (built once, in the user cache,
    as the kernel tests need anyway) slowly, after both builds have started: a build that
    wrote in place, or took a file still being written, would fail here."""
    import subprocess
    import sys

    real = build.build()  # the real compile of this source (cached per source and flags)
    cxx, calls = fake_compiler(tmp_path / "two", real, want=2)
    monkeypatch.setenv(build.ENV_DIR, str(op_dir))
    monkeypatch.setenv("CXX", str(cxx))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env)
    try:
        path = build.build()  # builds too: the stand-in waits until both have started
    finally:
        assert child.wait(timeout=300) == 0
    assert len(list(calls.iterdir())) == 2  # both processes ran the compiler, at the same time
    assert path == build.library_path() and path.parent == op_dir
    assert path.name.startswith("lut_ops-") and path.suffix == ".so"
    assert path.name == real.name and path.read_bytes() == real.read_bytes()
    (op_dir / "lut_ops-000000000000.so").write_bytes(b"stale")
    cxx, calls = fake_compiler(tmp_path / "one", real, want=1)
    monkeypatch.setenv("CXX", str(cxx))
    assert build.build(force=True) == path  # a rebuild prunes builds of other sources
    assert len(list(calls.iterdir())) == 1
    assert sorted(p.name for p in op_dir.iterdir()) == [path.name]  # no temp files left
    stamp = path.stat().st_mtime_ns
    assert build.build() == path and path.stat().st_mtime_ns == stamp  # cached, not rebuilt
    assert len(list(calls.iterdir())) == 1
    assert cli.main(["build-op"]) == 0
    assert str(path) in capsys.readouterr().out


@pytest.mark.tf
def test_build_op_info_prints_the_kernel_in_use(monkeypatch, capsys):
    monkeypatch.delenv(build.ENV_SIMD, raising=False)
    assert cli.main(["build-op", "--info"]) == 0
    out = capsys.readouterr().out
    info = build.simd_info()
    assert f"SIMD kernel in use: {info.kernel} " in out
    assert f"CPU supports: {', '.join(info.supported)}" in out
    monkeypatch.setenv(build.ENV_SIMD, "generic")
    assert cli.main(["build-op", "--info"]) == 0
    assert "SIMD kernel in use: generic (generic C++, chosen by" in capsys.readouterr().out


@pytest.mark.tf
def test_default_cache_is_per_tensorflow_version(monkeypatch, tmp_path):
    import tensorflow as tf

    monkeypatch.delenv(build.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert build.cache_dir() == tmp_path / "evoapproxnas" / "ops" / f"tf-{tf.__version__}"


@pytest.mark.tf
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
        "import sys, evoapproxnas, evoapproxnas.approx, evoapproxnas.cli.approx;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported';"
        "from evoapproxnas.approx import build; assert not build._loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
