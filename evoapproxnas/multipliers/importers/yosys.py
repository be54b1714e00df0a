"""Run yosys on one Verilog file: a generic gate netlist and, optionally, a Xilinx LUT mapping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoapproxnas.errors import UserError

TIMEOUT_S = 600
GATE_LIBRARY = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX"
XILINX_FLOW = "synth_xilinx -flatten -nodsp -nowidelut -noiopad"


@dataclass
class YosysResult:
    """The top module's gate netlist (yosys JSON) and, if asked, its Xilinx cell counts."""

    top: str
    gates: dict[str, Any]
    xilinx_cells: Counter | None


def find_yosys() -> str:
    """The yosys executable: ``$YOSYS``, else ``yosys`` on the PATH."""
    exe = os.environ.get("YOSYS") or shutil.which("yosys")
    if not exe:
        raise UserError("yosys not found; install it (apt install yosys) or set YOSYS")
    return exe


def _script(xilinx: bool) -> str:
    lines = [
        "read_verilog -sv input.v",
        "proc",
        "write_json parsed.json",
        "hierarchy -check -auto-top",
        "design -save source",
        "synth -flatten",
        f"abc -g {GATE_LIBRARY}",
        "opt_clean",
        "write_json gates.json",
    ]
    if xilinx:
        lines += ["design -load source", XILINX_FLOW, "write_json xilinx.json"]
    return "\n".join(lines) + "\n"


def _top_module(netlist: dict[str, Any], where: Path) -> tuple[str, dict[str, Any]]:
    tops = [(n, m) for n, m in netlist.get("modules", {}).items()
            if m.get("attributes", {}).get("top")]
    if len(tops) != 1:
        raise UserError(f"{where}: yosys found no single top module; keep one module per file")
    return tops[0]


def _single_top(parsed: dict[str, Any], where: Path) -> None:
    """Refuse a file holding several modules that no other module instantiates."""
    modules = parsed.get("modules", {})
    used = {cell["type"] for m in modules.values() for cell in m.get("cells", {}).values()}
    tops = sorted(n for n, m in modules.items()
                  if n not in used and not m.get("attributes", {}).get("blackbox"))
    if len(tops) > 1:
        raise UserError(
            f"{where}: several top-level modules ({', '.join(tops)}); keep one multiplier "
            "(and its sub-modules) per file"
        )


def run_yosys(path: str | os.PathLike, *, xilinx: bool = True) -> YosysResult:
    """Synthesize ``path`` (flattened) to simple gates, and to Xilinx LUTs when ``xilinx``."""
    path = Path(path)
    exe = find_yosys()
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    with tempfile.TemporaryDirectory(prefix="evoapproxnas-yosys-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "input.v").write_bytes(source)
        (tmp_path / "flow.ys").write_text(_script(xilinx), encoding="utf-8")
        try:
            proc = subprocess.run([exe, "-q", "-s", "flow.ys"], check=False, cwd=tmp,
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"{path}: yosys took over {TIMEOUT_S} s; giving up") from None
        except OSError as exc:
            raise UserError(f"cannot run yosys ({exe}): {exc}") from None
        if proc.returncode != 0:
            text = proc.stderr + proc.stdout
            errors = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
            message = (errors or [ln for ln in text.splitlines() if ln.strip()] or ["failed"])[0]
            message = message.replace("input.v", path.name)
            raise UserError(f"{path}: yosys cannot read the Verilog module: {message}")
        _single_top(json.loads((tmp_path / "parsed.json").read_text(encoding="utf-8")), path)
        gates = json.loads((tmp_path / "gates.json").read_text(encoding="utf-8"))
        top, module = _top_module(gates, path)
        cells = None
        if xilinx:
            mapped = json.loads((tmp_path / "xilinx.json").read_text(encoding="utf-8"))
            _, xmod = _top_module(mapped, path)
            cells = Counter(c["type"] for c in xmod.get("cells", {}).values())
    return YosysResult(top=top, gates=module, xilinx_cells=cells)
