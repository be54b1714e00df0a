"""The bundled library evoapproxlib8xNu against the EvoApproxLib 8xN reference data shipped with
the tests (tests/data/evoapproxlib8xn, written by scripts/build_evoapproxlib8xn.py)."""

import csv
import hashlib
import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.multipliers import (
    MultiplierChoice,
    library_exact,
    load_library,
    reference_exact,
    relative_power,
)
from evoapproxnas.multipliers.importers import read_c_model

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "evoapproxlib8xn"
LIB = "evoapproxlib8xNu"
COUNTS = {2: 24, 3: 27, 4: 28, 5: 33, 6: 25, 7: 33, 8: 1}
# published powers of the exact circuit of each width (mW); 8x8: mul8u_1JFF
EXACT_POWER = {2: 0.033, 3: 0.082, 4: 0.137, 5: 0.198, 6: 0.267, 7: 0.336, 8: 0.391}
METRICS = ("mae_pct", "mae", "wce_pct", "wce", "wcre_pct", "ep_pct", "mre_pct", "mse")


def rows(fname: str) -> dict[str, dict[str, str]]:
    with open(DATA / fname, newline="") as fh:
        return {r["name"]: r for r in csv.DictReader(fh)}


def last_digit(printed: str) -> float:
    """One unit in the last printed digit: '0.17' -> 0.01, '45' -> 1, '11722.021e4' -> 10."""
    mantissa, _, exponent = printed.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def test_bundled_8xn_library_shape():
    lib = load_library(LIB)
    assert len(lib) == 171 and lib.widths == [f"8x{n}" for n in COUNTS]
    assert {n: sum(m.weight_bits == n for m in lib) for n in COUNTS} == COUNTS
    for m in lib:
        assert m.lut.shape == (256, 2**m.weight_bits) and m.lut.dtype == np.uint16, m.name
        assert not m.signed and m.activation_bits == 8 and m.library == LIB
        assert int(m.lut.max()) < 2 ** (8 + m.weight_bits), m.name
        assert m.name.startswith(f"mul8x{m.weight_bits}u_" if m.weight_bits < 8 else "mul8u_")
    # index order: by width, then name; the 8x8 exact last
    assert [(m.weight_bits, m.name) for m in lib] == sorted((m.weight_bits, m.name) for m in lib)


def test_one_exact_reference_and_the_exact_circuit_of_each_width():
    lib = load_library(LIB)
    assert lib.exact.name == "mul8u_1JFF" and library_exact(LIB, signed=False) is lib.exact
    exact = {m.weight_bits: m for m in lib if m.is_exact}
    assert sorted(exact) == list(COUNTS) and sum(m.is_exact for m in lib) == 7
    assert {n: m.power_mw for n, m in exact.items()} == EXACT_POWER
    # the 8x8 exact one is the bundled evoapproxlib8u's, figures and table included
    ref = load_library("evoapproxlib8u")["mul8u_1JFF"]
    assert exact[8] == ref and exact[8].luts == ref.luts == 120
    # relative power: every width against the exact 8x8
    for n, m in exact.items():
        assert reference_exact(m) is lib.exact
        assert relative_power(m) == pytest.approx(EXACT_POWER[n] / 0.391)
    choice = MultiplierChoice.from_library(LIB, [exact[4].name])
    assert choice.exact is lib.exact and choice.relative_power(0) == pytest.approx(0.137 / 0.391)
    # every width also has an always-0 circuit, published with power, area and delay 0
    zero = [m for m in lib if m.lut.max() == 0]
    assert sorted(m.weight_bits for m in zero) == [2, 3, 4, 5, 6, 7]
    assert all(m.power_mw == m.area_um2 == m.delay_ns == 0 for m in zero)
    assert all(relative_power(m) == 0 for m in zero)


def test_bundled_tables_equal_the_c_models_tables():
    """Every bundled 8xN table is byte for byte the table of its C model (pinned by sha256)."""
    manifest = rows("tables_sha256.csv")
    lib = load_library(LIB)
    assert len(manifest) == 170 and set(manifest) == set(lib.names) - {"mul8u_1JFF"}
    for name, row in manifest.items():
        m = lib[name]
        assert m.weight_bits == int(row["weight_bits"]), name
        digest = hashlib.sha256(m.lut.astype("<u2").tobytes(order="C")).hexdigest()
        assert digest == row["sha256"] == m.table_hash, name


def test_recomputed_metrics_match_the_published_headers():
    """MAE%, WCE%, EP%, MRE%, WCRE%, MAE, WCE and MSE of all 170 circuits, recomputed over the
    256 * 2^N operand pairs (percentages of 2^(8+N)), agree with the circuits' headers to half a
    unit of the last printed digit, ties included (0.125 printed 0.12, 53.125 printed 53.12,
    1.75 printed 1.8: round half to even of values exact in binary); WCE exactly."""
    published = rows("metrics.csv")
    lib = load_library(LIB)
    assert len(published) == 170
    for name, row in published.items():
        m = lib[name]
        assert int(row["weight_bits"]) == m.weight_bits
        ours = m.metrics.to_dict()
        assert ours["wce"] == float(row["wce"]), name
        for key in METRICS:
            tol = 0.5 * last_digit(row[key]) * (1 + 1e-9)
            assert abs(ours[key] - float(row[key])) <= tol, (name, key, ours[key], row[key])
        assert m.is_exact == (float(row["mae"]) == 0), name
        # and the bundled figures are the header's
        assert (m.power_mw, m.area_um2, m.delay_ns) == tuple(
            float(row[k]) for k in ("power_mw", "area_um2", "delay_ns")), name
        assert m.info["published"] == {k: float(row[k]) for k in METRICS}, name
        assert m.sources["power_mw"].startswith("published")


@pytest.mark.parametrize("path", sorted((DATA / "c8xN").glob("*.c")), ids=lambda p: p.stem)
def test_shipped_c_models_import_to_the_bundled_tables(path):
    circuit = read_c_model(path)
    bundled = load_library(LIB)[path.stem]
    assert circuit.weight_bits == bundled.weight_bits
    np.testing.assert_array_equal(circuit.lut, bundled.lut.astype(np.int64))
    assert set(circuit.figures) == {"power_mw", "area_um2", "delay_ns"}
    assert all(getattr(bundled, k) == v for k, v in circuit.figures.items())
    assert circuit.info["published"] == bundled.info["published"]


def test_bundled_license_and_readme():
    path = load_library(LIB).path
    text = (path / "LICENSE").read_text()
    for needle in ("EvoApproxLib", "MIT License", "Brno University of Technology", "Mrazek",
                   "Libraries of Approximate Circuits", "10.1109/JETCAS.2020.3032495",
                   "10.23919/DATE.2017.7926993"):
        assert needle in text, needle
    readme = (path / "README.md").read_text()
    assert "(256, 2**N)" in readme and "mul8u_1JFF" in readme


def test_build_script_reproduces_bundled_entries_and_test_data(tmp_path):
    """The build script, fed the shipped C models, gives exactly the bundled index entries and
    tables of those circuits, and rewrites the shipped C files and license unchanged (the
    full library and test data need all 170 C files: run it on the EvoApproxLib folder)."""
    source = tmp_path / "source"
    (source / "c8xN").mkdir(parents=True)
    for path in (DATA / "c8xN").glob("*.c"):
        shutil.copyfile(path, source / "c8xN" / path.name)
    shutil.copyfile(DATA / "LICENSE.md", source / "LICENSE.md")
    build = runpy.run_path(str(REPO / "scripts" / "build_evoapproxlib8xn.py"))["main"]
    dest = tmp_path / "out"
    assert build(["--source", str(source), "--dest", str(dest)]) == 0
    built = json.loads((dest / LIB / "library.json").read_text())
    bundled_path = load_library(LIB).path
    bundled = json.loads((bundled_path / "library.json").read_text())
    entries = {e["name"]: e for e in bundled["multipliers"]}
    names = [e["name"] for e in built["multipliers"]]
    assert names == sorted((p.stem for p in (DATA / "c8xN").glob("*.c")),
                           key=lambda n: (int(n[5]), n)) + ["mul8u_1JFF"]
    for entry in built["multipliers"]:
        assert entry == entries[entry["name"]], entry["name"]
    assert built["exact"] == bundled["exact"] == "mul8u_1JFF"
    assert (dest / LIB / "LICENSE").read_bytes() == (bundled_path / "LICENSE").read_bytes()
    lib = load_library(dest / LIB)
    for m in lib:
        np.testing.assert_array_equal(m.lut, load_library(LIB)[m.name].lut)
    assert build(["--source", str(source), "--dest", str(dest)]) == 2  # exists, no --force

    data = tmp_path / "data"
    assert build(["--source", str(source), "--test-data", str(data)]) == 0
    for rel in ["LICENSE.md", "README.md"] + [f"c8xN/{p.name}" for p in (DATA / "c8xN").glob("*")]:
        assert (data / rel).read_bytes() == (DATA / rel).read_bytes(), rel
    for fname in ("metrics.csv", "tables_sha256.csv"):
        lines = set((data / fname).read_text().splitlines())
        assert lines <= set((DATA / fname).read_text().splitlines()), fname
        assert len(lines) == 1 + len(list((DATA / "c8xN").glob("*.c")))
    assert build(["--source", str(source), "--test-data", str(data)]) == 2  # exists
