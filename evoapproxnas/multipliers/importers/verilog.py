"""Verilog netlists through yosys: the product table of a module with two 8-bit inputs and a
16-bit output, its area estimated from the gate count and its Xilinx LUT count.

The first input port (in declaration order) is the table's ``a`` (the activation), the second
its ``b``, unless ``a_port`` names the port for ``a``. EvoApproxLib's Verilog circuits (ports
``A, B, O``) do not agree on the order: most unsigned ones need ``a_port="B"`` to match their C
models and TFApprox tables, while the signed ones and mul8u_1JFF take ``A`` (the order of the
circuit's C signature says which; ``scripts/synth_evoapproxlib_luts.py`` reads it from there).
Signedness: as the caller says, else signed when both inputs are declared ``signed``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers import netlist
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.importers.yosys import run_yosys
from evoapproxnas.multipliers.metrics import CODES

AREA_SOURCE = (
    f"estimated by yosys gate count (NAND2-equivalents x {netlist.NAND2_AREA_UM2} um2, "
    "NanGate 45 nm X1 cells)"
)
LUTS_SOURCE = "estimated by yosys synth_xilinx (7-series LUT1-6, no DSP, no wide muxes)"


def _ports(
    module: dict[str, Any], where: Path, a_port: str | None = None
) -> tuple[list[str], str]:
    """The input ports in (a, b) order and the output port; refuse other shapes."""
    ports = module.get("ports", {})
    inputs = [n for n, p in ports.items() if p["direction"] == "input"]
    outputs = [n for n, p in ports.items() if p["direction"] == "output"]
    widths = [len(ports[n]["bits"]) for n in inputs]
    if len(inputs) != 2 or widths != [8, 8] or len(outputs) != 1 \
            or len(ports[outputs[0]]["bits"]) != 16:
        found = ", ".join(
            f"{ports[n]['direction']} {n}[{len(ports[n]['bits'])}]" for n in ports
        ) or "none"
        raise UserError(
            f"{where}: a multiplier module needs two 8-bit inputs and one 16-bit output; "
            f"found ports: {found}"
        )
    if a_port is not None:
        if a_port not in inputs:
            raise UserError(
                f"{where}: no input port {a_port!r} for the operand a; the inputs are "
                f"{', '.join(inputs)}"
            )
        inputs = [a_port] + [n for n in inputs if n != a_port]
    return inputs, outputs[0]


def tabulate_netlist(
    module: dict[str, Any], signed: bool, where: Path, a_port: str | None = None
) -> np.ndarray:
    """``table[a, b]`` (int64) of a gate netlist with checked ports."""
    inputs, output = _ports(module, where, a_port)
    first, second = netlist.operand_bits()
    bits = netlist.evaluate(module, {inputs[0]: first, inputs[1]: second}, output, str(where))
    weights = np.left_shift(np.int64(1), np.arange(16, dtype=np.int64))
    values = weights @ bits.astype(np.int64)
    if signed:
        values = values.astype(np.uint16).view(np.int16).astype(np.int64)
    return values.reshape(CODES, CODES)


def read_verilog(
    path: str | os.PathLike,
    *,
    signed: bool | None = None,
    luts: bool = True,
    a_port: str | None = None,
) -> ImportedCircuit:
    """Synthesize one Verilog module with yosys and tabulate it; named after the top module.

    ``luts=False`` skips the (slower) Xilinx mapping and leaves the LUT count unknown.
    """
    path = Path(path)
    result = run_yosys(path, xilinx=luts)
    module = result.gates
    inputs, _ = _ports(module, path, a_port)
    if signed is None:
        signed = all(module["ports"][n].get("signed") for n in inputs)
    table = tabulate_netlist(module, signed, path, a_port)
    counts = netlist.check_cells(module, str(path))
    circuit = ImportedCircuit(
        name=result.top,
        lut=table,
        signed=bool(signed),
        origin=path,
        info={
            "imported_from": f"Verilog {path.name} via yosys",
            "operand_ports": inputs,
            "gate_count": int(sum(counts.values())),
            "gates": {t.strip("$_"): n for t, n in sorted(counts.items())},
            "logic_levels": netlist.logic_levels(module),
        },
    )
    circuit.set_figure("area_um2", round(netlist.estimate_area_um2(counts), 2), AREA_SOURCE)
    if result.xilinx_cells is not None:
        n_luts = sum(n for t, n in result.xilinx_cells.items() if t.startswith("LUT"))
        circuit.set_figure("luts", int(n_luts), LUTS_SOURCE)
    return circuit
