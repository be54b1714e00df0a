"""LUT cost of exact AxW multipliers from synthesis (yosys), for the quantized FPGA model.

For every activation width A and weight width W (2..8) an exact multiplier is written as one
line of Verilog, ``p = a * b`` at those widths, and synthesized with yosys in three flows:

- ``lut6``: ``synth_xilinx -flatten -nodsp -nowidelut -noiopad`` (7-series LUT6 fabric, no
  DSPs): LUT1..LUT6 cells (CARRY4 cells counted apart, as ``carry4``);
- ``lut4``: ``synth -flatten -lut 4`` (generic 4-input LUTs): ``$lut`` cells;
- ``cycloneive``: ``synth_intel -family cycloneive`` (Cyclone IV E logic elements; yosys
  maps no multiplier blocks there): ``cycloneive_lcell_comb`` cells.

Two operand kinds: ``us`` (unsigned A-bit activation times two's-complement W-bit weight,
``$signed({1'b0, a}) * $signed(b)``, the fixed-point format of Lu et al.) and ``uu`` (both
unsigned, the library's 8xN convention). The ``lut4`` netlist of every circuit is evaluated
gate by gate on all ``2**(A+W)`` operand pairs and must equal the exact product, so each count
is that of a correct multiplier.

``python scripts/synth_axw_luts.py [--out FILE] [--jobs N]`` (:func:`write_table`) writes the
table shipped as ``evoapproxnas/hardware/data/axw_luts.json`` (read by
``evoapproxnas.hardware.axw_luts``), with the yosys version and the commands.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from evoapproxnas import atomic
from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.yosys import TIMEOUT_S, find_yosys

WIDTHS = range(2, 9)
KINDS = ("us", "uu")
FLOWS = {
    "lut6": "synth_xilinx -flatten -nodsp -nowidelut -noiopad -top mul",
    "lut4": "synth -flatten -lut 4 -top mul",
    "cycloneive": "synth_intel -family cycloneive -top mul",
}
"""Fabric -> the yosys synthesis command (run after ``read_verilog -sv mul.v``)."""
COUNTED = {
    "lut6": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "lut4": ("$lut",),
    "cycloneive": ("cycloneive_lcell_comb",),
}
"""Fabric -> the cell types whose number is its LUT count."""
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "hardware" / "data" / "axw_luts.json"
FORMAT = "evoapproxnas-axw-luts"


def check_widths(a_bits, w_bits) -> tuple[int, int]:
    """``(A, W)`` as ints when both are 2..8, else a one-line ``UserError``."""
    out = []
    for name, value in (("activation width", a_bits), ("weight width", w_bits)):
        if isinstance(value, bool) or not isinstance(value, int) or value not in WIDTHS:
            raise UserError(f"{name} must be a whole number 2..8, got {value!r}")
        out.append(value)
    return out[0], out[1]


def verilog_source(a_bits: int, w_bits: int, kind: str = "us") -> str:
    """One-module Verilog of the exact AxW multiplier ``mul(a, b) -> p`` (A+W output bits)."""
    a_bits, w_bits = check_widths(a_bits, w_bits)
    if kind not in KINDS:
        raise UserError(f"operand kind must be one of {', '.join(KINDS)}, got {kind!r}")
    p = a_bits + w_bits
    if kind == "uu":
        return (f"module mul(input [{a_bits - 1}:0] a, input [{w_bits - 1}:0] b, "
                f"output [{p - 1}:0] p);\n  assign p = a * b;\nendmodule\n")
    return (f"module mul(input [{a_bits - 1}:0] a, input signed [{w_bits - 1}:0] b, "
            f"output signed [{p - 1}:0] p);\n  assign p = $signed({{1'b0, a}}) * b;\n"
            "endmodule\n")


def _run(source: str, commands: list[str]) -> dict:
    """Run yosys on ``source`` with ``commands``; the JSON netlist of the last ``write_json``."""
    exe = find_yosys()
    with tempfile.TemporaryDirectory(prefix="evoapproxnas-axw-") as tmp:
        (Path(tmp) / "mul.v").write_text(source, encoding="utf-8")
        script = ["read_verilog -sv mul.v", *commands, "write_json out.json"]
        (Path(tmp) / "flow.ys").write_text("\n".join(script) + "\n", encoding="utf-8")
        try:
            proc = subprocess.run([exe, "-q", "-s", "flow.ys"], cwd=tmp, capture_output=True,
                                  text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"yosys took over {TIMEOUT_S} s; giving up") from None
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            raise UserError(f"yosys failed: {(lines or ['no output'])[-1]}")
        return json.loads((Path(tmp) / "out.json").read_text(encoding="utf-8"))


def _module(netlist: dict) -> dict:
    return netlist["modules"]["mul"]


def cell_counts(a_bits: int, w_bits: int, kind: str, fabric: str) -> Counter:
    """Cell types and numbers of the AxW multiplier synthesized for ``fabric``."""
    if fabric not in FLOWS:
        raise UserError(f"fabric must be one of {', '.join(FLOWS)}, got {fabric!r}")
    netlist = _run(verilog_source(a_bits, w_bits, kind), [FLOWS[fabric]])
    return Counter(c["type"] for c in _module(netlist)["cells"].values())


def evaluate_lut_netlist(module: dict, a, b):
    """The output words of a yosys ``$lut`` netlist (``synth -lut``) for operand words ``a``
    and ``b`` (numpy integer arrays of one shape, evaluated all at once)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ports = module["ports"]
    zero = np.zeros_like(a)
    value: dict = {"0": zero, "1": zero + 1, "x": zero, "z": zero}
    for name, word in (("a", a), ("b", b)):
        for i, bit in enumerate(ports[name]["bits"]):
            value[bit] = (word >> i) & 1
    pending = list(module["cells"].values())
    while pending:  # the netlist is acyclic: evaluate the cells whose inputs are known
        rest = []
        for cell in pending:
            if cell["type"] != "$lut":
                raise UserError(f"unexpected cell {cell['type']} in a LUT netlist")
            inputs = cell["connections"]["A"]
            if any(bit not in value for bit in inputs):
                rest.append(cell)
                continue
            index = sum(value[bit] << i for i, bit in enumerate(inputs))
            param = cell["parameters"]["LUT"]
            table = param if isinstance(param, int) else int(str(param), 2)
            value[cell["connections"]["Y"][0]] = (table >> index) & 1
        if len(rest) == len(pending):
            raise UserError("the LUT netlist has a loop or an undriven input")
        pending = rest
    return sum(value.get(bit, zero) << i for i, bit in enumerate(ports["p"]["bits"]))


def check_lut4_function(a_bits: int, w_bits: int, kind: str) -> int:
    """Synthesize with ``synth -lut 4``, evaluate the netlist on every operand pair, compare
    with the exact product (two's complement, A+W bits); ``UserError`` on a difference.
    Returns the netlist's LUT count."""
    netlist = _run(verilog_source(a_bits, w_bits, kind), [FLOWS["lut4"]])
    module = _module(netlist)
    a, b = np.meshgrid(np.arange(1 << a_bits), np.arange(1 << w_bits), indexing="ij")
    signed_b = b - ((b >> (w_bits - 1)) << w_bits) if kind == "us" else b
    want = (a * signed_b) % (1 << (a_bits + w_bits))
    got = evaluate_lut_netlist(module, a, b)
    bad = np.argwhere(got != want)
    if len(bad):
        i, j = bad[0]
        raise UserError(f"{a_bits}x{w_bits} {kind}: the LUT netlist gives {got[i, j]} for "
                        f"a={i}, b={j}, not {want[i, j]}")
    return sum(1 for c in module["cells"].values() if c["type"] == "$lut")


def synthesize(job: tuple[int, int, str]) -> dict:
    """One row of the table: every fabric's counts of the AxW ``kind`` multiplier (its LUT4
    netlist checked against the exact products)."""
    a_bits, w_bits, kind = job
    start = time.perf_counter()
    checked = check_lut4_function(a_bits, w_bits, kind)
    row = {"activation_bits": a_bits, "weight_bits": w_bits, "kind": kind}
    for fabric in FLOWS:
        cells = cell_counts(a_bits, w_bits, kind, fabric)
        row[fabric] = sum(cells[t] for t in COUNTED[fabric])
        if fabric == "lut6":
            row["carry4"] = cells["CARRY4"]
    if row["lut4"] != checked:
        raise UserError(f"{a_bits}x{w_bits} {kind}: yosys gave {checked} and {row['lut4']} "
                        "LUT4s for the same circuit (not deterministic?)")
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def yosys_version() -> str:
    """``yosys -V``, e.g. "Yosys 0.23 (git sha1 7ce5011c24b)"."""
    out = subprocess.run([find_yosys(), "-V"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "yosys (version unknown)"


def build_table(jobs: int = 1, widths=WIDTHS, kinds=KINDS) -> dict:
    """The whole table as the JSON document that is shipped."""
    work = [(a, w, k) for k in kinds for a in widths for w in widths]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(synthesize, work))
    elapsed = time.perf_counter() - start
    return {
        "format": FORMAT, "version": 1, "tool": yosys_version(),
        "verilog": {k: verilog_source(4, 3, k).replace("[3:0]", "[A-1:0]")
                    .replace("[2:0]", "[W-1:0]").replace("[6:0]", "[A+W-1:0]") for k in kinds},
        "flows": {f: f"read_verilog -sv mul.v; {cmd}" for f, cmd in FLOWS.items()},
        "counted": {f: list(c) for f, c in COUNTED.items()},
        "kinds": {"us": "unsigned A-bit activation x two's-complement W-bit weight",
                  "uu": "unsigned A-bit activation x unsigned W-bit weight"},
        "check": "each lut4 netlist evaluated on all operand pairs equals the exact product",
        "elapsed_s": round(elapsed, 1), "jobs": jobs,
        "rows": [{k: v for k, v in r.items() if k != "seconds"} for r in rows],
    }


def write_table(out: Path = DEFAULT_OUT, jobs: int = 1) -> dict:
    """Synthesize every width and write the JSON table to ``out`` (atomically)."""
    table = build_table(jobs)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out, json.dumps(table, indent=1) + "\n")
    return table
