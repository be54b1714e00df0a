"""Multiplier.from_table: validation, identity, figures and sources."""

import hashlib

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import Multiplier
from evoapproxnas.multipliers.metrics import exact_products


def exact_table(signed: bool) -> np.ndarray:
    return exact_products(signed).astype(np.int16 if signed else np.uint16)


def test_from_table_exact_unsigned():
    m = Multiplier.from_table("ex", exact_table(False).astype(np.int64), False, power_mw=0.4,
                              sources={"power_mw": "estimated by test"})
    assert m.lut.dtype == np.uint16 and m.lut.shape == (256, 256)
    assert not m.lut.flags.writeable
    assert m.is_exact and m.metrics.mae == 0
    assert m.power_mw == 0.4 and m.area_um2 is None and m.luts is None
    assert m.sources == {"power_mw": "estimated by test", "area_um2": "unknown",
                         "delay_ns": "unknown", "luts": "unknown"}
    expected = hashlib.sha256(exact_table(False).astype("<u2").tobytes()).hexdigest()
    assert m.table_hash == expected
    assert m.key == f"ex#{expected[:12]}"


def test_lut_is_a_copy_not_a_view():
    lut = exact_table(False).copy()
    m = Multiplier.from_table("ex", lut, False)
    lut[1, 1] = 7
    assert m.lut[1, 1] == 1


def test_identity_depends_on_table():
    a = Multiplier.from_table("m", exact_table(False), False)
    lut = exact_table(False).copy()
    lut[3, 4] += 1
    b = Multiplier.from_table("m", lut, False)
    assert a != b and a.table_hash != b.table_hash and a.key != b.key
    assert a == Multiplier.from_table("m", exact_table(False), False, power_mw=1.0)


def test_signed_exact():
    m = Multiplier.from_table("s", exact_table(True), True)
    assert m.lut.dtype == np.int16 and m.lut[0xFF, 0xFF] == 1 and m.is_exact


@pytest.mark.parametrize(
    "lut, match",
    [
        (np.zeros((255, 256), np.uint16), "shape"),
        (np.zeros((256, 256), np.float32), "integers"),
        (np.full((256, 256), -1, np.int32), "do not fit"),
        (np.full((256, 256), 70000, np.int64), "do not fit"),
    ],
)
def test_bad_tables(lut, match):
    with pytest.raises(UserError, match=match):
        Multiplier.from_table("bad", lut, False, where="x.npz")


def test_signed_table_declared_unsigned():
    wrapped = exact_table(True).view(np.uint16)  # a signed table stored as uint16
    with pytest.raises(UserError, match=r"'m' is declared unsigned.*signed product.*255, 255\] = 1"):
        Multiplier.from_table("m", wrapped, False, where="lib/tables.npz")


def test_unsigned_table_declared_signed():
    wrapped = exact_table(False).view(np.int16)
    with pytest.raises(UserError, match="declared signed"):
        Multiplier.from_table("m", wrapped, True)


def test_coarse_tables_of_the_declared_kind_pass():
    zero = Multiplier.from_table("zero", np.zeros((256, 256), np.uint16), False)
    assert zero.metrics.wce == 65025
    truncated = (exact_table(False) >> 8) << 8
    assert Multiplier.from_table("t", truncated, False).metrics.wce > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"power_mw": -1.0}, "power_mw"),
    ({"area_um2": float("nan")}, "area_um2"),
    ({"delay_ns": "fast"}, "delay_ns"),
    ({"sources": {"energy": "published"}}, "unknown figures"),
])
def test_bad_figures(kwargs, match):
    with pytest.raises(UserError, match=match):
        Multiplier.from_table("m", exact_table(False), False, **kwargs)


@pytest.mark.parametrize("name", ["", " m", "a#b", 3])
def test_bad_names(name):
    with pytest.raises(UserError, match="name"):
        Multiplier.from_table(name, exact_table(False), False)


def test_to_dict_is_json_ready():
    import json

    m = Multiplier.from_table("m", exact_table(False), False, luts=64,
                              sources={"luts": "estimated by yosys"}, info={"note": "x"})
    d = json.loads(json.dumps(m.to_dict()))
    assert d["luts"] == 64 and d["sources"]["luts"] == "estimated by yosys"
    assert d["metrics"]["mae_pct"] == 0 and d["info"] == {"note": "x"}


# ------------------------------------------------------------------ 8xN operand widths
def exact_8xn(n: int) -> np.ndarray:
    """The exact 8xN product table, built here without the package: lut[a, b] = a * b."""
    return (np.arange(256)[:, None] * np.arange(1 << n)[None, :]).astype(np.uint16)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_8xn_exact_table(n):
    m = Multiplier.from_table(f"ex{n}", exact_8xn(n), False, weight_bits=n, power_mw=0.1)
    assert (m.activation_bits, m.weight_bits, m.output_bits) == (8, n, 8 + n)
    assert m.width == f"8x{n}" and m.lut.shape == (256, 2**n) and m.lut.dtype == np.uint16
    assert m.is_exact and m.metrics.wce == 0 and not m.lut.flags.writeable
    assert m.table_hash == hashlib.sha256(exact_8xn(n).astype("<u2").tobytes()).hexdigest()
    d = m.to_dict()
    assert (d["weight_bits"], d["activation_bits"], d["width"]) == (n, 8, f"8x{n}")
    assert f"8x{n}" in repr(m)


def test_8x8_default_width_and_hash_unchanged():
    m = Multiplier.from_table("ex", exact_table(False), False)
    assert (m.weight_bits, m.activation_bits, m.bits, m.width) == (8, 8, 8, "8x8")
    # the sha256 of the exact 8x8 table, as the bundled libraries and archives pin it
    assert m.table_hash.startswith("0c6fd3441f13")


def test_8xn_identity_differs_from_8x8_prefix():
    """An 8x4 table and the first 16 columns of the 8x8 one hold the same products but are
    different multipliers (their tables' bytes, hence hashes, differ)."""
    small = Multiplier.from_table("m", exact_8xn(4), False, weight_bits=4)
    big = Multiplier.from_table("m", exact_table(False), False)
    assert small != big and small.key != big.key


@pytest.mark.parametrize(
    "lut, kwargs, match",
    [
        (exact_8xn(4), {},
         r"an 8x8 multiplier must have shape \(256, 256\), got \(256, 16\).*weight_bits=4"),
        (exact_table(False), {"weight_bits": 4},
         r"an 8x4 multiplier must have shape \(256, 16\), got \(256, 256\)"),
        (exact_8xn(4).T, {"weight_bits": 4}, r"shape \(256, 16\), got \(16, 256\)"),
        (exact_8xn(3), {"weight_bits": 3, "signed": True}, "signed multipliers are 8x8 only"),
        (exact_8xn(4), {"weight_bits": 1}, "weight_bits must be a whole number 2..8"),
        (exact_8xn(4), {"weight_bits": 4.0}, "weight_bits must be a whole number 2..8"),
        (np.full((256, 16), 4096, np.uint16), {"weight_bits": 4}, r"12-bit output.*0\.\.4095"),
    ],
)
def test_bad_8xn_tables_are_one_line_errors(lut, kwargs, match):
    signed = kwargs.pop("signed", False)
    with pytest.raises(UserError, match=match) as info:
        Multiplier.from_table("bad", lut, signed, where="x.npz", **kwargs)
    assert "\n" not in str(info.value) and str(info.value).startswith("x.npz: ")


def test_8xn_with_library_keeps_width():
    m = Multiplier.from_table("m", exact_8xn(5), False, weight_bits=5)
    copy = m.with_library("elsewhere")
    assert copy.weight_bits == 5 and copy == m and copy.library == "elsewhere"
