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


# ------------------------------------------------------------------ 8xN C models
# EvoApproxLib's 8xN style: A is the 8-bit operand (the table's a), B the N-bit one (b)
EXACT_8X3 = """uint64_t mul8x3u_ex(const uint64_t A,const uint64_t B)
{
   return A * B;
}
"""

# partial products of the output columns 0..2 dropped: a truncated 8x5 multiplier
TRUNC_8X5 = """uint64_t mul8x5u_tr(const uint64_t A /* 8-bit unsigned operand */, const uint64_t B /* 5-bit unsigned operand */)
{
   uint64_t O = 0;
   for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 5; ++j)
         if (i + j >= 3)
            O += (((A >> i)&1)&((B >> j)&1)) << (i + j);
   return O;
}
"""

# asymmetric in its operands: fixes which argument is the table's a
HALF_A = """uint64_t halfa(const uint64_t A,const uint64_t B)
{
   return ((B >> 0)&1) * (A >> 1) + ((B >> 1)&1) * (A >> 1) * 2 + ((B >> 2)&1) * A * 4
        + ((B >> 3)&1) * A * 8;
}
"""


def operands(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(256)[:, None], np.arange(1 << n)[None, :]


def test_8x3_exact_from_the_name(tmp_path):
    a, b = operands(3)
    path = write(tmp_path, "mul8x3u_ex", EXACT_8X3, pwr=0.082, area=247.3, delay=0.92)
    circuit = read_c_model(path)
    assert circuit.weight_bits == 3 and circuit.lut.shape == (256, 8)
    np.testing.assert_array_equal(circuit.lut, a * b)
    mul = circuit.to_multiplier()
    assert mul.is_exact and mul.width == "8x3" and mul.lut.dtype == np.uint16
    assert (mul.power_mw, mul.area_um2, mul.delay_ns) == (0.082, 247.3, 0.92)


def test_8x5_truncated_metrics_against_its_header(tmp_path):
    a, b = operands(5)
    expected = sum(((a >> i) & 1) * ((b >> j) & 1) << (i + j)
                   for i in range(8) for j in range(5) if i + j >= 3)
    m = compute_error_metrics(expected, False)
    assert m.output_bits == 13 and m.wce == 1 + 2 * 2 + 4 * 3  # columns 0, 1, 2 all set
    path = tmp_path / "mul8x5u_tr.c"
    path.write_text(f"// MAE% = {m.mae_pct:.4f} %\n// WCE = {m.wce}\n// PDK45_PWR = 0.15 mW\n"
                    "#include <stdint.h>\n" + TRUNC_8X5)
    circuit = read_c_model(path)
    assert circuit.weight_bits == 5
    np.testing.assert_array_equal(circuit.lut, expected)
    mul = circuit.to_multiplier()
    assert circuit.info["published"]["mae_pct"] == pytest.approx(mul.metrics.mae_pct, abs=1e-4)
    assert circuit.info["published"]["wce"] == mul.metrics.wce == 17
    assert mul.power_mw == 0.15 and not mul.is_exact


def test_8xn_first_argument_is_the_8_bit_activation(tmp_path):
    a, b = operands(4)
    path = write(tmp_path, "halfa", HALF_A)
    circuit = read_c_model(path, weight_bits=4)  # no width in the name: the option says it
    want = (b & 1) * (a >> 1) + (b >> 1 & 1) * (a >> 1) * 2 + (b >> 2 & 1) * a * 4 \
        + (b >> 3 & 1) * a * 8
    np.testing.assert_array_equal(circuit.lut, want)
    assert read_c_model(path).weight_bits == 8  # without it, an 8x8 multiplier


@pytest.mark.parametrize(
    "name, body, kwargs, message",
    [
        ("mul8x4u_big", "uint64_t mul8x4u_big(const uint64_t A,const uint64_t B)\n"
         "{ return A * B * 2; }\n", {},
         r"returns 0\.\.7650, outside the 12-bit unsigned product of an 8x4 multiplier"),
        ("mul8x3u_ex", EXACT_8X3, {"weight_bits": 5},
         "named an 8x3 multiplier but weight_bits = 5"),
        ("mul8x4s_x", "uint64_t mul8x4s_x(const uint64_t A,const uint64_t B)\n"
         "{ return A * B; }\n", {}, "signed multipliers are 8x8 only"),
        ("mul16x4u_x", "uint64_t mul16x4u_x(const uint64_t A,const uint64_t B)\n"
         "{ return A * B; }\n", {}, "only 8xN multipliers"),
        ("mul8x4u_wide", "uint64_t mul8x4u_wide(const uint64_t A,const uint64_t B)\n"
         "{ return A * ((B >> 0)&1) + A * ((B >> 5)&1); }\n", {},
         "reads bit 5 of its second operand B"),
        ("mul8u_exact", EXACT_U, {"weight_bits": 4}, "uint8_t operands, an 8x8 signature"),
        ("halfa", HALF_A, {"weight_bits": 9}, "weight bits must be 2..8"),
    ],
)
def test_bad_8xn_c_files(tmp_path, name, body, kwargs, message):
    path = write(tmp_path, name, body)
    with pytest.raises(UserError, match=message) as info:
        read_c_model(path, **kwargs)
    assert f"{name}.c" in str(info.value) and "\n" not in str(info.value)


def test_import_library_mixing_widths(tmp_path):
    files = [write(tmp_path, "mul8x3u_ex", EXACT_8X3, pwr=0.082),
             write(tmp_path, "mul8u_exact", EXACT_U, pwr=0.391),
             write(tmp_path, "mul8x5u_tr", TRUNC_8X5, pwr=0.15)]
    lib = load_library(import_library("evoapproxlib-c", files, tmp_path / "mixed"))
    assert [m.width for m in lib] == ["8x3", "8x8", "8x5"]
    assert lib.exact.name == "mul8u_exact" and lib["mul8x3u_ex"].is_exact
    readme = (lib.path / "README.md").read_text()
    assert "mul8x5u_tr" in readme


def test_cli_import_8xn_and_too_wide_output_exit_2(tmp_path, capsys):
    from evoapproxnas.cli import main

    ok = write(tmp_path, "halfa", HALF_A)
    assert main(["multipliers", "import", "--format", "evoapproxlib-c", str(ok),
                 "--weight-bits", "4", "--out", str(tmp_path / "lib")]) == 0
    capsys.readouterr()
    assert load_library(tmp_path / "lib")["halfa"].width == "8x4"
    bad = write(tmp_path, "mul8x4u_big",
                "uint64_t mul8x4u_big(const uint64_t A,const uint64_t B) { return A * B * 2; }\n")
    status = main(["multipliers", "import", "--format", "evoapproxlib-c", str(ok), str(bad),
                   "--weight-bits", "4", "--out", str(tmp_path / "bad")])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "mul8x4u_big.c" in err and "outside the 12-bit unsigned product" in err
    assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["lib"]
    status = main(["multipliers", "import", "--format", "tfapprox-bin", str(ok),
                   "--weight-bits", "4", "--out", str(tmp_path / "bin")])
    assert status == 2 and "applies to C models only" in capsys.readouterr().err
