#!/usr/bin/env python3
"""(Re)build the bundled EvoApproxLib libraries ``multipliers/evoapproxlib8u`` (unsigned) and
``multipliers/evoapproxlib8s`` (signed) from a source folder holding ``lut_unsigned.npz``,
``lut_signed.npz`` and ``metrics.csv`` (default: ../shared/evoapproxlib beside the repository),
with the circuits' LUT counts from ``scripts/evoapproxlib_luts.csv`` (written by
``scripts/synth_evoapproxlib_luts.py``, yosys ``synth_xilinx`` of the circuits' Verilog).

With ``--test-data DIR`` it writes instead the small reference data the tests check the bundled
libraries against, so that they run without the source folder (``tests/data/evoapproxlib``):
a copy of ``metrics.csv`` (the published figures) and of the library's ``LICENSE.md``,
``tables_sha256.csv`` (the sha256 of every source table) and a few of the circuits' gate-level
Verilog files from ``verilog8x8/``.

Usage: python scripts/build_evoapproxlib.py [--source DIR] [--dest DIR] [--luts CSV] [--force]
       python scripts/build_evoapproxlib.py --test-data tests/data/evoapproxlib [--force]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import Multiplier, write_library
from evoapproxnas.multipliers.importers.verilog import LUTS_SOURCE

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "evoapproxlib"
DEFAULT_TEST_DATA = REPO / "tests" / "data" / "evoapproxlib"
# LUT counts of the circuits, from scripts/synth_evoapproxlib_luts.py (yosys synth_xilinx)
DEFAULT_LUTS = REPO / "scripts" / "evoapproxlib_luts.csv"
# Verilog copied into the test data: exact, zero and dense/low-rank approximate circuits, both
# signednesses, asymmetric ones (operand order shows) and each netlist style the library uses.
VERILOG_SAMPLES = ("mul8u_1JFF", "mul8u_2AC", "mul8u_E9R", "mul8u_FTA", "mul8u_L40",
                   "mul8s_1KR3", "mul8s_1KR6", "mul8s_1KV8")
MANIFEST = "tables_sha256.csv"
PUBLISHED = "published: EvoApproxLib (8-bit, 45 nm PDK)"
PUBLISHED_METRICS = ("mae_pct", "mae", "wce_pct", "wce", "wcre_pct", "ep_pct", "mre_pct", "mse")
LIBRARIES = {
    "evoapproxlib8u": (False, "lut_unsigned.npz", "EvoApproxLib 8x8-bit unsigned multipliers"),
    "evoapproxlib8s": (True, "lut_signed.npz", "EvoApproxLib 8x8-bit signed multipliers"),
}

CITATION = (
    'V. Mrazek, R. Hrbacek, Z. Vasicek and L. Sekanina, "EvoApprox8b: Library of approximate\n'
    'adders and multipliers for circuit design and benchmarking of approximation methods",\n'
    "Design, Automation & Test in Europe (DATE) 2017, pp. 258-261,\n"
    "doi:10.23919/DATE.2017.7926993"
)

def license_text(citation: str, library: str = "EvoApproxLib (EvoApprox8b)") -> str:
    """The LICENSE note of a folder of data derived from EvoApproxLib: where the data comes
    from, EvoApproxLib's MIT license with its copyright holder, and the article to cite."""
    return f"""The product tables and hardware figures in this folder are data derived from
{library}, the library of approximate circuits by the EHW group,
Faculty of Information Technology, Brno University of Technology
(https://ehw.fit.vutbr.cz/approxlib). EvoApproxLib is distributed under the MIT License:

Copyright (c) EHW group, Faculty of Information Technology, Brno University of Technology

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

If you use these multipliers in published work, cite:

{citation}
"""


LICENSE_TEXT = license_text(CITATION)


def readme_text(name: str, description: str, muls: list[Multiplier]) -> str:
    """The README of one bundled library."""
    exact = next(m.name for m in muls if m.is_exact)
    return f"""# {name}

{description}: {len(muls)} circuits of the EvoApproxLib (EvoApprox8b) library, master-branch
names (the ones TFApprox uses). Built by `scripts/build_evoapproxlib.py`; do not edit by hand.

- `library.json`: the index (names, signedness, table hashes, published power/area/delay with
  their source, and the published error metrics under `info.published`).
- `tables.npz`: one 256x256 product table per multiplier, `lut[a, b]` with `a` the activation
  code and `b` the weight code (two's-complement bytes for signed circuits).
- `LICENSE`: EvoApproxLib's MIT license, copyright holder and the citation to use.

The exact multiplier is `{exact}`. Power, area and delay are the library's published figures
(45 nm PDK); `luts` counts LUT1-6 cells of yosys `synth_xilinx` on the circuit's Verilog
(`scripts/synth_evoapproxlib_luts.py`); error metrics are recomputed from the tables by
`evoapproxnas.multipliers`.

Cite: {CITATION}
"""


def _number(row: dict[str, str], key: str, where: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        raise UserError(f"{where}: column {key!r} missing or not a number") from None


def read_luts(path: Path) -> dict[tuple[str, bool], int]:
    """LUT counts by (name, signed) from the CSV of ``scripts/synth_evoapproxlib_luts.py``."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return {(r["name"], r["signed"] == "1"): int(r["luts"]) for r in csv.DictReader(fh)}
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"cannot read the LUT counts {path} ({exc}); run "
                        "scripts/synth_evoapproxlib_luts.py or pass --luts FILE") from None


def read_source(source: Path, luts_path: Path = DEFAULT_LUTS) -> dict[str, list[Multiplier]]:
    """Multipliers of each library built from the source folder and the LUT counts."""
    luts = read_luts(luts_path)
    csv_path = source / "metrics.csv"
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise UserError(f"cannot read {csv_path} ({exc}); pass --source DIR") from None
    out: dict[str, list[Multiplier]] = {}
    for lib_name, (signed, npz_name, _) in LIBRARIES.items():
        npz_path = source / npz_name
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                tables = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise UserError(f"cannot read {npz_path} ({exc})") from None
        lib_rows = [r for r in rows if r.get("signed", "").strip() == ("1" if signed else "0")]
        missing = sorted({r["name"] for r in lib_rows} ^ set(tables))
        if missing:
            raise UserError(f"{csv_path} and {npz_path} disagree on circuits: {missing}")
        muls = []
        for row in lib_rows:
            where = f"{csv_path} row {row['name']}"
            figures = {k: _number(row, k, where) for k in ("power_mw", "area_um2", "delay_ns")}
            info = {
                "published": {k: _number(row, k, where) for k in PUBLISHED_METRICS},
                "c_signature": row.get("c_signature", ""),
                "source": "EvoApproxLib (https://ehw.fit.vutbr.cz/approxlib), MIT License",
            }
            muls.append(
                Multiplier.from_table(
                    row["name"],
                    tables[row["name"]],
                    signed,
                    **figures,
                    luts=luts.get((row["name"], signed)),
                    sources={**{k: PUBLISHED for k in figures}, "luts": LUTS_SOURCE}
                    if (row["name"], signed) in luts else {k: PUBLISHED for k in figures},
                    library=lib_name,
                    info=info,
                    where=str(npz_path),
                )
            )
        out[lib_name] = muls
    return out


def table_sha256(table: np.ndarray) -> str:
    """sha256 of a table's bytes: C order, little-endian 16-bit words."""
    data = np.ascontiguousarray(table, dtype=table.dtype.newbyteorder("<")).tobytes()
    return hashlib.sha256(data).hexdigest()


def test_data_readme() -> str:
    """The README of the tests' reference data folder."""
    return f"""# EvoApproxLib reference data for the tests

Small data from EvoApproxLib (https://ehw.fit.vutbr.cz/approxlib, MIT License, (c) EHW group,
Faculty of Information Technology, Brno University of Technology; license text in `LICENSE.md`)
that the tests check the bundled libraries `multipliers/evoapproxlib8u` and `evoapproxlib8s`
against, so that they need nothing outside the repository. Written by
`scripts/build_evoapproxlib.py --test-data` from the library's files (`metrics.csv`,
`LICENSE.md`, `lut_unsigned.npz`, `lut_signed.npz`, `verilog8x8/`); do not edit by hand.

- `metrics.csv`: one row per circuit, the published figures of the circuits' headers
  (`power_mw`, `area_um2`, `delay_ns` for the 45 nm PDK, `mae`, `wce`, `mre_pct`, ...;
  percentages relative to 2^16), `mae_check` / `wce_check` recomputed from the tables, and the
  C signature.
- `{MANIFEST}`: name, signedness, dtype and sha256 of every source table (`uint16` / `int16`
  [256, 256], C order, little-endian bytes), the tables the bundled `tables.npz` must equal.
- `verilog/`: the gate-level Verilog of {len(VERILOG_SAMPLES)} of the circuits, unchanged (each file
  keeps its own header: license, the article to cite, published figures).

If you use these circuits in published work, cite:

{CITATION}
"""


def write_test_data(source: Path, dest: Path, force: bool) -> Path:
    """Write the tests' reference data folder ``dest`` from the source folder."""
    files = {"metrics.csv": source / "metrics.csv", "LICENSE.md": source / "LICENSE.md"}
    files |= {f"verilog/{n}.v": source / "verilog8x8" / f"{n}.v" for n in VERILOG_SAMPLES}
    for path in files.values():
        if not path.is_file():
            raise UserError(f"{path} missing; pass --source DIR")
    rows = []
    for signed, npz_name, _ in LIBRARIES.values():
        with np.load(source / npz_name, allow_pickle=False) as npz:
            rows += [(name, int(signed), npz[name].dtype.name, table_sha256(npz[name]))
                     for name in sorted(npz.files)]
    manifest = io.StringIO()
    writer = csv.writer(manifest, lineterminator="\n")
    writer.writerow(["name", "signed", "dtype", "sha256"])
    writer.writerows(rows)
    if dest.exists() and not force:
        raise UserError(f"{dest} exists; pass --force to rewrite it")
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "verilog").mkdir(parents=True)
    for rel, path in files.items():
        shutil.copyfile(path, dest / rel)
    (dest / MANIFEST).write_text(manifest.getvalue(), encoding="utf-8")
    (dest / "README.md").write_text(test_data_readme(), encoding="utf-8")
    return dest


def build(source: Path, dest: Path, force: bool, luts: Path = DEFAULT_LUTS) -> list[Path]:
    """Write both library folders under ``dest``; ``force`` replaces existing ones."""
    libs = read_source(source, luts)
    written = []
    for lib_name, muls in libs.items():
        description = LIBRARIES[lib_name][2]
        target = dest / lib_name
        if target.exists() and not force:
            raise UserError(f"{target} exists; pass --force to rebuild it")
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".{lib_name}.", suffix=".new"))
        try:
            built = write_library(
                staging / lib_name,
                lib_name,
                muls,
                description=description,
                license_text=LICENSE_TEXT,
                readme_text=readme_text(lib_name, description, muls),
            )
            if target.exists():
                old = staging / "old"
                target.rename(old)
            built.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="source folder")
    parser.add_argument(
        "--dest", type=Path, default=REPO / "multipliers", help="folder of the libraries"
    )
    parser.add_argument("--force", action="store_true", help="replace existing output")
    parser.add_argument(
        "--luts", type=Path, default=DEFAULT_LUTS,
        help="LUT counts CSV (default: the repository's, from synth_evoapproxlib_luts.py)",
    )
    parser.add_argument(
        "--test-data", type=Path, metavar="DIR", default=None,
        help="write the tests' reference data to DIR instead of building the libraries "
        f"(the repository's copy: {DEFAULT_TEST_DATA.relative_to(REPO)})",
    )
    args = parser.parse_args(argv)
    try:
        if args.test_data is not None:
            print(f"wrote {write_test_data(args.source, args.test_data, args.force)}")
            return 0
        for path in build(args.source, args.dest, args.force, args.luts):
            print(f"wrote {path}")
    except UserError as exc:
        print(f"build_evoapproxlib: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
