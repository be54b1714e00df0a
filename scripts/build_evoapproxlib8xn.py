#!/usr/bin/env python3
"""(Re)build the bundled library ``multipliers/evoapproxlib8xNu``: EvoApproxLib's unsigned 8xN-bit
multipliers (N = 2..7) from their C models in ``SOURCE/c8xN/`` (default ../shared/evoapproxlib
beside the repository), compiled with the system C compiler through the package's C importer,
plus the exact 8x8 ``mul8u_1JFF`` of the bundled ``evoapproxlib8u``: the one exact multiplier of
the library, which relative power is measured against.

Each multiplier's table is ``lut[a, b]`` of shape ``(256, 2**N)`` with ``a`` the 8-bit operand
``A`` (the activation) and ``b`` the N-bit ``B`` (the weight). Power, area and delay are the
figures published in the circuits' headers (45 nm PDK); the published error metrics are kept
under ``info.published``.

With ``--test-data DIR`` it writes instead the small reference data the tests check the bundled
library against (``tests/data/evoapproxlib8xn``): the published header figures of every circuit
as printed (``metrics.csv``), the sha256 of every table (``tables_sha256.csv``), the library's
``LICENSE.md`` and a few of the C files.

Usage: python scripts/build_evoapproxlib8xn.py [--source DIR] [--dest DIR] [--force]
       python scripts/build_evoapproxlib8xn.py --test-data tests/data/evoapproxlib8xn [--force]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import Multiplier, load_library, write_library
from evoapproxnas.multipliers.importers.c_model import (
    find_functions,
    read_c_model,
    strip_comments,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_evoapproxlib import license_text  # noqa: E402  (the sibling script)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "evoapproxlib"
DEFAULT_TEST_DATA = REPO / "tests" / "data" / "evoapproxlib8xn"
LIBRARY = "evoapproxlib8xNu"
DESCRIPTION = "EvoApproxLib unsigned 8xN-bit multipliers (N = 2..7) and the exact 8x8"
EXACT_LIBRARY, EXACT_NAME = "evoapproxlib8u", "mul8u_1JFF"
C_FOLDER = "c8xN"
C_GLOB = "mul8x[2-7]u_*.c"
PUBLISHED = "published: EvoApproxLib (8xN-bit, 45 nm PDK)"
# C files copied into the test data: one circuit of each width, an exact one (8x3), an always-0
# one (8x4), and both signature styles of the library (with and without operand comments).
C_SAMPLES = ("mul8x2u_015", "mul8x3u_0KE", "mul8x4u_0S7", "mul8x4u_555", "mul8x5u_613",
             "mul8x6u_4MB", "mul8x7u_2D5")
MANIFEST = "tables_sha256.csv"
# the header lines, in the order of the test data's columns
HEADER_KEYS = {
    "PDK45_PWR": "power_mw", "PDK45_AREA": "area_um2", "PDK45_DELAY": "delay_ns",
    "MAE%": "mae_pct", "MAE": "mae", "WCE%": "wce_pct", "WCE": "wce", "WCRE%": "wcre_pct",
    "EP%": "ep_pct", "MRE%": "mre_pct", "MSE": "mse",
}
_HEADER_LINE = re.compile(r"^//\s*(?P<key>[A-Z0-9_]+%?)\s*=\s*(?P<value>[-+0-9.eE]+)", re.MULTILINE)

CITATION = (
    'V. Mrazek, L. Sekanina and Z. Vasicek, "Libraries of Approximate Circuits: Automated\n'
    'Design and Application in CNN Accelerators", IEEE Journal on Emerging and Selected Topics\n'
    "in Circuits and Systems (JETCAS) 10(4), 2020, pp. 406-418, doi:10.1109/JETCAS.2020.3032495"
)
EXACT_CITATION = (
    'V. Mrazek, R. Hrbacek, Z. Vasicek and L. Sekanina, "EvoApprox8b: Library of approximate\n'
    'adders and multipliers for circuit design and benchmarking of approximation methods",\n'
    "DATE 2017, pp. 258-261, doi:10.23919/DATE.2017.7926993"
)
LICENSE_TEXT = license_text(
    f"{CITATION}\n\nand, for the exact 8x8 multiplier {EXACT_NAME} (EvoApprox8b):\n\n"
    f"{EXACT_CITATION}",
    library="EvoApproxLib",
)


def readme_text(muls: list[Multiplier]) -> str:
    """The README of the bundled library."""
    counts = ", ".join(
        f"8x{n}: {sum(m.weight_bits == n for m in muls)}"
        for n in sorted({m.weight_bits for m in muls})
    )
    exact = "\n".join(
        f"| 8x{m.weight_bits} | `{m.name}` | {m.power_mw} | {m.area_um2} |"
        for m in muls if m.is_exact
    )
    return f"""# {LIBRARY}

{DESCRIPTION}: {len(muls)} circuits
({counts}).
The 8xN ones are the C models of EvoApproxLib's `8xN_unsigned` folders, deduplicated; the
exact 8x8 `{EXACT_NAME}` is EvoApprox8b's, copied from the bundled `{EXACT_LIBRARY}`.
Built by `scripts/build_evoapproxlib8xn.py`; do not edit by hand.

- `library.json`: the index (names, `weight_bits` N of each 8xN circuit (absent = 8), table
  hashes, published power/area/delay with their source, the published error metrics under
  `info.published`, the C signature).
- `tables.npz`: one product table per multiplier, `uint16` of shape `(256, 2**N)`:
  `lut[a, b]` = the circuit's output for its 8-bit operand `A = a` (the activation code) and its
  N-bit operand `B = b` (the weight code), 8 + N output bits.
- `LICENSE`: EvoApproxLib's MIT license, copyright holder and the articles to cite.

Error metrics are recomputed from the tables by `evoapproxnas.multipliers` over all 256 * 2^N
operand pairs, percentages relative to 2^(8+N), and agree with the published ones. The exact
multiplier of the library (the reference of relative power) is `{EXACT_NAME}`, 8x8; the exact
circuit of each narrower width is an ordinary, cheaper member:

| width | exact circuit | power [mW] | area [um2] |
| --- | --- | --- | --- |
{exact}

Each width also has an always-0 circuit (power, area and delay 0).

Cite: {CITATION}
"""


def c_files(source: Path) -> list[Path]:
    """The 8xN C models of the source folder, sorted by name."""
    folder = source / C_FOLDER
    files = sorted(folder.glob(C_GLOB))
    if not files:
        raise UserError(f"no {C_GLOB} files in {folder}; pass --source DIR")
    return files


def header_strings(path: Path) -> dict[str, str]:
    """The published figures of a C file's header, as printed (``{"mae_pct": "0.17", ...}``)."""
    text = path.read_text(encoding="utf-8")
    found = {HEADER_KEYS[m["key"]]: m["value"] for m in _HEADER_LINE.finditer(text)
             if m["key"] in HEADER_KEYS}
    missing = [k for k in HEADER_KEYS.values() if k not in found]
    if missing:
        raise UserError(f"{path}: header lacks {', '.join(missing)}")
    return {k: found[k] for k in HEADER_KEYS.values()}


def signature(path: Path, name: str) -> str:
    """The C signature of function ``name`` without comments, spaces normalised."""
    text = " ".join(strip_comments(path.read_text(encoding="utf-8")).split())
    match = re.search(rf"\w+ {re.escape(name)} ?\([^()]*\)", text)
    if not match:
        return ""
    return re.sub(r"\s*,\s*", ", ", re.sub(r"\(\s*", "(", re.sub(r"\s*\)", ")", match[0])))


def read_circuit(path: Path) -> Multiplier:
    """One 8xN circuit as a multiplier of the library, figures from its header."""
    circuit = read_c_model(path)
    if circuit.weight_bits == 8:
        raise UserError(f"{path}: not an 8xN circuit (name {circuit.name})")
    printed = header_strings(path)
    figures = {k: float(printed[k]) for k in ("power_mw", "area_um2", "delay_ns")}
    (func,) = [f for f in find_functions(path.read_text(encoding="utf-8"))
               if f.name == circuit.name]
    info = {
        "published": {k: float(v) for k, v in printed.items() if k not in figures},
        "c_signature": signature(path, func.name),
        "source": "EvoApproxLib (https://ehw.fit.vutbr.cz/approxlib), MIT License",
    }
    return Multiplier.from_table(
        circuit.name, circuit.lut, False, **figures, sources={k: PUBLISHED for k in figures},
        library=LIBRARY, info=info, where=str(path), weight_bits=circuit.weight_bits,
    )


def read_source(source: Path) -> list[Multiplier]:
    """All multipliers of the library: the 8xN circuits by width then name, then the exact 8x8."""
    muls = [read_circuit(path) for path in c_files(source)]
    muls.sort(key=lambda m: (m.weight_bits, m.name))
    exact = load_library(EXACT_LIBRARY)[EXACT_NAME]
    if not exact.is_exact:
        raise UserError(f"{EXACT_LIBRARY}/{EXACT_NAME} is not exact; rebuild {EXACT_LIBRARY}")
    return muls + [exact.with_library(LIBRARY)]


def table_sha256(table: np.ndarray) -> str:
    """sha256 of a table's bytes: C order, little-endian 16-bit words."""
    data = np.ascontiguousarray(table, dtype=table.dtype.newbyteorder("<")).tobytes()
    return hashlib.sha256(data).hexdigest()


def test_data_readme() -> str:
    """The README of the tests' reference data folder."""
    return f"""# EvoApproxLib 8xN reference data for the tests

Small data from EvoApproxLib (https://ehw.fit.vutbr.cz/approxlib, MIT License, (c) EHW group,
Faculty of Information Technology, Brno University of Technology; license text in `LICENSE.md`)
that the tests check the bundled library `multipliers/{LIBRARY}` against, so that they need
nothing outside the repository. Written by `scripts/build_evoapproxlib8xn.py --test-data` from
the library's 8xN C models (`c8xN/`); do not edit by hand.

- `metrics.csv`: one row per 8xN circuit: `name`, `weight_bits` N and the figures of its
  header exactly as printed there (`power_mw`, `area_um2`, `delay_ns` for the 45 nm PDK; `mae`,
  `wce`, `mse`; `mae_pct`, `wce_pct` relative to 2^(8+N); `wcre_pct`, `ep_pct`, `mre_pct`),
  so that a test knows each figure's printed precision.
- `{MANIFEST}`: name, N and sha256 of every circuit's table as its C model gives it
  (`uint16` `[256, 2**N]`, `lut[a, b] = f(A=a, B=b)`, C order, little-endian bytes).
- `c8xN/`: {len(C_SAMPLES)} of the C models, unchanged (each keeps its header: license, the
  article to cite, published figures).

If you use these circuits in published work, cite:

{CITATION}
"""


def write_test_data(source: Path, dest: Path, force: bool) -> Path:
    """Write the tests' reference data folder ``dest`` from the source folder."""
    files = {"LICENSE.md": source / "LICENSE.md"}
    files |= {f"{C_FOLDER}/{n}.c": source / C_FOLDER / f"{n}.c" for n in C_SAMPLES}
    for path in files.values():
        if not path.is_file():
            raise UserError(f"{path} missing; pass --source DIR")
    metrics, manifest = io.StringIO(), io.StringIO()
    mwriter = csv.writer(metrics, lineterminator="\n")
    mwriter.writerow(["name", "weight_bits", *HEADER_KEYS.values()])
    twriter = csv.writer(manifest, lineterminator="\n")
    twriter.writerow(["name", "weight_bits", "sha256"])
    for path in c_files(source):
        mul = read_circuit(path)
        printed = header_strings(path)
        mwriter.writerow([mul.name, mul.weight_bits, *printed.values()])
        twriter.writerow([mul.name, mul.weight_bits, table_sha256(mul.lut)])
    if dest.exists() and not force:
        raise UserError(f"{dest} exists; pass --force to rewrite it")
    shutil.rmtree(dest, ignore_errors=True)
    (dest / C_FOLDER).mkdir(parents=True)
    for rel, path in files.items():
        shutil.copyfile(path, dest / rel)
    (dest / "metrics.csv").write_text(metrics.getvalue(), encoding="utf-8")
    (dest / MANIFEST).write_text(manifest.getvalue(), encoding="utf-8")
    (dest / "README.md").write_text(test_data_readme(), encoding="utf-8")
    return dest


def build(source: Path, dest: Path, force: bool) -> Path:
    """Write the library folder ``dest/evoapproxlib8xNu``; ``force`` replaces an existing one."""
    muls = read_source(source)
    target = dest / LIBRARY
    if target.exists() and not force:
        raise UserError(f"{target} exists; pass --force to rebuild it")
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".{LIBRARY}.", suffix=".new"))
    try:
        built = write_library(staging / LIBRARY, LIBRARY, muls, description=DESCRIPTION,
                              license_text=LICENSE_TEXT, readme_text=readme_text(muls))
        if target.exists():
            target.rename(staging / "old")
        built.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build the library (or the test data); 2 on a user error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help=f"folder holding {C_FOLDER}/ and LICENSE.md")
    parser.add_argument("--dest", type=Path, default=REPO / "multipliers",
                        help="folder of the bundled libraries")
    parser.add_argument("--force", action="store_true", help="replace existing output")
    parser.add_argument(
        "--test-data", type=Path, metavar="DIR", default=None,
        help="write the tests' reference data to DIR instead of building the library "
        f"(the repository's copy: {DEFAULT_TEST_DATA.relative_to(REPO)})",
    )
    args = parser.parse_args(argv)
    try:
        if args.test_data is not None:
            print(f"wrote {write_test_data(args.source, args.test_data, args.force)}")
        else:
            print(f"wrote {build(args.source, args.dest, args.force)}")
    except UserError as exc:
        print(f"build_evoapproxlib8xn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
