"""oneDNN's float kernels only on CPUs where TensorFlow 2.21 trains with them safely."""

import pytest

from evoapproxnas.tf_env import default_onednn_setting


@pytest.mark.parametrize("cpuinfo, expected", [
    ("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512vl\n", "1"),
    ("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2 vaes\n", "0"),
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n", "0"),  # a flag that only looks alike
    ("processor\t: 0\nFeatures\t: fp asimd sve\n", None),  # aarch64: TensorFlow's default
    (None, None),  # no /proc/cpuinfo
])
def test_onednn_kernels_only_where_avx512_is(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert default_onednn_setting(path) == expected
