"""EvoApproxLib-style C models: compile with the system C compiler and tabulate all 65,536 pairs.

Supported signatures (the table's ``a`` is the function's first argument, whatever its name):
``uint16_t f(uint8_t a, uint8_t b)`` (unsigned), ``int16_t f(int8_t A, int8_t B)`` (signed) and
``uint64_t f(const uint64_t B, const uint64_t A)`` (bit-level; unsigned unless the name is
``mul<N>s_...`` or the caller says ``signed=True``; a signed one gets two's-complement operand
bytes and returns the 16-bit two's-complement product). The header's metric comments
(``// PDK45_PWR = 0.084 mW``, ``// MAE% = 0.89 %`` ...) become published figures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.metrics import CODES

COMPILE_TIMEOUT_S = 120
RUN_TIMEOUT_S = 60

# argument type -> value signedness (None: a bit vector, signedness not stated by the type)
ARG_TYPES: dict[str, bool | None] = {
    "uint8_t": False,
    "int8_t": True,
    "uint16_t": None,
    "uint32_t": None,
    "uint64_t": None,
    "unsigned": None,
    "int16_t": True,
    "int32_t": True,
    "int64_t": True,
    "int": True,
}
RETURN_SIGNED = {"uint16_t": False, "uint32_t": False, "uint64_t": False, "unsigned": False,
                 "int16_t": True, "int32_t": True, "int64_t": True, "int": True}

_TYPE = r"(?:u?int(?:8|16|32|64)_t|unsigned(?:\s+int)?|int)"
_FUNC_RE = re.compile(
    rf"(?P<ret>{_TYPE})\s+(?P<name>[A-Za-z_]\w*)\s*\((?P<args>[^()]*)\)\s*\{{"
)
_ARG_RE = re.compile(rf"^\s*(?:const\s+)?(?P<type>{_TYPE})\s+(?:const\s+)?[A-Za-z_]\w*\s*$")
_HEADER_RE = re.compile(
    r"^\s*//\s*(?P<key>[A-Za-z0-9_]+%?)\s*=\s*(?P<value>[-+0-9.eE]+)\s*(?P<unit>[A-Za-z0-9%]*)"
)
_SIGNED_NAME_RE = re.compile(r"^mul\d+(?:x\d+)?s", re.IGNORECASE)

# header key -> (figure, {unit: factor to the figure's unit})
HARDWARE_KEYS = {
    "PDK45_PWR": ("power_mw", {"mw": 1.0, "uw": 1e-3, "w": 1e3, "": 1.0}),
    "PDK45_AREA": ("area_um2", {"um2": 1.0, "": 1.0}),
    "PDK45_DELAY": ("delay_ns", {"ns": 1.0, "ps": 1e-3, "": 1.0}),
}
METRIC_KEYS = {
    "MAE%": "mae_pct", "MAE": "mae", "WCE%": "wce_pct", "WCE": "wce", "WCRE%": "wcre_pct",
    "EP%": "ep_pct", "MRE%": "mre_pct", "MSE": "mse",
}


@dataclass(frozen=True)
class CFunction:
    """A multiplier function found in a C file."""

    name: str
    return_type: str
    arg_type: str


def strip_comments(source: str) -> str:
    """The C source without ``/* */`` and ``//`` comments (string literals are not expected)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", source)


def find_functions(source: str) -> list[CFunction]:
    """All function definitions with two integer arguments of one type and an integer result."""
    found = []
    for match in _FUNC_RE.finditer(strip_comments(source)):
        args = match["args"].split(",")
        if len(args) != 2:
            continue
        types = [_ARG_RE.match(arg) for arg in args]
        if not all(types) or types[0]["type"] != types[1]["type"]:
            continue
        norm = " ".join(types[0]["type"].split())
        ret = " ".join(match["ret"].split())
        found.append(CFunction(match["name"], _canon(ret), _canon(norm)))
    return found


def _canon(ctype: str) -> str:
    return "unsigned" if ctype.startswith("unsigned") else ctype


def parse_header(source: str) -> tuple[dict[str, float], dict[str, float]]:
    """Hardware figures and published error metrics from the ``// KEY = value unit`` comments
    before the first function definition."""
    figures: dict[str, float] = {}
    published: dict[str, float] = {}
    head = source[: m.start()] if (m := _FUNC_RE.search(source)) else source
    for line in head.splitlines():
        match = _HEADER_RE.match(line)
        if not match:
            continue
        key, unit = match["key"].upper(), match["unit"].lower()
        try:
            value = float(match["value"])
        except ValueError:
            continue
        if key in HARDWARE_KEYS:
            figure, factors = HARDWARE_KEYS[key]
            if unit in factors:
                figures[figure] = value * factors[unit]
        elif key in METRIC_KEYS:
            published[METRIC_KEYS[key]] = value
    return figures, published


def _choose(path: Path, functions: list[CFunction]) -> CFunction:
    if not functions:
        raise UserError(
            f"{path}: no multiplier function found; expected one like "
            "'uint16_t f(uint8_t a, uint8_t b)', 'int16_t f(int8_t A, int8_t B)' or "
            "'uint64_t f(const uint64_t B, const uint64_t A)'"
        )
    if len(functions) == 1:
        return functions[0]
    named = [f for f in functions if f.name == path.stem]
    if len(named) == 1:
        return named[0]
    raise UserError(
        f"{path}: several candidate multiplier functions ({', '.join(f.name for f in functions)});"
        " keep one per file or name the file after the one to import"
    )


def _signedness(path: Path, func: CFunction, signed: bool | None) -> bool:
    stated = ARG_TYPES[func.arg_type]
    if stated is not None:
        if signed is not None and signed != stated:
            raise UserError(
                f"{path}: {func.name} takes {func.arg_type} operands, so it is "
                f"{'signed' if stated else 'unsigned'}; drop the contradicting --signed setting"
            )
        return stated
    if signed is not None:
        return signed
    return bool(_SIGNED_NAME_RE.match(func.name))


def find_compiler() -> str:
    """The C compiler: ``$CC``, else ``cc``, else ``gcc``."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise UserError("no C compiler found; install gcc (apt install gcc) or set CC")
    return compiler


def _driver(func: CFunction) -> str:
    """C source of a program writing f(a, b) for all codes as 65,536 int64 to stdout."""
    value_args = ARG_TYPES[func.arg_type] is True
    operand = "(x >= 128 ? x - 256 : x)" if value_args else "x"
    return f"""#include <stdint.h>
#include <stdio.h>
#include "circuit.c"
#define EVX_OPERAND(x) (({func.arg_type})({operand}))
int main(void) {{
    static int64_t out[65536];
    for (int a = 0; a < 256; ++a)
        for (int b = 0; b < 256; ++b)
            out[(a << 8) | b] = (int64_t){func.name}(EVX_OPERAND(a), EVX_OPERAND(b));
    return fwrite(out, sizeof out[0], 65536, stdout) == 65536 ? 0 : 1;
}}
"""


def _first_error(stderr: str, tmp: Path, where: Path) -> str:
    """The compiler's first error line, naming the user's file instead of the temporary copy."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    text = (errors or lines or ["unknown compiler error"])[0]
    text = text.replace(str(tmp / "circuit.c"), where.name).replace(f"{tmp}{os.sep}", "")
    return text[:300]


def tabulate_c_function(source: str, func: CFunction, where: Path) -> np.ndarray:
    """Compile ``source`` with a driver and return ``table[a, b]`` as int64 (raw results)."""
    compiler = find_compiler()
    with tempfile.TemporaryDirectory(prefix="evoapproxnas-c-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "circuit.c").write_text(source, encoding="utf-8")
        (tmp_path / "driver.c").write_text(_driver(func), encoding="utf-8")
        exe = tmp_path / "driver"
        cmd = [compiler, "-std=gnu99", "-O1", "-w", "-o", str(exe), str(tmp_path / "driver.c")]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                                  timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(
                f"{where}: compiling took over {COMPILE_TIMEOUT_S} s; giving up"
            ) from None
        except OSError as exc:
            raise UserError(f"cannot run the C compiler {compiler}: {exc}") from None
        if proc.returncode != 0:
            message = _first_error(proc.stderr, tmp_path, where)
            raise UserError(f"{where}: does not compile as C: {message}")
        try:
            run = subprocess.run([str(exe)], check=False, capture_output=True,
                                 timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(
                f"{where}: evaluating {func.name} on 65,536 operand pairs took over "
                f"{RUN_TIMEOUT_S} s; does it loop forever?"
            ) from None
    if run.returncode != 0 or len(run.stdout) != 8 * CODES * CODES:
        raise UserError(
            f"{where}: evaluating {func.name} failed (exit status {run.returncode}); "
            "does the function crash or print to stdout?"
        )
    return np.frombuffer(run.stdout, dtype=np.int64).reshape(CODES, CODES).copy()


def _to_product_table(raw: np.ndarray, func: CFunction, signed: bool, where: Path) -> np.ndarray:
    lo, hi = int(raw.min()), int(raw.max())
    if signed and not RETURN_SIGNED[func.return_type]:
        if lo < 0 or hi > 0xFFFF:
            raise UserError(
                f"{where}: {func.name} returns {lo}..{hi}; a signed 8x8 circuit returning "
                f"{func.return_type} must give the 16-bit two's-complement product (0..65535)"
            )
        return raw.astype(np.uint16).view(np.int16).astype(np.int64)
    info = np.iinfo(np.int16 if signed else np.uint16)
    if lo < info.min or hi > info.max:
        kind = "signed" if signed else "unsigned"
        raise UserError(
            f"{where}: {func.name} returns {lo}..{hi}, outside a {kind} 16-bit product "
            f"({info.min}..{info.max}); is it an 8x8-bit multiplier with the right signedness?"
        )
    return raw


def read_c_model(path: str | os.PathLike, *, signed: bool | None = None) -> ImportedCircuit:
    """Compile and tabulate one C model; the multiplier is named after its function.

    ``signed`` overrides the signedness only for bit-vector signatures (``uint64_t``); it must
    agree with ``uint8_t``/``int8_t`` signatures.
    """
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    func = _choose(path, find_functions(source))
    is_signed = _signedness(path, func, signed)
    raw = tabulate_c_function(source, func, path)
    table = _to_product_table(raw, func, is_signed, path)
    figures, published = parse_header(source)
    circuit = ImportedCircuit(
        name=func.name,
        lut=table,
        signed=is_signed,
        origin=path,
        info={"imported_from": f"C model {path.name}"},
    )
    for key, value in figures.items():
        circuit.set_figure(key, value, f"published in the header of {path.name} (PDK45)")
    if published:
        circuit.info["published"] = published
    return circuit
