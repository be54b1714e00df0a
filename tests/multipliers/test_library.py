"""Bundled libraries, load_library and write_library."""

import csv
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import (
    DEFAULT_LIBRARY,
    Multiplier,
    MultiplierLibrary,
    list_libraries,
    load_library,
    write_library,
)
from evoapproxnas.multipliers.metrics import exact_products

REPO = Path(__file__).resolve().parents[2]
# EvoApproxLib reference data shipped with the tests (written by the build script, see README.md)
DATA = REPO / "tests" / "data" / "evoapproxlib"
LIBS = {"evoapproxlib8u": False, "evoapproxlib8s": True}


def source_manifest() -> dict[str, dict[str, str]]:
    """name -> signed, dtype and sha256 of the EvoApproxLib source tables."""
    with open(DATA / "tables_sha256.csv", newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


def sha256_le(table: np.ndarray) -> str:
    """sha256 of the table's C-order little-endian bytes (independent of the package's hash)."""
    return hashlib.sha256(table.astype(table.dtype.newbyteorder("<")).tobytes(order="C")).hexdigest()


# ------------------------------------------------ independent gate-level Verilog evaluator
_TOKEN = re.compile(r"\s*(?:(1'b[01])|([A-Za-z_]\w*(?:\[\d+\])?)|([~&|^()]))")


def _python(expr: str) -> str:
    """A Verilog bit expression as Python (~ & ^ | bind in the same order in both)."""
    out, pos, expr = [], 0, expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {expr[pos:]!r}")
        const, name, op = m.groups()
        out.append(f"K{const[-1]}" if const else f"v[{name!r}]" if name else op)
        pos = m.end()
    return " ".join(out)


def _concat(text: str) -> list[str]:
    return [p.strip() for p in text.strip().strip("{}").split(",")]


def verilog_table(text: str, top: str) -> np.ndarray:
    """Exhaustive output of module ``top`` of an EvoApproxLib gate-level file: ``out[x, y]`` for
    ports ``A = x``, ``B = y`` (16-bit, unsigned). Handles what the library's files use: bit
    assigns with ~ & | ^, cell instances defined in the same file, a concatenated output and
    one ``{...} = {...} + {...}`` adder."""
    text = re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL))
    mods = {m[1]: m[2] for m in re.finditer(r"module\s+(\w+)\s*\(.*?\)\s*;(.*?)endmodule",
                                            text, re.DOTALL)}
    rules: list = []  # (driven nets, python expression or ("add", x bits, y bits))
    for stmt in mods[top].split(";"):
        stmt = " ".join(stmt.split())
        if not stmt or stmt.split()[0] in ("input", "output", "wire"):
            continue
        if m := re.fullmatch(r"assign \{(.*)\} = \{(.*)\} \+ \{(.*)\}", stmt):
            lhs, x, y = (_concat(g)[::-1] for g in m.groups())  # LSB first
            rules.append((lhs, ("add", [_python(e) for e in x], [_python(e) for e in y])))
        elif m := re.fullmatch(r"assign (\w+) = \{(.*)\}", stmt):
            rules += [([f"{m[1]}[{i}]"], _python(e)) for i, e in enumerate(_concat(m[2])[::-1])]
        elif m := re.fullmatch(r"assign (\w+(?:\[\d+\])?) = (.*)", stmt):
            rules.append(([m[1]], _python(m[2])))
        elif m := re.fullmatch(r"(\w+) \w+ ?\((.*)\)", stmt):
            ports = dict(re.findall(r"\.(\w+)\(((?:[^()]|\([^()]*\))*)\)", m[2]))
            for out, expr in re.findall(r"assign (\w+) = ([^;]*);", mods[m[1]]):
                wired = re.sub(r"\b[A-Za-z_]\w*\b", lambda t, p=ports: f"({p[t[0]]})", expr)
                rules.append(([ports[out]], _python(wired)))
        else:
            raise ValueError(f"unsupported statement in {top}: {stmt}")
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    env = {"K0": np.zeros(a.shape, bool), "K1": np.ones(a.shape, bool)}
    v = {f"{p}[{i}]": (x >> i & 1).astype(bool) for p, x in (("A", a), ("B", b)) for i in range(8)}

    def value(expr: str) -> np.ndarray:
        return np.broadcast_to(eval(expr, {**env, "v": v}), a.shape)  # expressions built by _python

    while rules:  # drive nets in dependency order, whatever order the file lists them in
        left = []
        for nets, rule in rules:
            try:
                if isinstance(rule, tuple):
                    x, y = (sum(value(e).astype(np.int64) << i for i, e in enumerate(bits))
                            for bits in rule[1:])
                    v.update({n: ((x + y) >> i & 1).astype(bool) for i, n in enumerate(nets)})
                else:
                    v[nets[0]] = value(rule)
            except KeyError:
                left.append((nets, rule))
        if len(left) == len(rules):
            raise ValueError(f"{top}: nets never driven: {[n for n, _ in left][:5]}")
        rules = left
    return sum(v[f"O[{i}]"].astype(np.int64) << i for i in range(16))


def verilog_header(text: str) -> dict[str, float]:
    """The published figures of a Verilog file's header (``// MAE = 581`` lines)."""
    return {k: float(x) for k, x in re.findall(r"^// ([\w%]+) = ([-\d.]+)", text, re.MULTILINE)}


def small_muls(n: int = 3) -> list[Multiplier]:
    exact = exact_products(False).astype(np.uint16)
    out = [Multiplier.from_table("exact", exact, False, power_mw=0.4,
                                 sources={"power_mw": "published by test"})]
    for k in range(1, n):
        lut = exact.copy()
        lut[k, :] = 0
        out.append(Multiplier.from_table(f"approx{k}", lut, False, power_mw=0.4 - 0.1 * k))
    return out


def test_bundled_names_and_sizes():
    assert DEFAULT_LIBRARY == "evoapproxlib8u"
    assert {"evoapproxlib8u", "evoapproxlib8s"} <= set(list_libraries())
    u, s = load_library("evoapproxlib8u"), load_library("evoapproxlib8s")
    assert len(u) == 36 and len(s) == 13
    assert all(not m.signed for m in u) and all(m.signed for m in s)
    assert u.exact.name == "mul8u_1JFF" and s.exact.name == "mul8s_1KV8"
    assert u.exact.power_mw == 0.391 and u.exact.area_um2 == 709.6
    assert s.exact.power_mw == 0.425 and s.exact.area_um2 == 729.8
    assert u["mul8u_E9R"].lut.max() == 0
    assert u["mul8u_1JFF"].library == "evoapproxlib8u"
    assert u.names == sorted(u.names) and u.names[0] == "mul8u_125K"
    assert u["mul8u_1JFF"].sources["power_mw"].startswith("published")
    # LUTs: yosys synth_xilinx of the circuit's Verilog (scripts/synth_evoapproxlib_luts.py)
    assert u["mul8u_1JFF"].sources["luts"].startswith("estimated by yosys synth_xilinx")
    assert u["mul8u_1JFF"].luts == 120 and s["mul8s_1KV8"].luts == 125


def test_bundled_tables_equal_source_data():
    """Every bundled table is byte for byte the EvoApproxLib source table (pinned by sha256)."""
    manifest = source_manifest()
    assert len(manifest) == 49
    for lib, signed in LIBS.items():
        library = load_library(lib)
        expected = {n for n, row in manifest.items() if row["signed"] == str(int(signed))}
        assert set(library.names) == expected, lib
        for name in library.names:
            lut = library[name].lut
            assert lut.dtype.name == manifest[name]["dtype"] and lut.shape == (256, 256), name
            assert sha256_le(lut) == manifest[name]["sha256"], name


@pytest.mark.parametrize("path", sorted((DATA / "verilog").glob("*.v")), ids=lambda p: p.stem)
def test_bundled_tables_match_the_gate_level_verilog(path):
    """The circuits' own gate-level Verilog, simulated here on all 65536 operand pairs, gives
    the bundled table: unsigned tables (TFApprox order) are indexed ``[B, A]`` by the Verilog
    ports, signed ones ``[A, B]`` (two's complement). The header figures are metrics.csv's."""
    name = path.stem
    signed = name.startswith("mul8s")
    text = path.read_text()
    out = verilog_table(text, name)
    if signed:
        want = np.where(out >= 32768, out - 65536, out)
    else:
        want = out.T
    lut = load_library("evoapproxlib8s" if signed else "evoapproxlib8u")[name].lut
    np.testing.assert_array_equal(lut.astype(np.int64), want)
    with open(DATA / "metrics.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["name"] == name)
    header = verilog_header(text)
    assert header["MAE"] == float(row["mae"]) and header["WCE"] == float(row["wce"])
    assert header["PDK45_PWR"] == float(row["power_mw"])
    assert header["PDK45_AREA"] == float(row["area_um2"])


def test_verilog_evaluator_on_hand_written_modules():
    """The evaluator used above, on modules whose outputs numpy gives directly."""
    text = """module t ( A, B, O );
  input [7:0] A; input [7:0] B; output [15:0] O;
  wire w1, w2, c, s;
  assign O[15] = w2;  // used before it is driven
  assign w2 = ~(A[7] | B[7]);
  assign w1 = A[0] & B[1] ^ A[2] | B[3];
  HA u1 (.A(A[1]), .B(~(B[0] & A[3])), .YS(s), .YC(c));
  assign O[0] = w1; assign O[1] = s; assign O[2] = c; assign O[3] = 1'b1;
  assign {O[6], O[5], O[4]} = {A[5], A[4]} + {1'b1, B[4]};
"""
    text += "".join(f"  assign O[{i}] = 1'b0;\n" for i in range(7, 15))
    text += """endmodule
module HA( input A, input B, output YS, output YC );
    assign YS = A ^ B;
    assign YC = A & B;
endmodule
"""
    x, y = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")

    def bit(v: np.ndarray, i: int) -> np.ndarray:
        return (v >> i) & 1

    w1 = (bit(x, 0) & bit(y, 1)) ^ bit(x, 2) | bit(y, 3)
    nand = 1 - (bit(y, 0) & bit(x, 3))
    total = (x >> 4 & 3) + 2 + bit(y, 4)
    want = (w1 | (bit(x, 1) ^ nand) << 1 | (bit(x, 1) & nand) << 2 | 8 | (total & 7) << 4
            | (1 - (bit(x, 7) | bit(y, 7))) << 15)
    np.testing.assert_array_equal(verilog_table(text, "t"), want)
def test_bundled_license_names_evoapproxlib():
    for lib in ("evoapproxlib8u", "evoapproxlib8s"):
        text = (load_library(lib).path / "LICENSE").read_text()
        for needle in ("EvoApproxLib", "MIT License", "Brno University of Technology",
                       "10.23919/DATE.2017.7926993", "Mrazek"):
            assert needle in text, (lib, needle)


def test_load_is_cached():
    assert load_library("evoapproxlib8u") is load_library("evoapproxlib8u")
    assert load_library() is load_library(DEFAULT_LIBRARY)


def test_unknown_names_suggest_closest():
    with pytest.raises(UserError, match="did you mean: evoapproxlib8u"):
        load_library("evoapproxlib8")
    with pytest.raises(UserError, match="did you mean: mul8u_1JFF"):
        load_library("evoapproxlib8u")["mul8u_1JF"]
    with pytest.raises(UserError, match="no multiplier library folder"):
        load_library("./nowhere/lib")


def test_write_and_load_roundtrip(tmp_path):
    dest = tmp_path / "mylib"
    write_library(dest, "mine", small_muls(), description="demo", license_text="L", readme_text="R")
    assert sorted(p.name for p in dest.iterdir()) == ["LICENSE", "README.md", "library.json",
                                                       "tables.npz"]
    lib = load_library(dest)
    assert lib.name == "mine" and lib.description == "demo"
    assert lib.identifier == str(dest.resolve())
    assert lib.names == ["exact", "approx1", "approx2"]
    assert lib.exact.name == "exact"
    for a, b in zip(lib, small_muls()):
        assert a == b and np.array_equal(a.lut, b.lut)
        assert a.power_mw == b.power_mw and dict(a.sources) == dict(b.sources)
        assert a.library == str(dest.resolve())
    assert load_library(str(dest)) is lib  # same folder, as str or Path


def test_write_refuses_existing_dest_and_duplicates(tmp_path):
    dest = tmp_path / "lib"
    dest.mkdir()
    with pytest.raises(UserError, match="already exists"):
        write_library(dest, "x", small_muls())
    muls = small_muls(2)
    with pytest.raises(UserError, match="duplicate multiplier name 'exact'"):
        write_library(tmp_path / "dup", "x", muls + [muls[0]])
    assert not (tmp_path / "dup").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["lib"]  # no temp folder left behind


def test_library_without_exact(tmp_path):
    write_library(tmp_path / "l", "noexact", small_muls()[1:])
    with pytest.raises(UserError, match="no exact multiplier"):
        _ = load_library(tmp_path / "l").exact


def _edit_index(folder: Path, edit) -> None:
    path = folder / "library.json"
    index = json.loads(path.read_text())
    edit(index)
    path.write_text(json.dumps(index))


def test_duplicate_names_in_index(tmp_path):
    dest = write_library(tmp_path / "l", "x", small_muls())
    _edit_index(dest, lambda ix: ix["multipliers"].append(dict(ix["multipliers"][0])))
    with pytest.raises(UserError, match="duplicate multiplier name 'exact'"):
        load_library(dest)


def test_signedness_mismatch_names_file_and_multiplier(tmp_path):
    dest = write_library(tmp_path / "l", "x", small_muls())
    table = exact_products(True).astype(np.int16).view(np.uint16)
    with zipfile.ZipFile(dest / "tables.npz", "a") as zf, zf.open("signedlike.npy", "w") as fh:
        np.lib.format.write_array(fh, table)

    def add(ix):
        ix["multipliers"].append({"name": "signedlike", "signed": False})

    _edit_index(dest, add)
    with pytest.raises(UserError, match=r"tables\.npz.*'signedlike' is declared unsigned"):
        load_library(dest)


def test_wrong_dtype_and_hash_mismatch(tmp_path):
    dest = write_library(tmp_path / "l", "x", small_muls())
    _edit_index(dest, lambda ix: ix["multipliers"][1].update(signed=True))
    with pytest.raises(UserError, match="'approx1' has dtype uint16, expected int16"):
        load_library(dest)
    dest2 = write_library(tmp_path / "l2", "x", small_muls())
    _edit_index(dest2, lambda ix: ix["multipliers"][2].update(table_hash="0" * 64))
    with pytest.raises(UserError, match="'approx2' does not match the hash"):
        load_library(dest2)


def test_corrupt_npz(tmp_path):
    dest = write_library(tmp_path / "l", "x", small_muls())
    data = (dest / "tables.npz").read_bytes()
    (dest / "tables.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="tables.npz"):
        load_library(dest)


def test_rewritten_library_is_reloaded(tmp_path):
    dest = write_library(tmp_path / "l", "x", small_muls(2))
    first = load_library(dest)
    import shutil

    shutil.rmtree(dest)
    write_library(dest, "x", small_muls(3))
    assert len(load_library(dest)) == 3 and len(first) == 2


def test_not_a_library_folder(tmp_path):
    with pytest.raises(UserError, match="no library.json"):
        load_library(tmp_path)


def test_library_class_refuses_duplicates():
    m = small_muls(1)[0]
    with pytest.raises(UserError, match="duplicate"):
        MultiplierLibrary("x", [m, m])


def test_build_script_reproduces_bundled_folders(tmp_path):
    """The build script, fed the published figures (the shipped metrics.csv) and the source
    tables (those the sha256 manifest pins: the bundled ones, checked here first), rebuilds
    byte-identical library folders: the index, README and LICENSE are the script's output, not
    hand edits. It also rewrites the shipped test data from such a source folder unchanged."""
    import runpy

    source = tmp_path / "source"
    (source / "verilog8x8").mkdir(parents=True)
    manifest = source_manifest()
    for lib, fname in (("evoapproxlib8u", "lut_unsigned.npz"), ("evoapproxlib8s", "lut_signed.npz")):
        tables = {m.name: m.lut for m in load_library(lib)}
        assert all(sha256_le(t) == manifest[n]["sha256"] for n, t in tables.items())
        np.savez(source / fname, **tables)
    for fname in ("metrics.csv", "LICENSE.md"):
        shutil.copyfile(DATA / fname, source / fname)
    for path in (DATA / "verilog").glob("*.v"):
        shutil.copyfile(path, source / "verilog8x8" / path.name)

    build = runpy.run_path(str(REPO / "scripts" / "build_evoapproxlib.py"))["main"]
    dest = tmp_path / "out"
    assert build(["--source", str(source), "--dest", str(dest)]) == 0
    for lib in LIBS:
        bundled = load_library(lib).path
        for fname in ("tables.npz", "library.json", "LICENSE", "README.md"):
            assert (dest / lib / fname).read_bytes() == (bundled / fname).read_bytes(), fname
    assert build(["--source", str(source), "--dest", str(dest)]) == 2  # exists, no --force
    assert build(["--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "o")]) == 2

    data = tmp_path / "data"
    assert build(["--source", str(source), "--test-data", str(data)]) == 0
    shipped = sorted(p.relative_to(DATA) for p in DATA.rglob("*") if p.is_file())
    assert sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file()) == shipped
    for rel in shipped:
        assert (data / rel).read_bytes() == (DATA / rel).read_bytes(), rel
    assert build(["--source", str(source), "--test-data", str(data)]) == 2  # exists


# ------------------------------------------------------------------ 8xN operand widths
def exact_8xn(n: int) -> np.ndarray:
    return (np.arange(256)[:, None] * np.arange(1 << n)[None, :]).astype(np.uint16)


def mixed_muls() -> list[Multiplier]:
    """An exact 8x4 listed before the exact 8x8, and a truncated 8x3."""
    return [
        Multiplier.from_table("ex4", exact_8xn(4), False, weight_bits=4, power_mw=0.137),
        Multiplier.from_table("tr3", exact_8xn(3) & 0xFFFE, False, weight_bits=3, power_mw=0.05),
        Multiplier.from_table("ex8", exact_products(False).astype(np.uint16), False,
                              power_mw=0.391),
    ]


def test_mixed_width_library_roundtrip(tmp_path):
    dest = write_library(tmp_path / "mixed", "mixed", mixed_muls())
    index = json.loads((dest / "library.json").read_text())
    entries = {e["name"]: e for e in index["multipliers"]}
    assert entries["ex4"]["weight_bits"] == 4 and entries["tr3"]["weight_bits"] == 3
    assert "weight_bits" not in entries["ex8"]  # 8x8 entries are written as before
    assert index["exact"] == "ex8"  # the widest exact one, though the 8x4 comes first
    lib = load_library(dest)
    assert lib.exact.name == "ex8" and lib.widths == ["8x3", "8x4", "8x8"]
    for a, b in zip(lib, mixed_muls()):
        assert a == b and a.weight_bits == b.weight_bits and a.lut.shape == b.lut.shape
        np.testing.assert_array_equal(a.lut, b.lut)
    assert lib["ex4"].is_exact and lib["ex4"].lut.shape == (256, 16)


def test_exact_without_index_entry_is_the_widest(tmp_path):
    dest = write_library(tmp_path / "mixed", "mixed", mixed_muls())
    _edit_index(dest, lambda ix: ix.pop("exact"))
    assert load_library(dest).exact.name == "ex8"
    narrow = write_library(tmp_path / "narrow", "n", mixed_muls()[:2])
    assert load_library(narrow).exact.name == "ex4"  # no 8x8: the widest exact one


def test_index_without_weight_bits_is_8x8(tmp_path):
    """Indexes written before 8xN have no weight_bits: their multipliers load as 8x8, and the
    same table under a declared 8x4 is refused with the expected shape."""
    dest = write_library(tmp_path / "old", "old", small_muls())
    index = json.loads((dest / "library.json").read_text())
    assert all("weight_bits" not in e for e in index["multipliers"])
    assert all(m.weight_bits == 8 for m in load_library(dest))
    _edit_index(dest, lambda ix: ix["multipliers"][1].update(weight_bits=4))
    with pytest.raises(UserError, match=r"'approx1'.*8x4 multiplier must have shape "
                                        r"\(256, 16\), got \(256, 256\)") as info:
        load_library(dest)
    assert "\n" not in str(info.value) and "tables.npz" in str(info.value)


def test_index_weight_bits_missing_for_a_narrow_table(tmp_path):
    dest = write_library(tmp_path / "mixed", "mixed", mixed_muls())
    _edit_index(dest, lambda ix: ix["multipliers"][0].pop("weight_bits"))
    with pytest.raises(UserError, match=r"'ex4'.*shape \(256, 256\), got \(256, 16\).*"
                                        r"weight_bits=4"):
        load_library(dest)
    _edit_index(dest, lambda ix: ix["multipliers"][0].update(weight_bits="four"))
    with pytest.raises(UserError, match="weight_bits must be a whole number 2..8"):
        load_library(dest)
