#!/usr/bin/env python3
"""(Re)build the bundled EvoApproxLib libraries ``multipliers/evoapproxlib8u`` (unsigned) and
``multipliers/evoapproxlib8s`` (signed) from a source folder holding ``lut_unsigned.npz``,
``lut_signed.npz`` and ``metrics.csv`` (default: ../shared/evoapproxlib beside the repository).

Usage: python scripts/build_evoapproxlib.py [--source DIR] [--dest DIR] [--force]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import Multiplier, write_library

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "evoapproxlib"
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

LICENSE_TEXT = f"""The product tables and hardware figures in this folder are data derived from
EvoApproxLib (EvoApprox8b), the library of approximate circuits by the EHW group,
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

{CITATION}
"""


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

The exact multiplier is `{exact}`. Hardware figures are the library's published ones
(45 nm PDK); error metrics are recomputed from the tables by `evoapproxnas.multipliers`.

Cite: {CITATION}
"""


def _number(row: dict[str, str], key: str, where: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        raise UserError(f"{where}: column {key!r} missing or not a number") from None


def read_source(source: Path) -> dict[str, list[Multiplier]]:
    """Multipliers of each library built from the source folder."""
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
                    sources={k: PUBLISHED for k in figures},
                    library=lib_name,
                    info=info,
                    where=str(npz_path),
                )
            )
        out[lib_name] = muls
    return out


def build(source: Path, dest: Path, force: bool) -> list[Path]:
    """Write both library folders under ``dest``; ``force`` replaces existing ones."""
    libs = read_source(source)
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
    parser.add_argument("--force", action="store_true", help="replace existing libraries")
    args = parser.parse_args(argv)
    try:
        for path in build(args.source, args.dest, args.force):
            print(f"wrote {path}")
    except UserError as exc:
        print(f"build_evoapproxlib: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
