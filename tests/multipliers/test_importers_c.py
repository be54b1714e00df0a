"""EvoApproxLib-style C models: compiled, tabulated and checked against numpy references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers import import_library, read_c_model
from evoapproxnas.multipliers.importers.c_model import find_functions, parse_header
from evoapproxnas.multipliers.library import load_library
from evoapproxnas.multipliers.metrics import compute_error_metrics

CODES = np.arange(256, dtype=np.int64)
A = CODES[:, None]  # first operand code
B = CODES[None, :]  # second operand code
SA = np.where(A >= 128, A - 256, A)  # two's-complement values
SB = np.where(B >= 128, B - 256, B)

HEADER = """/***
* A hand-written test circuit in the style of EvoApproxLib's C models.
***/
// MAE% = {mae_pct:.4f} %
// MAE = {mae:.2f}
// WCE% = {wce_pct:.4f} %
// WCE = {wce}
// EP% = {ep:.2f} %
// PDK45_PWR = {pwr} mW
// PDK45_AREA = {area} um2
// PDK45_DELAY = {delay} ns
#include <stdint.h>
#include <stdlib.h>

"""

EXACT_U = "uint16_t mul8u_exact(uint8_t a, uint8_t b)\n{\n   return (uint16_t)a * b;\n}\n"

# bit-level style; the first argument is named B as in EvoApproxLib, and only its bits >= 2
# take part, so table[a, b] = (a & ~3) * b: an asymmetric table that fixes the operand order
TRUNC_U64 = """uint64_t mul8u_tr2(const uint64_t B,const uint64_t A)
{
   uint64_t O = 0;
   for (int i = 0; i < 8; ++i)
      for (int j = 2; j < 8; ++j)
         O += (((A >> i)&1)&((B >> j)&1)) << (i + j);
   return O;
}
"""

SIGNED = """int16_t mul8s_lsb4(int8_t A, int8_t B)
{
   return (int16_t)((A * B) & ~0xF);
}
"""

SIGNED_U64 = """uint64_t mul8s_bits(const uint64_t B,const uint64_t A)
{
   int8_t x = (int8_t)(B & 0xFF), y = (int8_t)(A & 0xFF);
   return (uint64_t)(uint16_t)(int16_t)(x * y - (x > 0 ? 1 : 0));
}
"""


def write(tmp_path: Path, name: str, body: str, table: np.ndarray | None = None,
          signed: bool = False, **figures) -> Path:
    fields = {"mae_pct": 0, "mae": 0, "wce_pct": 0, "wce": 0, "ep": 0,
              "pwr": 0.1, "area": 100.0, "delay": 1.0}
    if table is not None:
        m = compute_error_metrics(table, signed)
        fields.update(mae_pct=m.mae_pct, mae=m.mae, wce_pct=m.wce_pct, wce=m.wce, ep=m.ep_pct)
    fields.update(figures)
    path = tmp_path / f"{name}.c"
    path.write_text(HEADER.format(**fields) + body)
    return path


def test_exact_unsigned(tmp_path):
    expected = A * B
    path = write(tmp_path, "mul8u_exact", EXACT_U, expected, pwr=0.391, area=709.6, delay=1.43)
    circuit = read_c_model(path)
    assert circuit.name == "mul8u_exact" and circuit.signed is False
    np.testing.assert_array_equal(circuit.lut, expected)
    mul = circuit.to_multiplier()
    assert mul.is_exact and mul.lut.dtype == np.uint16
    assert (mul.power_mw, mul.area_um2, mul.delay_ns) == (0.391, 709.6, 1.43)
    assert mul.sources["power_mw"].startswith("published in the header of mul8u_exact.c")
    assert mul.luts is None and mul.sources["luts"] == "unknown"


def test_truncated_uint64_style_first_argument_is_a(tmp_path):
    expected = (A & ~3) * B
    assert not np.array_equal(expected, expected.T)
    path = write(tmp_path, "mul8u_tr2", TRUNC_U64, expected)
    circuit = read_c_model(path)
    assert circuit.signed is False
    np.testing.assert_array_equal(circuit.lut, expected)
    published = circuit.info["published"]
    metrics = circuit.to_multiplier().metrics
    assert published["mae"] == pytest.approx(metrics.mae, abs=0.01)
    assert published["wce"] == metrics.wce
    assert published["mae_pct"] == pytest.approx(metrics.mae_pct, abs=1e-4)
    assert published["ep_pct"] == pytest.approx(metrics.ep_pct, abs=0.01)


def test_signed_int8_signature(tmp_path):
    expected = (SA * SB) & ~0xF
    circuit = read_c_model(write(tmp_path, "mul8s_lsb4", SIGNED, expected, signed=True))
    assert circuit.signed is True
    np.testing.assert_array_equal(circuit.lut, expected)
    mul = circuit.to_multiplier()
    assert mul.lut.dtype == np.int16 and int(mul.lut[0x80, 0x80]) == 16384
    assert mul.metrics.wce == 15


def test_signed_uint64_style_detected_from_name(tmp_path):
    # first argument (B) is the table's a: subtract 1 when a is positive
    expected = SA * SB - (SA > 0)
    circuit = read_c_model(write(tmp_path, "mul8s_bits", SIGNED_U64))
    assert circuit.signed is True
    np.testing.assert_array_equal(circuit.lut, expected)


def test_header_and_function_parsing():
    figures, published = parse_header("// PDK45_PWR = 84 uW\n// PDK45_DELAY = 950 ps\n"
                                      "// WCRE% = 125.00 %\n// MRE% = 13.96 %\nint x;\n")
    assert figures == pytest.approx({"power_mw": 0.084, "delay_ns": 0.95})
    assert published == {"wcre_pct": 125.0, "mre_pct": 13.96}
    funcs = find_functions("/* uint16_t f(uint8_t a, uint8_t b) { */\n"
                           "static int helper(int x) { return x; }\n"
                           "int16_t g(const int8_t A, const int8_t B) { return A * B; }\n")
    assert [(f.name, f.return_type, f.arg_type) for f in funcs] == [("g", "int16_t", "int8_t")]


@pytest.mark.parametrize(
    "body, message",
    [
        ("uint16_t mul8u_bad(uint8_t a, uint8_t b)\n{\n   return a * b\n}\n", "does not compile"),
        ("int helper(int x, int y, int z) { return x; }\n", "no multiplier function"),
        ("uint32_t mul8u_big(uint8_t a, uint8_t b) { return 4u * a * b; }\n", "outside"),
        (("uint16_t f1(uint8_t a, uint8_t b) { return a; }\n"
         "uint16_t f2(uint8_t a, uint8_t b) { return b; }\n"), "several candidate"),
    ],
)
def test_bad_c_files(tmp_path, body, message):
    path = tmp_path / "broken.c"
    path.write_text("#include <stdint.h>\n" + body)
    with pytest.raises(UserError, match=message) as info:
        read_c_model(path)
    assert "broken.c" in str(info.value) and "\n" not in str(info.value)


def test_signed_flag_contradicting_signature(tmp_path):
    path = write(tmp_path, "mul8u_exact", EXACT_U)
    with pytest.raises(UserError, match="uint8_t operands"):
        read_c_model(path, signed=True)


def test_import_library_from_c_with_metadata_override(tmp_path):
    files = [write(tmp_path, "mul8u_exact", EXACT_U, pwr=0.391, area=709.6),
             write(tmp_path, "mul8u_tr2", TRUNC_U64, pwr=0.3, area=600.0)]
    meta = tmp_path / "meta.csv"
    meta.write_text("name,luts,area_um2\nmul8u_tr2,55,590.5\n")
    out = import_library("evoapproxlib-c", files, tmp_path / "clib", metadata=meta)
    lib = load_library(out)
    assert lib.names == ["mul8u_exact", "mul8u_tr2"] and lib.exact.name == "mul8u_exact"
    tr2 = lib["mul8u_tr2"]
    assert (tr2.power_mw, tr2.area_um2, tr2.luts) == (0.3, 590.5, 55)
    assert tr2.sources["area_um2"] == "published (metadata file meta.csv)"
    assert tr2.sources["power_mw"].startswith("published in the header")
    np.testing.assert_array_equal(tr2.lut, (A & ~3) * B)
