"""TensorFlow's float kernels for this machine, chosen before TensorFlow is imported.

``apply_onednn_default`` runs when ``evoapproxnas.approx`` is imported and when a campaign
worker starts; it has no effect once TensorFlow is imported, nor when the user has set
``TF_ENABLE_ONEDNN_OPTS``.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_onednn_setting(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """``TF_ENABLE_ONEDNN_OPTS`` for this machine when the user has not set it.

    "1" (oneDNN's float kernels: 1.2-1.5x Eigen's training speed on one core, deterministic
    at a fixed thread count) on x86 CPUs with AVX-512; "0" (Eigen's kernels) on x86 CPUs
    without it, where TensorFlow 2.21's oneDNN kernels corrupt the heap while training (glibc
    aborts and segfaults in the conv gradients, 6 of 12 trainings of one small campaign on an
    AMD EPYC with AVX2 only; the same networks train with Eigen's); ``None`` (TensorFlow's own
    default) where the CPU's flags are not known (no ``/proc/cpuinfo``, or not x86).
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):  # x86 only (aarch64 lists "Features")
            return "1" if "avx512f" in line.split(":", 1)[-1].split() else "0"
    return None


def apply_onednn_default() -> None:
    """Set ``TF_ENABLE_ONEDNN_OPTS`` to ``default_onednn_setting()`` unless it is set."""
    value = default_onednn_setting()
    if value is not None:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", value)
