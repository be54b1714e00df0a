"""One 8x8-bit multiplier: its product table ``lut[a, b]``, hardware figures and error metrics."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.metrics import (
    CODES,
    ErrorMetrics,
    compute_error_metrics,
    exact_products,
)

FIGURES = ("power_mw", "area_um2", "delay_ns", "luts")
UNKNOWN = "unknown"


def table_dtype(signed: bool) -> np.dtype:
    """The storage dtype of a table: little-endian int16 when signed, else uint16."""
    return np.dtype("<i2" if signed else "<u2")


def table_hash(lut: np.ndarray, signed: bool) -> str:
    """sha256 hex digest of the table's bytes (C order, little-endian 16-bit)."""
    data = np.ascontiguousarray(lut, dtype=table_dtype(signed)).tobytes()
    return hashlib.sha256(data).hexdigest()


def _check_table(name: str, lut: Any, signed: bool, where: str) -> np.ndarray:
    """Validate shape, dtype, range and signedness; return a read-only copy in storage dtype."""
    kind = "signed" if signed else "unsigned"
    arr = np.asarray(lut)
    if arr.shape != (CODES, CODES):
        raise UserError(
            f"{where}multiplier {name!r}: product table must have shape (256, 256), got "
            f"{arr.shape}; give one output per pair of 8-bit operand codes"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise UserError(
            f"{where}multiplier {name!r}: product table must hold integers, got dtype "
            f"{arr.dtype}; store it as {table_dtype(signed).name}"
        )
    info = np.iinfo(table_dtype(signed))
    lo, hi = int(arr.min()), int(arr.max())
    if lo < info.min or hi > info.max:
        raise UserError(
            f"{where}multiplier {name!r}: values {lo}..{hi} do not fit a {kind} 16-bit "
            f"product ({info.min}..{info.max}); check its declared signedness"
        )
    table = np.array(arr, dtype=table_dtype(signed), order="C")
    _check_signedness(name, table, signed, where)
    table.setflags(write=False)
    return table


def _check_signedness(name: str, table: np.ndarray, signed: bool, where: str) -> None:
    """Refuse a table that fits the other signedness' exact product far better.

    The other interpretation's exact products are wrapped into this table's dtype (what a table
    of the wrong kind looks like once stored), so a zero table or a coarse approximation of the
    declared kind still passes.
    """
    values = table.astype(np.int64)
    declared = np.abs(values - exact_products(signed)).mean()
    other = exact_products(not signed).astype(table_dtype(signed)).astype(np.int64)
    mismatch = np.abs(values - other).mean()
    if mismatch * 2 < declared:
        kind, other_kind = ("signed", "unsigned") if signed else ("unsigned", "signed")
        raise UserError(
            f"{where}multiplier {name!r} is declared {kind} but its table looks like a "
            f"{other_kind} product (lut[255, 255] = {int(table[255, 255])}, mean error "
            f"{declared:.0f} as {kind} vs {mismatch:.0f} as {other_kind}); fix its 'signed' flag"
        )


def _check_figure(name: str, figure: str, value: Any, where: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{where}multiplier {name!r}: {figure} must be a number, got {value!r}")
    value = int(value) if figure == "luts" else float(value)
    if not math.isfinite(value) or value < 0:
        raise UserError(
            f"{where}multiplier {name!r}: {figure} must be finite and >= 0, got {value!r}"
        )
    return value


class Multiplier:
    """An 8x8-bit multiplier; construct it with :meth:`from_table`.

    ``lut[a, b]`` is the output for activation code ``a`` and weight code ``b`` (two's-complement
    bytes when ``signed``); read-only, ``uint16`` or ``int16``. Hardware figures may be ``None``;
    ``sources`` says for each figure where it comes from ("published ...", "estimated by ...",
    or "unknown"). ``library`` is the library name or path it belongs to.
    """

    bits = 8

    def __init__(
        self,
        name: str,
        lut: np.ndarray,
        signed: bool,
        *,
        power_mw: float | None,
        area_um2: float | None,
        delay_ns: float | None,
        luts: int | None,
        sources: Mapping[str, str],
        library: str,
        info: Mapping[str, Any],
        table_hash_: str,
    ) -> None:
        self.name = name
        self.lut = lut
        self.signed = signed
        self.power_mw = power_mw
        self.area_um2 = area_um2
        self.delay_ns = delay_ns
        self.luts = luts
        self.sources = MappingProxyType(dict(sources))
        self.library = library
        self.info = MappingProxyType(dict(info))
        self.table_hash = table_hash_

    @classmethod
    def from_table(
        cls,
        name: str,
        lut: np.ndarray,
        signed: bool,
        *,
        power_mw: float | None = None,
        area_um2: float | None = None,
        delay_ns: float | None = None,
        luts: int | None = None,
        sources: Mapping[str, str] | None = None,
        library: str = "",
        info: Mapping[str, Any] | None = None,
        where: str = "",
    ) -> Multiplier:
        """Validate a table and figures and build a multiplier.

        ``sources`` maps figure names (``power_mw``, ``area_um2``, ``delay_ns``, ``luts``) to
        where they come from; missing ones become "unknown". ``info`` holds extra JSON-able
        facts (e.g. published error metrics). ``where`` prefixes error messages (a file name).
        Raises :class:`UserError` on a bad name, table or figure.
        """
        where = f"{where}: " if where and not where.endswith(": ") else where
        if not isinstance(name, str) or not name or name != name.strip() or "#" in name:
            raise UserError(
                f"{where}invalid multiplier name {name!r}: use a non-empty name without "
                "surrounding spaces or '#'"
            )
        if not isinstance(signed, (bool, np.bool_)):
            raise UserError(f"{where}multiplier {name!r}: 'signed' must be true or false")
        signed = bool(signed)
        table = _check_table(name, lut, signed, where)
        raw = {"power_mw": power_mw, "area_um2": area_um2, "delay_ns": delay_ns, "luts": luts}
        figures = {k: _check_figure(name, k, v, where) for k, v in raw.items()}
        sources = dict(sources or {})
        unknown = sorted(set(sources) - set(FIGURES))
        if unknown:
            raise UserError(
                f"{where}multiplier {name!r}: sources for unknown figures {unknown}; "
                f"use {', '.join(FIGURES)}"
            )
        for key in FIGURES:
            src = sources.get(key)
            sources[key] = str(src) if figures[key] is not None and src else UNKNOWN
        return cls(
            name,
            table,
            signed,
            sources=sources,
            library=str(library),
            info=dict(info or {}),
            table_hash_=table_hash(table, signed),
            **figures,
        )

    @property
    def key(self) -> str:
        """Identity: name plus the first 12 hex digits of the table hash (``name#hash12``)."""
        return f"{self.name}#{self.table_hash[:12]}"

    @cached_property
    def metrics(self) -> ErrorMetrics:
        """Error metrics computed from the table."""
        return compute_error_metrics(self.lut, self.signed)

    @property
    def is_exact(self) -> bool:
        """True when the table is the exact product."""
        return self.metrics.is_exact

    def with_library(self, library: str) -> Multiplier:
        """A copy that records ``library`` as the library it belongs to (table shared)."""
        return Multiplier(
            self.name,
            self.lut,
            self.signed,
            power_mw=self.power_mw,
            area_um2=self.area_um2,
            delay_ns=self.delay_ns,
            luts=self.luts,
            sources=self.sources,
            library=library,
            info=self.info,
            table_hash_=self.table_hash,
        )

    def figures(self) -> dict[str, float | int | None]:
        """The hardware figures by name (``None`` where unknown)."""
        return {k: getattr(self, k) for k in FIGURES}

    def to_dict(self, *, metrics: bool = True) -> dict[str, Any]:
        """A JSON-able summary (no table): identity, figures, sources, info, metrics."""
        out: dict[str, Any] = {
            "name": self.name,
            "signed": self.signed,
            "bits": self.bits,
            "table_hash": self.table_hash,
            "key": self.key,
            "library": self.library,
            **self.figures(),
            "sources": dict(self.sources),
        }
        if self.info:
            out["info"] = dict(self.info)
        if metrics:
            out["metrics"] = self.metrics.to_dict()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Multiplier):
            return NotImplemented
        return (self.name, self.signed, self.table_hash) == (
            other.name,
            other.signed,
            other.table_hash,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.signed, self.table_hash))

    def __repr__(self) -> str:
        kind = "signed" if self.signed else "unsigned"
        return f"Multiplier({self.key}, {kind}, power_mw={self.power_mw})"
