"""Multiplier libraries: a folder with ``library.json`` (the index) and ``tables.npz``.

``load_library`` finds bundled libraries by name and user libraries by path and caches them;
``write_library`` writes a whole folder atomically.

Index entries: ``name``, ``signed``, ``bits`` (the activation width, 8), ``weight_bits`` (N,
written only for 8xN multipliers with N != 8; an entry without it is 8x8, so older indexes load
unchanged), the figures, ``sources``, ``table_hash`` and ``info``. A library may mix widths; its
exact multiplier (``exact``, the reference of relative power) is the exact one of the widest
weight, i.e. the exact 8x8 where there is one.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evoapproxnas.atomic import new_directory
from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.multipliers.bundled import INDEX_FILE, bundled_names, bundled_path
from evoapproxnas.multipliers.metrics import BITS
from evoapproxnas.multipliers.model import FIGURES, Multiplier, table_dtype
from evoapproxnas.paths import check_path, path_problem, shown

DEFAULT_LIBRARY = "evoapproxlib8u"
TABLES_FILE = "tables.npz"
FORMAT = "evoapproxnas-multiplier-library"
FORMAT_VERSION = 1

_CACHE: dict[tuple[str, str], tuple[tuple, MultiplierLibrary]] = {}


class MultiplierLibrary:
    """An ordered, name-indexed collection of multipliers loaded from one folder."""

    def __init__(
        self,
        name: str,
        multipliers: Iterable[Multiplier],
        *,
        path: Path | None = None,
        identifier: str = "",
        description: str = "",
        exact_name: str | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.identifier = identifier or name
        self.description = description
        self._by_name: dict[str, Multiplier] = {}
        for mul in multipliers:
            if mul.name in self._by_name:
                raise UserError(
                    f"library {self.identifier}: duplicate multiplier name {mul.name!r}; "
                    "names must be unique within a library"
                )
            self._by_name[mul.name] = mul
        self._exact_name = exact_name

    @property
    def names(self) -> list[str]:
        """Multiplier names in index order."""
        return list(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[Multiplier]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Multiplier:
        try:
            return self._by_name[name]
        except KeyError:
            raise UserError(
                f"unknown multiplier {name!r} in library {self.identifier}"
                f"{closest_names(str(name), self._by_name)}; "
                f"'evoapproxnas multipliers list --library {self.identifier}' lists them"
            ) from None

    @property
    def widths(self) -> list[str]:
        """The operand widths present (``"8x4"``, ``"8x8"``...), narrowest weight first."""
        return [f"8x{n}" for n in sorted({m.weight_bits for m in self})]

    @property
    def exact(self) -> Multiplier:
        """The library's error-free multiplier: the index's ``exact`` entry, else the first
        multiplier of the widest weight (8x8 where there is one) whose table is the exact
        product. In a library mixing widths this one exact multiplier is the reference of
        relative power for all of them (an exact 8x4 counts 0.137 / 0.391 of the exact 8x8)."""
        if self._exact_name is not None:
            return self[self._exact_name]
        found = widest_exact(self)
        if found is not None:
            self._exact_name = found.name
            return found
        raise UserError(
            f"library {self.identifier} has no exact multiplier; add one whose table is the "
            "exact product"
        )

    def __repr__(self) -> str:
        return f"MultiplierLibrary({self.identifier!r}, {len(self)} multipliers)"


def widest_exact(multipliers: Iterable[Multiplier]) -> Multiplier | None:
    """The first exact multiplier of the widest weight among ``multipliers``, or ``None``."""
    best: Multiplier | None = None
    for mul in multipliers:
        if (best is None or mul.weight_bits > best.weight_bits) and mul.is_exact:
            best = mul
    return best


def list_libraries() -> list[str]:
    """Names of the bundled libraries."""
    return bundled_names()


def _resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    """The folder of a library and the identifier it is known by (bundled name or path)."""
    text = os.fspath(name_or_path)
    if not text:
        raise UserError(f"empty library name; use one of {', '.join(list_libraries())} or a path")
    problem = path_problem(text)
    if problem:
        raise UserError(f"multiplier library {shown(text)} is neither a bundled name nor a "
                        f"usable folder path: {problem}; use one of "
                        f"{', '.join(list_libraries())} or a library folder")
    bundled = bundled_path(text) if isinstance(name_or_path, str) else None
    if bundled is not None:
        return bundled, text
    try:
        path = Path(text).expanduser()
        if path.is_dir():
            if not (path / INDEX_FILE).is_file():
                raise UserError(
                    f"{path} is not a multiplier library: it has no {INDEX_FILE}; "
                    "point --library at a folder written by evoapproxnas"
                )
            return path, str(path.resolve())
        exists = path.exists()
    except (OSError, RuntimeError) as exc:  # permission denied, ~user unknown ...
        raise UserError(f"cannot open multiplier library folder {text}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    if exists:
        raise UserError(f"{path} is not a folder; a multiplier library is a folder")
    if os.sep in text or "/" in text or text.startswith("."):
        raise UserError(f"no multiplier library folder at {text}; check the path")
    raise UserError(
        f"unknown multiplier library {text!r}{closest_names(text, list_libraries())}; "
        f"bundled: {', '.join(list_libraries())}, or give a folder path"
    )


def _stamp(folder: Path) -> tuple:
    stamp = []
    for fname in (INDEX_FILE, TABLES_FILE):
        try:
            st = (folder / fname).stat()
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def load_library(name_or_path: str | os.PathLike = DEFAULT_LIBRARY) -> MultiplierLibrary:
    """Load a bundled library by name or a user library by folder path (cached).

    A library loaded from a path records its absolute path as identifier (``.library`` of its
    multipliers); a bundled one its name. Raises :class:`UserError` on unknown names or bad files.
    """
    folder, identifier = _resolve(name_or_path)
    key = (identifier, str(folder.resolve()))
    stamp = _stamp(folder)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    library = _read_library(folder, identifier)
    _CACHE[key] = (stamp, library)
    return library


def clear_cache() -> None:
    """Forget every loaded library."""
    _CACHE.clear()


def _read_index(folder: Path) -> dict[str, Any]:
    index_path = folder / INDEX_FILE
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{index_path}: unreadable library index ({exc}); rewrite it") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise UserError(f"{index_path}: not a multiplier library index (format != {FORMAT!r})")
    if index.get("version") != FORMAT_VERSION:
        raise UserError(
            f"{index_path}: library format version {index.get('version')!r} is not supported "
            f"(this evoapproxnas reads version {FORMAT_VERSION})"
        )
    entries = index.get("multipliers")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{index_path}: 'multipliers' must be a list of objects")
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str):
            raise UserError(f"{index_path}: a multiplier entry has no string 'name'")
        if name in seen:
            raise UserError(
                f"{index_path}: duplicate multiplier name {name!r}; names must be unique"
            )
        seen.add(name)
    return index


def _read_library(folder: Path, identifier: str) -> MultiplierLibrary:
    index = _read_index(folder)
    tables_path = folder / TABLES_FILE
    try:
        npz = np.load(tables_path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{tables_path}: cannot read the product tables ({exc})") from None
    multipliers = []
    with npz:
        for entry in index["multipliers"]:
            name = entry["name"]
            where = f"{tables_path}"
            signed = entry.get("signed")
            if not isinstance(signed, bool):
                raise UserError(f"{folder / INDEX_FILE}: multiplier {name!r}: 'signed' missing")
            if name not in npz.files:
                raise UserError(f"{where}: no table for multiplier {name!r}; rebuild the library")
            try:
                lut = npz[name]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise UserError(f"{where}: table of multiplier {name!r} is corrupt ({exc})") from None
            weight_bits = entry.get("weight_bits", BITS)
            if lut.dtype != table_dtype(signed):
                raise UserError(
                    f"{where}: table of multiplier {name!r} has dtype {lut.dtype}, expected "
                    f"{table_dtype(signed).name} for a {'signed' if signed else 'unsigned'} one"
                )
            mul = Multiplier.from_table(
                name,
                lut,
                signed,
                **{k: entry.get(k) for k in FIGURES},
                sources=entry.get("sources") or {},
                library=identifier,
                info=entry.get("info") or {},
                where=where,
                weight_bits=weight_bits,
            )
            expected = entry.get("table_hash")
            if expected is not None and expected != mul.table_hash:
                raise UserError(
                    f"{where}: table of multiplier {name!r} does not match the hash in "
                    f"{INDEX_FILE} (corrupt or edited); rebuild the library"
                )
            multipliers.append(mul)
    return MultiplierLibrary(
        str(index.get("name") or folder.name),
        multipliers,
        path=folder,
        identifier=identifier,
        description=str(index.get("description") or ""),
        exact_name=index.get("exact"),
    )


def _index_entry(mul: Multiplier) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": mul.name, "signed": mul.signed, "bits": mul.bits}
    if mul.weight_bits != BITS:
        entry["weight_bits"] = mul.weight_bits
    entry.update(mul.figures())
    entry["sources"] = dict(mul.sources)
    entry["table_hash"] = mul.table_hash
    if mul.info:
        entry["info"] = dict(mul.info)
    return entry


def _write_tables(path: Path, library: MultiplierLibrary) -> None:
    """Write the tables as a compressed ``.npz`` (one ``NAME.npy`` member per multiplier);
    fixed member timestamps make the bytes depend on the tables only."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for mul in library:
            member_info = zipfile.ZipInfo(f"{mul.name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member_info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(member_info, "w") as member:
                np.lib.format.write_array(member, mul.lut, allow_pickle=False)


def write_library(
    dest: str | os.PathLike,
    name: str,
    multipliers: Iterable[Multiplier],
    *,
    description: str = "",
    license_text: str | None = None,
    readme_text: str | None = None,
) -> Path:
    """Write a library folder (index, compressed tables, optional LICENSE/README.md) atomically.

    Refuses an existing ``dest`` and duplicate names with :class:`UserError`; on failure nothing
    is left at ``dest``. Returns the folder path.
    """
    dest = check_path(dest, "library folder")
    if dest.exists():
        raise UserError(f"{dest} already exists; choose a new folder or remove it first")
    if not isinstance(name, str) or not name.strip():
        raise UserError("a library needs a non-empty name")
    muls = list(multipliers)
    if not muls:
        raise UserError(f"library {name!r} has no multipliers; give at least one")
    library = MultiplierLibrary(name, muls, identifier=str(dest))  # refuses duplicates
    exact_mul = widest_exact(library)
    exact = None if exact_mul is None else exact_mul.name
    index = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name,
        "description": description,
        "exact": exact,
        "multipliers": [_index_entry(m) for m in library],
    }
    try:
        with new_directory(dest) as tmp:
            tmp.chmod(0o755)  # mkdtemp made it private; a library folder is shared data
            _write_tables(tmp / TABLES_FILE, library)
            (tmp / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
            if license_text is not None:
                (tmp / "LICENSE").write_text(license_text, encoding="utf-8")
            if readme_text is not None:
                (tmp / "README.md").write_text(readme_text, encoding="utf-8")
    except FileExistsError as exc:
        if os.path.lexists(dest):
            raise UserError(f"{dest} already exists; choose a new folder or remove it "
                            "first") from None
        raise UserError(f"cannot write library folder {dest}: {exc.filename} is a file, not a "
                        "folder; choose another place") from None
    except OSError as exc:  # read-only folder, disk full ...
        raise UserError(f"cannot write library folder {dest}: {exc.strerror or exc}") from None
    return dest
