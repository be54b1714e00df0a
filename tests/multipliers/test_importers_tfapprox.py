"""TFApprox .bin import/export, metadata CSVs, library writing and the ``import`` CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cli import main as cli_main
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers import (
    export_tfapprox_bin,
    import_library,
    read_metadata_csv,
    read_tfapprox_bin,
)
from evoapproxnas.multipliers.library import load_library
from evoapproxnas.multipliers.model import Multiplier

# EvoApproxLib's published figures, shipped with the tests (see its README.md)
METRICS_CSV = Path(__file__).resolve().parents[1] / "data" / "evoapproxlib" / "metrics.csv"
NAMES = ["mul8u_1JFF", "mul8u_FTA", "mul8u_L40"]  # exact, low-rank error, dense error


def published_rows() -> dict[str, dict[str, str]]:
    with open(METRICS_CSV, newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def bundled_tables() -> dict[str, np.ndarray]:
    """Tables of the bundled libraries (test_library checks them against the source data)."""
    tables = {n: load_library("evoapproxlib8u")[n].lut for n in NAMES}
    tables["mul8s_1KR6"] = load_library("evoapproxlib8s")["mul8s_1KR6"].lut
    return tables


def reference_bin_bytes(table: np.ndarray) -> bytes:
    """Independent writer: index (a << 8) | b, little-endian 16-bit words."""
    flat = [int(table[i >> 8, i & 255]) & 0xFFFF for i in range(65536)]
    return b"".join(v.to_bytes(2, "little") for v in flat)


def test_export_matches_the_format_definition(tmp_path, bundled_tables):
    table = bundled_tables["mul8u_FTA"]
    mul = Multiplier.from_table("mul8u_FTA", table, False)
    path = export_tfapprox_bin(mul, tmp_path / "mul8u_FTA.bin")
    assert path.read_bytes() == reference_bin_bytes(table)


@pytest.mark.parametrize("name", NAMES + ["mul8s_1KR6"])
def test_round_trip_is_byte_identical_with_published_metrics(tmp_path, bundled_tables, name):
    signed = name.startswith("mul8s")
    table = bundled_tables[name]
    original = Multiplier.from_table(name, table, signed)
    path = export_tfapprox_bin(original, tmp_path / f"{name}.bin")
    circuit = read_tfapprox_bin(path, signed=signed)
    back = circuit.to_multiplier()
    assert back.name == name and back.signed == signed
    assert back.lut.tobytes() == original.lut.tobytes()
    assert back.table_hash == original.table_hash
    again = export_tfapprox_bin(back, tmp_path / "again.bin")
    assert again.read_bytes() == path.read_bytes()
    row = published_rows()[name]
    assert back.metrics.mae == pytest.approx(float(row["mae_check"]))
    assert back.metrics.wce == int(row["wce_check"])
    assert back.metrics.wce_pct == pytest.approx(float(row["wce_pct"]), abs=0.006)
    assert all(back.sources[f] == "unknown" for f in ("power_mw", "area_um2", "luts"))


def test_wrong_size_bin_is_refused(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(b"\0" * 131070)
    with pytest.raises(UserError, match="131072 bytes"):
        read_tfapprox_bin(path)


def test_signedness_mismatch_is_refused(tmp_path, bundled_tables):
    mul = Multiplier.from_table("mul8s_1KR6", bundled_tables["mul8s_1KR6"], True)
    path = export_tfapprox_bin(mul, tmp_path / "mul8s_1KR6.bin")
    with pytest.raises(UserError, match="signed"):
        read_tfapprox_bin(path, signed=False).to_multiplier()


def write_bins(folder: Path, tables: dict[str, np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [export_tfapprox_bin(Multiplier.from_table(n, t, False), folder / f"{n}.bin")
            for n, t in tables.items()]


def test_import_library_with_metadata_csv(tmp_path, bundled_tables):
    files = write_bins(tmp_path / "bins", {n: bundled_tables[n] for n in NAMES})
    out = import_library("tfapprox-bin", files, tmp_path / "lib", name="mine",
                         metadata=METRICS_CSV)
    lib = load_library(out)
    assert lib.name == "mine" and lib.names == NAMES
    assert lib.exact.name == "mul8u_1JFF"
    rows = published_rows()
    for name in NAMES:
        mul = lib[name]
        assert mul.power_mw == pytest.approx(float(rows[name]["power_mw"]))
        assert mul.area_um2 == pytest.approx(float(rows[name]["area_um2"]))
        assert mul.luts is None and mul.sources["luts"] == "unknown"
        assert mul.sources["power_mw"].startswith("published")
        assert mul.lut.tobytes() == bundled_tables[name].astype("<u2").tobytes()
    assert (out / "README.md").read_text().count("mul8u_") >= 3


def test_metadata_source_column_and_partial_rows(tmp_path, bundled_tables):
    files = write_bins(tmp_path / "bins", {"mul8u_FTA": bundled_tables["mul8u_FTA"]})
    meta = tmp_path / "meta.csv"
    meta.write_text("name,power_mw,luts,source\nmul8u_FTA,0.084,,published in my paper\n"
                    "other,1.0,3,\n")
    lib = load_library(import_library("tfapprox-bin", files, tmp_path / "lib", metadata=meta))
    mul = lib["mul8u_FTA"]
    assert mul.power_mw == pytest.approx(0.084) and mul.luts is None
    assert mul.sources["power_mw"] == "published in my paper"
    assert lib.name == "lib"


@pytest.mark.parametrize(
    "text, message",
    [
        ("power_mw\n0.1\n", "'name' column"),
        ("name,power\nmul8u_FTA,0.1\n", "none of the columns"),
        ("name,power_mw\nmul8u_FTA,fast\n", "not a number"),
        ("name,power_mw\nmul8u_FTA,-1\n", ">= 0"),
        ("name,luts\nmul8u_FTA,2.5\n", "whole number"),
        ("name,power_mw\nmul8u_FTA,1\nmul8u_FTA,2\n", "appears twice"),
    ],
)
def test_bad_metadata_csv(tmp_path, text, message):
    meta = tmp_path / "meta.csv"
    meta.write_text(text)
    with pytest.raises(UserError, match=message):
        read_metadata_csv(meta)


def test_duplicate_names_and_existing_output_write_nothing(tmp_path, bundled_tables):
    table = {"mul8u_FTA": bundled_tables["mul8u_FTA"]}
    files = write_bins(tmp_path / "a", table) + write_bins(tmp_path / "b", table)
    out = tmp_path / "lib"
    with pytest.raises(UserError, match="duplicate multiplier name 'mul8u_FTA'"):
        import_library("tfapprox-bin", files, out)
    assert not out.exists()
    out.mkdir()
    with pytest.raises(UserError, match="already exists"):
        import_library("tfapprox-bin", files[:1], out)
    assert list(out.iterdir()) == []


def test_cli_import_and_one_line_errors(tmp_path, bundled_tables, capsys):
    files = write_bins(tmp_path / "bins", {n: bundled_tables[n] for n in NAMES[:2]})
    out = tmp_path / "lib"
    status = cli_main(["multipliers", "import", "--format", "tfapprox-bin",
                       *map(str, files), "--out", str(out), "--name", "cli"])
    assert status == 0
    index = json.loads((out / "library.json").read_text())
    assert [m["name"] for m in index["multipliers"]] == NAMES[:2]
    capsys.readouterr()

    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\1" * 100)
    out2 = tmp_path / "lib2"
    status = cli_main(["multipliers", "import", "--format", "tfapprox-bin", str(files[0]),
                       str(bad), "--out", str(out2)])
    err = capsys.readouterr().err
    assert status == 2 and not out2.exists()
    assert err.count("\n") == 1 and "bad.bin" in err and "131072 bytes" in err


def test_unknown_format_missing_file_and_no_files(tmp_path, bundled_tables):
    files = write_bins(tmp_path / "bins", {"mul8u_FTA": bundled_tables["mul8u_FTA"]})
    with pytest.raises(UserError, match="unknown import format 'tfapprox'.*tfapprox-bin"):
        import_library("tfapprox", files, tmp_path / "lib")
    with pytest.raises(UserError, match="no such file"):
        import_library("tfapprox-bin", [*files, tmp_path / "missing.bin"], tmp_path / "lib")
    with pytest.raises(UserError, match="no input files"):
        import_library("tfapprox-bin", [], tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_cli_c_compile_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "mul8u_bad.c"
    bad.write_text("#include <stdint.h>\nuint16_t mul8u_bad(uint8_t a, uint8_t b) { return a * }\n")
    out = tmp_path / "lib"
    status = cli_main(["multipliers", "import", "--format", "evoapproxlib-c", str(bad),
                       "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and not out.exists()
    assert err.count("\n") == 1 and "mul8u_bad.c" in err and "does not compile" in err


def test_8xn_multiplier_cannot_be_exported(tmp_path):
    m = load_library("evoapproxlib8xNu")["mul8x4u_0S7"]
    with pytest.raises(UserError, match="mul8x4u_0S7 is an 8x4 multiplier; a TFApprox .bin"):
        export_tfapprox_bin(m, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()
