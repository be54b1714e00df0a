"""The bundled ariths-gen library: loads, exact circuits exact, a sensible cost/error trade-off,
and one circuit regenerated through the Verilog importer gives the bundled table."""

from __future__ import annotations

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.arithsgen import (
    REFERENCE,
    REFERENCE_POWER_MW,
    CircuitSpec,
    default_circuits,
    generate_circuits,
)
from evoapproxnas.multipliers.library import load_library

CODES = np.arange(256, dtype=np.int64)


@pytest.fixture(scope="module")
def lib():
    return load_library("arithsgen8u")


def test_library_loads_with_every_circuit(lib):
    assert len(lib) >= 12
    assert lib.names == [s.name for s in default_circuits()]
    assert lib.exact.name == REFERENCE
    assert all(not m.signed and m.lut.dtype == np.uint16 for m in lib)


@pytest.mark.parametrize("name", ["u_arrmul", "u_dadda_cla", "u_wallace_cla"])
def test_exact_circuits_equal_a_times_b(lib, name):
    np.testing.assert_array_equal(lib[name].lut.astype(np.int64), np.multiply.outer(CODES, CODES))


def test_figures_are_labelled_estimates(lib):
    for mul in lib:
        assert mul.sources["area_um2"].startswith("estimated by yosys gate count")
        assert mul.sources["luts"].startswith("estimated by yosys synth_xilinx")
        assert mul.sources["power_mw"].startswith("estimated by area ratio")
        assert mul.sources["delay_ns"] == "unknown"
        assert mul.power_mw == pytest.approx(
            REFERENCE_POWER_MW * mul.area_um2 / lib[REFERENCE].area_um2, abs=1e-4)
    readme = (lib.path / "README.md").read_text()
    assert "estimate" in readme and "build_arithsgen_library.py" in readme


def family(lib, prefix):
    return [m for m in lib if m.name.startswith(prefix)]


@pytest.mark.parametrize("members", [
    [f"u_tm_c{c}" for c in range(1, 6)],
    [f"u_bam_h0_v{v}" for v in (2, 4, 6, 8, 10)],
    ["u_bam_h0_v8", "u_bam_h2_v8", "u_bam_h4_v8"],
])
def test_coarser_cuts_are_smaller_and_less_accurate(lib, members):
    muls = [lib[n] for n in members]
    areas = [m.area_um2 for m in muls]
    maes = [m.metrics.mae for m in muls]
    luts = [m.luts for m in muls]
    assert areas == sorted(areas, reverse=True) and len(set(areas)) == len(areas)
    assert maes == sorted(maes) and len(set(maes)) == len(maes)
    assert luts == sorted(luts, reverse=True)
    assert all(m.area_um2 < lib[REFERENCE].area_um2 and not m.is_exact for m in muls)


def test_truncated_array_matches_its_definition(lib):
    # ariths-gen's truncated array keeps exactly the partial products a[i] b[j] with i, j >= cut
    a, b = CODES[:, None], CODES[None, :]
    for cut in range(1, 6):
        kept = (a >> cut << cut) * (b >> cut << cut)
        np.testing.assert_array_equal(lib[f"u_tm_c{cut}"].lut.astype(np.int64), kept)


def test_regenerated_circuit_matches_bundled_table(lib):
    spec = next(s for s in default_circuits() if s.name == "u_tm_c4")
    reference = CircuitSpec(REFERENCE, "array")
    circuits = {c.name: c for c in generate_circuits([reference, spec], luts=False)}
    regenerated = circuits["u_tm_c4"].to_multiplier()
    assert regenerated.table_hash == lib["u_tm_c4"].table_hash
    assert regenerated.area_um2 == pytest.approx(lib["u_tm_c4"].area_um2)
    assert regenerated.power_mw == pytest.approx(lib["u_tm_c4"].power_mw, abs=1e-4)


def test_reference_circuit_is_required():
    with pytest.raises(UserError, match=REFERENCE):
        generate_circuits([CircuitSpec("u_tm_c2", "truncated_array", {"truncation_cut": 2})])
