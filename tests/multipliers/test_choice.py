"""MultiplierChoice (gene -> multiplier) and relative power against the library's exact one."""

from dataclasses import dataclass

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers import (
    Multiplier,
    MultiplierChoice,
    library_exact,
    load_library,
    reference_exact,
    relative_power,
    write_library,
)
from evoapproxnas.multipliers.metrics import exact_products


def unsigned_exact():
    return exact_products(False).astype(np.uint16)


def truncated(bits: int):
    """The exact unsigned product with its ``bits`` lowest output bits cleared."""
    return (exact_products(False) & ~((1 << bits) - 1)).astype(np.uint16)


def signed_exact():
    return exact_products(True).astype(np.int16)


@pytest.fixture
def user_library(tmp_path):
    """An exact multiplier of 0.8 mW / 400 um2 (EvoApproxLib's: 0.391 mW / 709.6 um2)."""
    muls = [
        Multiplier.from_table("approx", truncated(4), False, power_mw=0.2, area_um2=300.0),
        Multiplier.from_table("my_exact", unsigned_exact(), False, power_mw=0.8,
                              area_um2=400.0),
        Multiplier.from_table("area_only", truncated(6), False, area_um2=100.0),
        Multiplier.from_table("no_figures", truncated(8), False),
    ]
    return load_library(write_library(tmp_path / "lib", "user", muls))


def test_relative_power_uses_the_exact_multiplier_of_the_own_library(user_library):
    approx = user_library["approx"]
    assert reference_exact(approx) is user_library["my_exact"]
    assert relative_power(approx) == pytest.approx(0.2 / 0.8)
    evoapprox = load_library("evoapproxlib8u").exact
    assert relative_power(approx) != pytest.approx(0.2 / evoapprox.power_mw)
    assert relative_power(user_library["area_only"]) == pytest.approx(100.0 / 400.0)
    assert relative_power(user_library["no_figures"]) == 1.0
    assert relative_power(user_library["my_exact"]) == 1.0
    assert relative_power(None) == 1.0
    # an explicit reference
    assert relative_power(approx, evoapprox) == pytest.approx(0.2 / 0.391)


def test_bundled_libraries_are_their_own_reference():
    arith = load_library("arithsgen8u")
    assert reference_exact(arith["u_tm_c3"]).name == arith.exact.name == "u_arrmul"
    signed = load_library("evoapproxlib8s")
    approx = next(m for m in signed if not m.is_exact)
    assert reference_exact(approx) is signed.exact and signed.exact.signed
    assert relative_power(approx) == pytest.approx(approx.power_mw / signed.exact.power_mw)


def test_multipliers_without_a_library_use_evoapproxlib_by_signedness():
    loose = Multiplier.from_table("loose", truncated(4), False, power_mw=0.1955)
    assert reference_exact(loose).name == "mul8u_1JFF"
    assert relative_power(loose) == pytest.approx(0.5)
    loose_signed = Multiplier.from_table("s", signed_exact(), True, power_mw=0.2125)
    assert reference_exact(loose_signed).name == "mul8s_1KV8"
    assert relative_power(loose_signed) == pytest.approx(0.5)

    @dataclass(frozen=True)
    class Double:  # not a Multiplier: its library attribute is not looked up
        power_mw: float
        library: str = "no such library"
        signed: bool = False

    assert relative_power(Double(0.391 / 4)) == pytest.approx(0.25)


def test_mixed_signedness_library(tmp_path):
    muls = [Multiplier.from_table("u_exact", unsigned_exact(), False, power_mw=0.4),
            Multiplier.from_table("s_exact", signed_exact(), True, power_mw=0.5),
            Multiplier.from_table("s_approx", signed_exact() // 2 * 2, True, power_mw=0.25)]
    lib = load_library(write_library(tmp_path / "mixed", "mixed", muls))
    assert lib.exact.name == "u_exact"
    assert reference_exact(lib["s_approx"]).name == "s_exact"
    assert relative_power(lib["s_approx"]) == pytest.approx(0.5)
    choice = MultiplierChoice.from_library(lib, ["s_approx"])
    assert choice.exact.name == "s_exact"
    only_unsigned = load_library(write_library(tmp_path / "half", "half", [muls[0], muls[2]]))
    with pytest.raises(UserError, match="no exact signed multiplier"):
        reference_exact(only_unsigned["s_approx"])
    assert library_exact(only_unsigned).name == "u_exact"


def test_choice_from_a_library_and_names(user_library):
    choice = MultiplierChoice.from_library(user_library, ["area_only", "approx"])
    assert choice.allowed == (user_library["area_only"], user_library["approx"])
    assert choice.exact is user_library["my_exact"]
    assert choice.resolve(1) is user_library["approx"]
    assert choice.resolve(np.int64(0)) is user_library["area_only"]
    assert choice.resolve(None) is user_library["my_exact"]
    assert choice.name(None) == "my_exact" and choice.name(0) == "area_only"
    assert choice.relative_power(1) == pytest.approx(0.25)
    assert len(choice) == 2 and choice.genes == [0, 1]
    everything = MultiplierChoice.from_library(user_library, ["all"])
    assert everything.allowed == tuple(user_library)
    assert MultiplierChoice.from_library(user_library).allowed == tuple(user_library)
    bundled = MultiplierChoice.from_library("evoapproxlib8u", ["mul8u_125K"])
    assert bundled.exact.name == "mul8u_1JFF"
    with pytest.raises(UserError, match="unknown multiplier 'nope'"):
        MultiplierChoice.from_library(user_library, ["approx", "nope"])
    with pytest.raises(UserError, match="'approx' is allowed twice"):
        MultiplierChoice.from_library(user_library, ["approx", "area_only", "approx"])


@pytest.mark.parametrize("gene", [2, -1, True, 1.0, "0"])
def test_a_gene_without_a_multiplier_is_a_user_error(user_library, gene):
    choice = MultiplierChoice.from_library(user_library, ["approx", "area_only"])
    with pytest.raises(UserError, match=rf"no multiplier for gene {gene!r}: .*genes 0\.\.1"):
        choice.resolve(gene)


def test_coerce_takes_what_callers_pass(user_library):
    approx, area_only = user_library["approx"], user_library["area_only"]
    from_list = MultiplierChoice.coerce([approx, area_only])
    assert from_list.allowed == (approx, area_only)
    assert from_list.exact is user_library["my_exact"]  # the multipliers' own library
    sparse = MultiplierChoice.coerce({2: area_only})
    assert sparse.resolve(2) is area_only
    with pytest.raises(UserError, match="no multiplier for gene 0: .*genes 2"):
        sparse.resolve(0)
    whole = MultiplierChoice.coerce(user_library)
    assert whole.allowed == tuple(user_library) and whole.exact is user_library["my_exact"]
    assert MultiplierChoice.coerce(from_list) is from_list
    other = load_library("evoapproxlib8u").exact
    assert MultiplierChoice.coerce(from_list, exact=other).exact is other
    assert MultiplierChoice.coerce([approx], library="evoapproxlib8u").exact.name == "mul8u_1JFF"
    empty = MultiplierChoice.coerce(())
    assert empty.exact.name == "mul8u_1JFF" and len(empty) == 0
    with pytest.raises(UserError, match="no multiplier for gene 0: .*no gene"):
        empty.resolve(0)
    with pytest.raises(TypeError, match="list or dict"):
        MultiplierChoice.coerce("evoapproxlib8u")
    with pytest.raises(ValueError, match="exact"):
        MultiplierChoice((approx,), None)


def test_mixed_width_library_has_one_reference_exact(tmp_path):
    """An exact 8x4 is an ordinary cheap multiplier of a mixed library: relative figures are
    measured against the library's one exact multiplier, the exact 8x8."""
    exact4 = (np.arange(256)[:, None] * np.arange(16)[None, :]).astype(np.uint16)
    muls = [Multiplier.from_table("ex4", exact4, False, weight_bits=4, power_mw=0.137),
            Multiplier.from_table("ex8", unsigned_exact(), False, power_mw=0.391),
            Multiplier.from_table("t8", truncated(4), False, power_mw=0.2)]
    lib = load_library(write_library(tmp_path / "mixed", "mixed", muls))
    assert library_exact(lib) is lib["ex8"] and library_exact(lib, signed=False) is lib["ex8"]
    assert reference_exact(lib["ex4"]) is lib["ex8"]
    assert relative_power(lib["ex4"]) == pytest.approx(0.137 / 0.391)
    choice = MultiplierChoice.from_library(lib, ["ex4", "t8"])
    assert choice.exact is lib["ex8"] and choice.resolve(None) is lib["ex8"]
    assert choice.relative_power(0) == pytest.approx(0.137 / 0.391)
