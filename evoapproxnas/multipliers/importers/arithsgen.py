"""The ``arithsgen8u`` library: 8x8-bit unsigned multipliers generated with ariths-gen.

Each circuit's flat Verilog goes through the Verilog importer (yosys) for its table, area and
LUT estimates; its power is estimated as its area relative to the exact array multiplier times
that multiplier's published power (EvoApproxLib ``mul8u_1JFF``, 0.391 mW at 45 nm).
``ariths_gen`` (the ``circuits`` extra) is imported only when circuits are generated.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.importers.verilog import read_verilog
from evoapproxnas.multipliers.library import write_library

LIBRARY_NAME = "arithsgen8u"
REFERENCE = "u_arrmul"
REFERENCE_POWER_MW = 0.391  # EvoApproxLib mul8u_1JFF, the exact 8x8 multiplier, PDK45
POWER_SOURCE = (
    f"estimated by area ratio to the exact array multiplier ({REFERENCE}) x "
    f"{REFERENCE_POWER_MW} mW (published power of EvoApproxLib's exact mul8u_1JFF, 45 nm)"
)

# family -> (ariths-gen module, class)
FAMILIES = {
    "array": ("ariths_gen.multi_bit_circuits.multipliers", "UnsignedArrayMultiplier"),
    "dadda": ("ariths_gen.multi_bit_circuits.multipliers", "UnsignedDaddaMultiplier"),
    "wallace": ("ariths_gen.multi_bit_circuits.multipliers", "UnsignedWallaceMultiplier"),
    "truncated_array": ("ariths_gen.multi_bit_circuits.approximate_multipliers",
                        "UnsignedTruncatedArrayMultiplier"),
    "broken_array": ("ariths_gen.multi_bit_circuits.approximate_multipliers",
                     "UnsignedBrokenArrayMultiplier"),
}

EXACT_FAMILIES = ("array", "dadda", "wallace")
LICENSE_TEXT = """The product tables in this folder were computed by evoapproxnas (MIT License) from
circuits generated with ariths-gen (https://github.com/ehw-fit/ariths-gen, MIT License, by
Jan Klhufek and Vojtech Mrazek). When you use them, please cite:

  J. Klhufek and V. Mrazek, "ArithsGen: Arithmetics Circuit Generator for HW Accelerators",
  25th International Symposium on Design and Diagnostics of Electronic Circuits and Systems
  (DDECS '22), Prague, 2022.

The power reference (0.391 mW) is the published figure of EvoApproxLib's exact mul8u_1JFF
(MIT License, EHW group, FIT Brno University of Technology).
"""


@dataclass(frozen=True)
class CircuitSpec:
    """One ariths-gen circuit: the library name, its family and constructor parameters."""

    name: str
    family: str
    params: dict[str, int] = field(default_factory=dict)


def default_circuits() -> list[CircuitSpec]:
    """The circuits of ``arithsgen8u``: three exact ones, then truncated and broken arrays."""
    specs = [
        CircuitSpec(REFERENCE, "array"),
        CircuitSpec("u_dadda_cla", "dadda"),
        CircuitSpec("u_wallace_cla", "wallace"),
    ]
    specs += [CircuitSpec(f"u_tm_c{c}", "truncated_array", {"truncation_cut": c})
              for c in range(1, 6)]
    cuts = [(0, 2), (0, 4), (0, 6), (0, 8), (0, 10), (2, 6), (2, 8), (4, 8)]
    specs += [CircuitSpec(f"u_bam_h{h}_v{v}", "broken_array",
                          {"horizontal_cut": h, "vertical_cut": v}) for h, v in cuts]
    return specs


def arithsgen_version() -> str:
    """The installed ariths-gen version (``UserError`` if it is missing)."""
    try:
        return metadata.version("ariths-gen")
    except metadata.PackageNotFoundError:
        raise UserError(
            "ariths-gen is not installed; install the circuits extra: pip install "
            "'evoapproxnas[circuits]'"
        ) from None


def verilog_code(spec: CircuitSpec, bits: int = 8) -> str:
    """Flat Verilog of one circuit, its module named ``spec.name``."""
    arithsgen_version()
    import importlib

    from ariths_gen.wire_components import Bus

    if spec.family not in FAMILIES:
        raise UserError(f"unknown ariths-gen family {spec.family!r}; use {', '.join(FAMILIES)}")
    module_name, class_name = FAMILIES[spec.family]
    cls = getattr(importlib.import_module(module_name), class_name)
    circuit = cls(Bus(N=bits, prefix="a"), Bus(N=bits, prefix="b"), name=spec.name,
                  **spec.params)
    buffer = io.StringIO()
    circuit.get_v_code_flat(buffer)
    return buffer.getvalue()


def generate_circuits(
    specs: Sequence[CircuitSpec] | None = None, *, luts: bool = True
) -> list[ImportedCircuit]:
    """Generate, synthesize and tabulate circuits; power estimated from the area ratio.

    The specs must include the exact array multiplier named ``REFERENCE``.
    """
    specs = list(default_circuits() if specs is None else specs)
    if REFERENCE not in {s.name for s in specs}:
        raise UserError(f"the circuit list must include the exact array multiplier {REFERENCE}")
    version = arithsgen_version()
    circuits: list[ImportedCircuit] = []
    with tempfile.TemporaryDirectory(prefix="evoapproxnas-arithsgen-") as tmp:
        for spec in specs:
            path = Path(tmp) / f"{spec.name}.v"
            path.write_text(verilog_code(spec), encoding="utf-8")
            circuit = read_verilog(path, signed=False, luts=luts)
            if spec.family in EXACT_FAMILIES and not circuit.to_multiplier().is_exact:
                raise UserError(f"ariths-gen circuit {spec.name} ({spec.family}) is not exact")
            circuit.info.update(
                imported_from=f"ariths-gen {version} flat Verilog via yosys",
                family=spec.family,
                params=dict(spec.params),
            )
            circuits.append(circuit)
    reference = next(c for c in circuits if c.name == REFERENCE)
    ref_area = reference.figures["area_um2"]
    for circuit in circuits:
        power = REFERENCE_POWER_MW * circuit.figures["area_um2"] / ref_area
        circuit.set_figure("power_mw", round(power, 4), POWER_SOURCE)
    return circuits


def readme_text(circuits: Sequence[ImportedCircuit], version: str) -> str:
    """The library's README: how it was made, and that every figure is an estimate."""
    rows = []
    for c in circuits:
        m = c.to_multiplier().metrics
        params = ", ".join(f"{k}={v}" for k, v in c.info.get("params", {}).items()) or "-"
        rows.append(
            f"| {c.name} | {c.info.get('family')} | {params} | {c.figures['power_mw']:.4f} | "
            f"{c.figures['area_um2']:.1f} | {c.figures.get('luts', '-')} | {m.mae_pct:.4f} | "
            f"{m.wce_pct:.3f} |"
        )
    return f"""# arithsgen8u: 8x8-bit unsigned multipliers generated with ariths-gen

Generated by `python scripts/build_arithsgen_library.py` with ariths-gen {version}
(Klhufek and Mrazek, "ArithsGen: Arithmetics Circuit Generator for HW Accelerators", DDECS 2022;
MIT License) and yosys. Each circuit's flat Verilog went through the same path as
`evoapproxnas multipliers import --format verilog`: yosys synthesizes it to simple gates, and
the product table is the gate netlist evaluated on all 65,536 operand pairs (`lut[a, b]`, `a` the
first input port). The build checks that the exact circuits (array, Dadda, Wallace) equal `a * b`.

**All hardware figures are estimates, not measurements:**

- `area_um2`: estimated by yosys gate count (each gate weighted by its NAND2-equivalent size,
  approximate NanGate 45 nm X1 cell areas, NAND2 = 0.798 um2). No placement, no wiring.
- `luts`: estimated by yosys `synth_xilinx -nodsp -nowidelut` (7-series LUT1-LUT6 count).
- `power_mw`: estimated by area ratio to the exact array multiplier ({REFERENCE}) x
  {REFERENCE_POWER_MW} mW, the published 45 nm power of EvoApproxLib's exact `mul8u_1JFF`.
  Power tracks area only roughly (switching activity differs between circuits).
- `delay_ns`: unknown (the index stores the logic depth in gates under `info`).

A calibration check with the same flow on EvoApproxLib's `mul8u_FTA` (published 214.5 um2,
0.084 mW at 45 nm): its gate-count area comes out at 91.8 um2 and its area-ratio power at
0.100 mW. So the absolute areas here are about half of EvoApproxLib's published areas (compare
areas within this library only), while the area-ratio power landed within 20 % for that circuit.

Families (ariths-gen's definitions): `truncated_array` keeps only the partial products
`a[i] b[j]` with `i, j >= truncation_cut`; `broken_array` omits the partial-product cells cut
off by `horizontal_cut` (rows) and `vertical_cut` (columns). Coarser cuts give smaller circuits
with larger errors.

| name | family | parameters | power_mw (est.) | area_um2 (est.) | LUTs (est.) | MAE % | WCE % |
| --- | --- | --- | --- | --- | --- | --- | --- |
""" + "\n".join(rows) + "\n"


def build_arithsgen_library(
    dest: str | os.PathLike, specs: Sequence[CircuitSpec] | None = None, *, luts: bool = True
) -> Path:
    """Generate the circuits and write the library folder ``dest`` (refuses an existing one)."""
    dest = Path(dest)
    if dest.exists():
        raise UserError(f"{dest} already exists; choose a new folder or remove it first")
    version = arithsgen_version()
    circuits = generate_circuits(specs, luts=luts)
    multipliers = [c.to_multiplier(library=LIBRARY_NAME) for c in circuits]
    return write_library(
        dest,
        LIBRARY_NAME,
        multipliers,
        description=f"8x8 unsigned multipliers generated with ariths-gen {version}; "
        "area, LUTs and power are estimates (see README.md)",
        readme_text=readme_text(circuits, version),
        license_text=LICENSE_TEXT,
    )


def circuit_summary(circuit: ImportedCircuit) -> dict[str, Any]:
    """A one-line summary (name, figures, MAE%) for progress output."""
    m = circuit.to_multiplier().metrics
    return {"name": circuit.name, **circuit.figures, "mae_pct": round(m.mae_pct, 4)}
