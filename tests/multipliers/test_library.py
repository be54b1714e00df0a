"""Bundled libraries, load_library and write_library."""

import json
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
SHARED = REPO.parent / "shared" / "evoapproxlib"


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
    assert u["mul8u_1JFF"].sources["luts"] == "unknown"


def test_bundled_tables_equal_source_data():
    if not SHARED.is_dir():
        pytest.fail(f"source data {SHARED} missing")
    for lib, fname in (("evoapproxlib8u", "lut_unsigned.npz"), ("evoapproxlib8s", "lut_signed.npz")):
        with np.load(SHARED / fname) as src:
            library = load_library(lib)
            assert set(src.files) == set(library.names)
            for name in src.files:
                assert np.array_equal(src[name], library[name].lut), name
                assert src[name].dtype == library[name].lut.dtype


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
    """Rebuilding from the shared source gives byte-identical tables and the same index."""
    if not SHARED.is_dir():
        pytest.fail(f"source data {SHARED} missing")
    import runpy

    build = runpy.run_path(str(REPO / "scripts" / "build_evoapproxlib.py"))["main"]
    assert build(["--source", str(SHARED), "--dest", str(tmp_path)]) == 0
    for lib in ("evoapproxlib8u", "evoapproxlib8s"):
        bundled = load_library(lib).path
        for fname in ("tables.npz", "library.json", "LICENSE", "README.md"):
            assert (tmp_path / lib / fname).read_bytes() == (bundled / fname).read_bytes(), fname
    assert build(["--source", str(SHARED), "--dest", str(tmp_path)]) == 2  # exists, no --force
    assert build(["--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "o")]) == 2
