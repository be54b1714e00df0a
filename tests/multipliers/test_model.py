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
