"""One 8xN-bit multiplier: its product table ``lut[a, b]``, hardware figures and error metrics.

The activation operand ``a`` is always 8 bits (256 rows); the weight operand ``b`` has
``weight_bits`` N = 2..8 bits (2^N columns; 8 by default, the square 256x256 table). The output
of an 8xN multiplier has 8 + N bits. Signed multipliers are 8x8 only.
"""

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
    ACTIVATION_BITS,
    BITS,
    WEIGHT_BITS,
    ErrorMetrics,
    compute_error_metrics,
    exact_products,
    table_shape,
)

FIGURES = ("power_mw", "area_um2", "delay_ns", "luts")
UNKNOWN = "unknown"


def table_dtype(signed: bool) -> np.dtype:
    """The storage dtype of a table: little-endian int16 when signed, else uint16."""
    return np.dtype("<i2" if signed else "<u2")


def table_hash(lut: np.ndarray, signed: bool) -> str:
    """sha256 hex digest of the table's bytes (C order, little-endian 16-bit).

    Tables of different widths differ in length, hence in bytes: the hash tells them apart
    without hashing the shape (so the hashes of 8x8 tables are the same as before 8xN).
    """
    data = np.ascontiguousarray(lut, dtype=table_dtype(signed)).tobytes()
    return hashlib.sha256(data).hexdigest()


def check_weight_bits(name: str, weight_bits: Any, signed: bool, where: str = "") -> int:
    """Validate a declared weight width N (2..8; signed multipliers 8 only) and return it."""
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, (int, np.integer)) \
            or int(weight_bits) not in WEIGHT_BITS:
        raise UserError(
            f"{where}multiplier {name!r}: weight_bits must be a whole number 2..8, got "
            f"{weight_bits!r}"
        )
    weight_bits = int(weight_bits)
    if signed and weight_bits != BITS:
        raise UserError(
            f"{where}multiplier {name!r}: signed multipliers are 8x8 only, not 8x{weight_bits}; "
            "EvoApproxLib publishes unsigned 8xN multipliers only"
        )
    return weight_bits


def _check_table(name: str, lut: Any, signed: bool, weight_bits: int, where: str) -> np.ndarray:
    """Validate shape, dtype, range and signedness; return a read-only copy in storage dtype."""
    kind = "signed" if signed else "unsigned"
    arr = np.asarray(lut)
    shape = table_shape(weight_bits)
    width = f"8x{weight_bits}"
    if arr.shape != shape:
        hint = "one output per pair of 8-bit operand codes" if weight_bits == BITS else (
            f"one output per 8-bit activation code (rows) and {weight_bits}-bit weight code "
            "(columns)")
        other = next((n for n in WEIGHT_BITS if arr.shape == table_shape(n)), None)
        if other is not None and not signed:
            hint += f"; an 8x{other} table needs weight_bits={other}"
        raise UserError(
            f"{where}multiplier {name!r}: the product table of an {width} multiplier must have "
            f"shape {shape}, got {arr.shape}; give {hint}"
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
    top = (1 << (ACTIVATION_BITS + weight_bits)) - 1
    if weight_bits != BITS and hi > top:
        raise UserError(
            f"{where}multiplier {name!r}: values up to {hi} do not fit the "
            f"{ACTIVATION_BITS + weight_bits}-bit output of an {width} multiplier (0..{top}); "
            "check its weight_bits"
        )
    table = np.array(arr, dtype=table_dtype(signed), order="C")
    if weight_bits == BITS:
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
    """An 8xN-bit multiplier; construct it with :meth:`from_table`.

    ``lut[a, b]`` is the output for activation code ``a`` (8 bits, 0..255) and weight code ``b``
    (``weight_bits`` N, 0..2^N-1; two's-complement bytes when ``signed``, 8x8 only); read-only,
    ``uint16`` or ``int16``, shape ``(256, 2**weight_bits)``. Hardware figures may be ``None``;
    ``sources`` says for each figure where it comes from ("published ...", "estimated by ...",
    or "unknown"). ``library`` is the library name or path it belongs to.
    """

    activation_bits = ACTIVATION_BITS
    """Width of the activation operand ``a``: always 8."""
    bits = ACTIVATION_BITS
    """The activation width (8), kept under its old name; see ``weight_bits`` for N."""

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
        weight_bits: int = BITS,
    ) -> None:
        self.name = name
        self.weight_bits = weight_bits
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
        weight_bits: int = BITS,
    ) -> Multiplier:
        """Validate a table and figures and build a multiplier.

        ``weight_bits`` N (2..8, default 8) is the width of the weight operand: ``lut`` must have
        shape ``(256, 2**N)`` and, for N < 8, values that fit 8 + N bits; signed multipliers are
        8x8 only. ``sources`` maps figure names (``power_mw``, ``area_um2``, ``delay_ns``,
        ``luts``) to where they come from; missing ones become "unknown". ``info`` holds extra JSON-able
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
        weight_bits = check_weight_bits(name, weight_bits, signed, where)
        table = _check_table(name, lut, signed, weight_bits, where)
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
            weight_bits=weight_bits,
            **figures,
        )

    @property
    def key(self) -> str:
        """Identity: name plus the first 12 hex digits of the table hash (``name#hash12``)."""
        return f"{self.name}#{self.table_hash[:12]}"

    @property
    def output_bits(self) -> int:
        """Width of the product: 8 + ``weight_bits``."""
        return self.activation_bits + self.weight_bits

    @property
    def width(self) -> str:
        """The operand widths as text, activation first: ``"8x8"``, ``"8x4"``."""
        return f"{self.activation_bits}x{self.weight_bits}"

    @cached_property
    def metrics(self) -> ErrorMetrics:
        """Error metrics computed from the table (percentages of 2^(8+N))."""
        return compute_error_metrics(self.lut, self.signed, self.weight_bits)

    @property
    def is_exact(self) -> bool:
        """True when the table is the exact product a*b over all its operand pairs (an exact
        8x4 multiplier is exact too: its weights have 4 bits)."""
        if "is_exact" not in self.__dict__:
            exact = exact_products(self.signed, self.weight_bits)
            self.__dict__["is_exact"] = bool(np.array_equal(self.lut, exact))
        return self.__dict__["is_exact"]

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
            weight_bits=self.weight_bits,
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
            "activation_bits": self.activation_bits,
            "weight_bits": self.weight_bits,
            "width": self.width,
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
        return f"Multiplier({self.key}, {kind} {self.width}, power_mw={self.power_mw})"
