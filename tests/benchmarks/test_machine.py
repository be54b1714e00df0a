"""The CPU name the benchmarks record, read from a cpuinfo file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import machine  # noqa: E402  (benchmarks/machine.py)

CPUINFO = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse2 {flags}

processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 {flags}
"""


def test_the_widest_simd_path_is_named(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(flags="avx2 avx512f avx512dq"))
    assert machine.cpu_name(path) == "AMD EPYC (AVX-512)"
    path.write_text(CPUINFO.format(flags="avx avx2 fma"))
    assert machine.cpu_name(path) == "AMD EPYC (AVX2)"
    path.write_text(CPUINFO.format(flags="sse4_2"))
    assert machine.cpu_name(path) == "AMD EPYC"


def test_without_cpuinfo_the_platform_is_named(tmp_path):
    import platform

    assert machine.cpu_name(tmp_path / "none") == (platform.processor() or "unknown CPU")
