"""Build and load the product-table custom op (C++), cached per TensorFlow version.

The shared library is compiled from ``kernels/lut_ops.cc`` with TensorFlow's own compile and
link flags (``tf.sysconfig``) and a portable flag set (``-O3``, no ``-march=native``): the hot
loops carry AVX-512 / AVX2 / generic builds (GCC function target attributes) selected at run
time from the CPU's features, so one cached file is safe on any x86-64 machine.
``$EVOAPPROXNAS_OP_SIMD`` = avx512 | avx2 | generic asks for one build; on a CPU that lacks it
the op runs the best build the CPU has (``evoapproxnas.approx.ops`` warns once), and any other
value is an error. ``simd_info()`` asks the loaded library which build it runs and what the CPU
supports (``evoapproxnas build-op --info`` prints it).

Cache folder: ``$EVOAPPROXNAS_OP_DIR`` if set, else
``$XDG_CACHE_HOME/evoapproxnas/ops/tf-<version>`` (default ``~/.cache``). The file name carries
a hash of the source and flags, and is written to a temporary name then renamed, so two
processes building at once never load a half-written library. Nothing is built or loaded at
import time.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from evoapproxnas.errors import UserError

SOURCE = Path(__file__).resolve().parent / "kernels" / "lut_ops.cc"
ENV_DIR = "EVOAPPROXNAS_OP_DIR"
ENV_CXX = "CXX"
ENV_SIMD = "EVOAPPROXNAS_OP_SIMD"
# the builds of the hot loop, indexed by the dispatcher's level (kernels/lut_ops.cc)
SIMD_KERNELS = ("generic", "avx2", "avx512")
SIMD_NAMES = {"generic": "generic C++", "avx2": "AVX2", "avx512": "AVX-512"}
BASE_FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-Wno-deprecated-declarations")

_lock = threading.Lock()
_loaded: dict[str, tuple[object, Path]] = {}  # library name -> (op module, file loaded)
_handles: dict[Path, ctypes.CDLL] = {}  # the same files opened through ctypes


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
    return _load(force_build)[0]


def _load(force_build: bool = False) -> tuple[object, Path]:
    """The op module and the file it was loaded from (the first copy of this name loaded)."""
    with _lock:
        path = build(force=force_build)
        key = path.name  # same name = same source and flags: never load a copy twice
        if key not in _loaded:
            import tensorflow as tf

            _loaded[key] = (tf.load_op_library(str(path)), path)
        return _loaded[key]


@dataclass(frozen=True)
class SimdInfo:
    """Which build of the op's hot loop runs, as the loaded library's dispatcher reports it."""

    kernel: str  # the build the ops use now: "avx512", "avx2" or "generic"
    supported: tuple[str, ...]  # the builds this CPU can run, best first
    requested: str | None  # what $EVOAPPROXNAS_OP_SIMD asks for (None when unset)
    library: Path  # the op library that answered

    @property
    def fallback(self) -> bool:
        """True when ``$EVOAPPROXNAS_OP_SIMD`` asks for a build this CPU cannot run."""
        return self.requested is not None and self.requested != self.kernel

    @property
    def quantize_kernel(self) -> str:
        """The fused activation quantizer is vectorized with AVX-512 only (else scalar)."""
        return "avx512" if self.kernel == "avx512" else "generic"

    def fallback_message(self) -> str:
        """One sentence on a request the CPU cannot honour (empty when there is none)."""
        if not self.fallback:
            return ""
        return (f"{ENV_SIMD}={self.requested} asks for the {SIMD_NAMES[self.requested]} kernel "
                f"but this CPU lacks {SIMD_NAMES[self.requested]}; the op uses "
                f"{SIMD_NAMES[self.kernel]} ({self.kernel}) instead")

    def describe(self) -> str:
        """Lines for people: the kernel in use, what the CPU supports, the request."""
        why = "chosen by $" + ENV_SIMD if self.requested and not self.fallback else "CPU's best"
        lines = [
            f"SIMD kernel in use: {self.kernel} ({SIMD_NAMES[self.kernel]}, {why})",
            f"CPU supports: {', '.join(self.supported)}",
            f"fused quantizer: {self.quantize_kernel}",
            f"{ENV_SIMD}: {self.requested or 'unset'}",
        ]
        if self.fallback:
            lines.append(f"warning: {self.fallback_message()}")
        return "\n".join(lines)


def simd_info() -> SimdInfo:
    """Ask the op library (built and loaded if needed) which SIMD build its dispatcher runs now
    (``$EVOAPPROXNAS_OP_SIMD`` is read at each call, as the ops do) and which the CPU supports.
    An unknown ``$EVOAPPROXNAS_OP_SIMD`` is a ``UserError``, as it is for the ops."""
    _, path = _load()
    with _lock:
        if path not in _handles:  # the very file TensorFlow loaded: dlopen returns its mapping
            _handles[path] = ctypes.CDLL(str(path))
        lib = _handles[path]
    used, cpu, requested = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    lib.EvoApproxSimdInfo(ctypes.byref(used), ctypes.byref(cpu), ctypes.byref(requested))
    if requested.value == -2:
        raise UserError(
            f"{ENV_SIMD} must be one of {', '.join(reversed(SIMD_KERNELS))} (or unset), got "
            f"{os.environ.get(ENV_SIMD)!r}"
        )
    return SimdInfo(
        kernel=SIMD_KERNELS[used.value],
        supported=tuple(SIMD_KERNELS[level] for level in range(cpu.value, -1, -1)),
        requested=SIMD_KERNELS[requested.value] if requested.value >= 0 else None,
        library=path,
    )
