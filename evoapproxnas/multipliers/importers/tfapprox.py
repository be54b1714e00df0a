"""TFApprox ``.bin`` product tables: 65,536 little-endian uint16, index ``(a << 8) | b``.

A signed table is stored as the two's-complement bit patterns of its int16 outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evoapproxnas.atomic import write_bytes
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.metrics import CODES
from evoapproxnas.multipliers.model import Multiplier

ENTRIES = CODES * CODES
FILE_BYTES = 2 * ENTRIES


def table_to_bin_bytes(lut: np.ndarray, signed: bool) -> bytes:
    """The TFApprox file content of a 256x256 table ``lut[a, b]``."""
    arr = np.asarray(lut)
    if arr.shape != (CODES, CODES):
        raise UserError(f"a product table must have shape (256, 256), got {arr.shape}")
    info = np.iinfo(np.int16 if signed else np.uint16)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        kind = "signed" if signed else "unsigned"
        raise UserError(f"table values do not fit a {kind} 16-bit product; check 'signed'")
    dtype = "<i2" if signed else "<u2"
    return np.ascontiguousarray(arr, dtype=dtype).tobytes()


def export_tfapprox_bin(multiplier: Multiplier, path: str | os.PathLike) -> Path:
    """Write ``multiplier``'s table as a TFApprox ``.bin`` file (atomically); return the path.

    TFApprox tables are 8x8; an 8xN multiplier (N < 8) is refused with :class:`UserError`.
    """
    path = Path(path)
    weight_bits = getattr(multiplier, "weight_bits", 8)
    if weight_bits != 8:
        raise UserError(
            f"{multiplier.name} is an 8x{weight_bits} multiplier; a TFApprox .bin table is 8x8 "
            "(65,536 entries), so it cannot be exported as one"
        )
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist")
    write_bytes(path, table_to_bin_bytes(multiplier.lut, multiplier.signed))
    return path


def read_tfapprox_bin(path: str | os.PathLike, *, signed: bool = False) -> ImportedCircuit:
    """Read one ``.bin`` table; the multiplier is named after the file stem.

    ``signed`` reads the 16-bit words as two's-complement int16 outputs. Hardware figures are
    left unknown (a metadata CSV may add them).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) != FILE_BYTES:
        raise UserError(
            f"{path}: a TFApprox table has {FILE_BYTES} bytes (65,536 little-endian uint16), "
            f"this file has {len(data)}; is it really a .bin product table?"
        )
    words = np.frombuffer(data, dtype="<i2" if signed else "<u2").reshape(CODES, CODES)
    return ImportedCircuit(
        name=path.stem,
        lut=words.astype(np.int64),
        signed=signed,
        origin=path,
        info={"imported_from": f"TFApprox table {path.name}"},
    )
