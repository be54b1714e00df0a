"""Build and load the product-table custom op (C++), cached per TensorFlow version.

The shared library is compiled from ``kernels/lut_ops.cc`` with TensorFlow's own compile and
link flags (``tf.sysconfig``) and a portable flag set (``-O3``, no ``-march=native``): the hot
loops carry AVX-512 / AVX2 / generic builds (GCC function target attributes) selected at run
time from the CPU's features (``$EVOAPPROXNAS_OP_SIMD`` = avx512 | avx2 | generic caps the
choice), so one cached file is safe on any x86-64 machine. Cache folder: ``$EVOAPPROXNAS_OP_DIR`` if set, else
``$XDG_CACHE_HOME/evoapproxnas/ops/tf-<version>`` (default ``~/.cache``). The file name carries
a hash of the source and flags, and is written to a temporary name then renamed, so two
processes building at once never load a half-written library. Nothing is built or loaded at
import time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from evoapproxnas.errors import UserError

SOURCE = Path(__file__).resolve().parent / "kernels" / "lut_ops.cc"
ENV_DIR = "EVOAPPROXNAS_OP_DIR"
ENV_CXX = "CXX"
BASE_FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-Wno-deprecated-declarations")

_lock = threading.Lock()
_loaded: dict[str, object] = {}


class BuildError(UserError):
    """The custom op could not be compiled (no compiler, or a compiler error)."""


def cache_dir() -> Path:
    """The folder holding the compiled op for the installed TensorFlow version."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override).expanduser()
    import tensorflow as tf

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "evoapproxnas" / "ops" / f"tf-{tf.__version__}"


def _flags() -> tuple[list[str], list[str]]:
    import tensorflow as tf

    return list(tf.sysconfig.get_compile_flags()), list(tf.sysconfig.get_link_flags())


def library_path() -> Path:
    """Where the library for this source, compiler flags and TensorFlow version lives."""
    compile_flags, link_flags = _flags()
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join([*BASE_FLAGS, *compile_flags, *link_flags]).encode())
    return cache_dir() / f"lut_ops-{digest.hexdigest()[:12]}.so"


def build(force: bool = False, verbose: bool = False) -> Path:
    """Compile the op if it is not cached yet (or ``force``); return the library path."""
    target = library_path()
    if target.is_file() and not force:
        return target
    wanted = os.environ.get(ENV_CXX)
    cxx = shutil.which(wanted) if wanted else shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise BuildError(
            "no C++ compiler found to build the approximate-multiplication op; "
            "install g++ (Debian: apt-get install g++) or set CXX"
        )
    compile_flags, link_flags = _flags()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    cmd = [cxx, *BASE_FLAGS, *compile_flags, str(SOURCE), "-o", tmp, *link_flags]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            tail = [line for line in lines if "error" in line][:10] or lines[-15:]
            raise BuildError(
                "compiling the approximate-multiplication op failed:\n" + "\n".join(tail)
            )
        if verbose:
            print(" ".join(cmd))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    for old in target.parent.glob("lut_ops-*.so"):  # builds of older sources (best effort;
        if old != target:  # a process that loaded one keeps its mapping)
            old.unlink(missing_ok=True)
    return target


def load(force_build: bool = False):
    """Build if needed and load the op library (once per process); return the op module."""
    with _lock:
        path = build(force=force_build)
        key = path.name  # same name = same source and flags: never load a copy twice
        if key not in _loaded:
            import tensorflow as tf

            _loaded[key] = tf.load_op_library(str(path))
        return _loaded[key]
