"""The machine a benchmark ran on, named in its results: the CPU model and its widest SIMD
path (timings and even trained accuracies differ between AVX-512 and AVX2-only machines,
whose TensorFlow builds pick different kernels)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and its widest vector extension, e.g. ``AMD EPYC (AVX-512)``."""
    model, flags = None, None
    try:
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and flags is None:
                flags = set(value.split())
    except OSError:
        pass
    name = model or platform.processor() or "unknown CPU"
    flags = flags or set()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return f"{name} ({simd})" if simd else name
