"""EvoApproxLib-style C models: compile with the system C compiler and tabulate all operand pairs.

Supported signatures (the table's ``a`` is the function's first argument, whatever its name):
``uint16_t f(uint8_t a, uint8_t b)`` (unsigned), ``int16_t f(int8_t A, int8_t B)`` (signed) and
``uint64_t f(const uint64_t B, const uint64_t A)`` (bit-level; unsigned unless the name is
``mul<N>s_...`` or the caller says ``signed=True``; a signed one gets two's-complement operand
bytes and returns the 16-bit two's-complement product). The header's metric comments
(``// PDK45_PWR = 0.084 mW``, ``// MAE% = 0.89 %`` ...) become published figures.

Operand order: the 8x8 EvoApproxLib files take ``(B, A)`` and their first argument (``B``) is
the table's ``a``, the operand TFApprox feeds with the activation (this gives the TFApprox
tables). The 8xN files (``uint64_t mul8x4u_1AV(const uint64_t A, const uint64_t B)``) take the
8-bit operand ``A`` first and the N-bit ``B`` second: again the first argument is ``a`` (the
8-bit activation) and the second ``b`` (the N-bit weight), ``lut[a, b] = f(a, b)`` for
``a < 256``, ``b < 2^N``, 256 * 2^N pairs. N comes from the name ``mul8x<N>u_...`` or the caller's
``weight_bits``; an 8xN function must return at most 8 + N bits, and (bit-level signatures) must
not read bits >= N of its second operand.
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
from evoapproxnas.multipliers.metrics import BITS, CODES, WEIGHT_BITS

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
_ARG_RE = re.compile(
    rf"^\s*(?:const\s+)?(?P<type>{_TYPE})\s+(?:const\s+)?(?P<name>[A-Za-z_]\w*)\s*$"
)
_HEADER_RE = re.compile(
    r"^\s*//\s*(?P<key>[A-Za-z0-9_]+%?)\s*=\s*(?P<value>[-+0-9.eE]+)\s*(?P<unit>[A-Za-z0-9%]*)"
)
_SIGNED_NAME_RE = re.compile(r"^mul\d+(?:x\d+)?s", re.IGNORECASE)
_WIDTH_NAME_RE = re.compile(r"^mul(?P<a>\d+)x(?P<b>\d+)[us]_", re.IGNORECASE)

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
    arg_names: tuple[str, str] = ("a", "b")
    body: str = ""


def strip_comments(source: str) -> str:
    """The C source without ``/* */`` and ``//`` comments (string literals are not expected)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", source)


def find_functions(source: str) -> list[CFunction]:
    """All function definitions with two integer arguments of one type and an integer result."""
    found = []
    stripped = strip_comments(source)
    for match in _FUNC_RE.finditer(stripped):
        args = match["args"].split(",")
        if len(args) != 2:
            continue
        types = [_ARG_RE.match(arg) for arg in args]
        if not all(types) or types[0]["type"] != types[1]["type"]:
            continue
        norm = " ".join(types[0]["type"].split())
        ret = " ".join(match["ret"].split())
        names = (types[0]["name"], types[1]["name"])
        found.append(CFunction(match["name"], _canon(ret), _canon(norm), names,
                               _body(stripped, match.end())))
    return found


def _body(source: str, start: int) -> str:
    """The text of a function body from just after its opening brace to the matching one."""
    depth = 1
    for pos in range(start, len(source)):
        depth += {"{": 1, "}": -1}.get(source[pos], 0)
        if depth == 0:
            return source[start:pos]
    return source[start:]


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
            "'uint16_t f(uint8_t a, uint8_t b)', 'int16_t f(int8_t A, int8_t B)', "
            "'uint64_t f(const uint64_t B, const uint64_t A)' or, for 8xN, "
            "'uint64_t mul8x4u_X(const uint64_t A, const uint64_t B)'"
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


def weight_width(path: Path, func: CFunction, signed: bool, weight_bits: int | None) -> int:
    """N of an 8xN function: ``weight_bits`` when given, else the name's ``mul8x<N>u_``, else 8.

    Refuses names and options that disagree, widths outside 2..8, signed 8xN (EvoApproxLib
    publishes unsigned 8xN only) and widths for ``uint8_t``/``int8_t`` signatures other than 8.
    """
    named = None
    if (match := _WIDTH_NAME_RE.match(func.name)) is not None:
        if int(match["a"]) != BITS:
            raise UserError(
                f"{path}: {func.name} is named a {match['a']}x{match['b']} multiplier; only "
                "8xN multipliers (an 8-bit activation operand) are supported"
            )
        named = int(match["b"])
    if weight_bits is not None and named is not None and weight_bits != named:
        raise UserError(
            f"{path}: {func.name} is named an 8x{named} multiplier but weight_bits = "
            f"{weight_bits} was given; drop the option or rename the function"
        )
    n = weight_bits if weight_bits is not None else named if named is not None else BITS
    if isinstance(n, bool) or not isinstance(n, int) or n not in WEIGHT_BITS:
        raise UserError(f"{path}: weight bits must be 2..8 (an 8xN multiplier), got {n!r}")
    if signed and n != BITS:
        raise UserError(
            f"{path}: {func.name} would be a signed 8x{n} multiplier; signed multipliers are 8x8 "
            "only (EvoApproxLib publishes unsigned 8xN only)"
        )
    if n != BITS and ARG_TYPES[func.arg_type] is not None:
        raise UserError(
            f"{path}: {func.name} takes {func.arg_type} operands, an 8x8 signature; an 8x{n} "
            "model takes bit vectors: 'uint64_t f(const uint64_t A, const uint64_t B)' with A the "
            "8-bit operand"
        )
    if n != BITS:
        second = func.arg_names[1]
        shifts = [int(k) for k in re.findall(rf"\b{re.escape(second)}\s*>>\s*(\d+)", func.body)]
        if shifts and max(shifts) >= n:
            raise UserError(
                f"{path}: {func.name} reads bit {max(shifts)} of its second operand {second}, "
                f"which an 8x{n} multiplier gives {n} bits; the 8-bit operand comes first "
                "(f(A, B) with A 8-bit), or the weight width is wrong"
            )
    return n


def find_compiler() -> str:
    """The C compiler: ``$CC``, else ``cc``, else ``gcc``."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise UserError("no C compiler found; install gcc (apt install gcc) or set CC")
    return compiler


def _driver(func: CFunction, weight_bits: int = BITS) -> str:
    """C source of a program writing f(a, b) for a < 256, b < 2^weight_bits as int64 to stdout
    (row-major: index ``(a << weight_bits) | b``)."""
    value_args = ARG_TYPES[func.arg_type] is True
    operand = "(x >= 128 ? x - 256 : x)" if value_args else "x"
    n = CODES << weight_bits
    return f"""#include <stdint.h>
#include <stdio.h>
#include "circuit.c"
#define EVX_OPERAND(x) (({func.arg_type})({operand}))
int main(void) {{
    static int64_t out[{n}];
    for (int a = 0; a < 256; ++a)
        for (int b = 0; b < {1 << weight_bits}; ++b)
            out[(a << {weight_bits}) | b] = (int64_t){func.name}(EVX_OPERAND(a), EVX_OPERAND(b));
    return fwrite(out, sizeof out[0], {n}, stdout) == {n} ? 0 : 1;
}}
"""


def _first_error(stderr: str, tmp: Path, where: Path) -> str:
    """The compiler's first error line, naming the user's file instead of the temporary copy."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    text = (errors or lines or ["unknown compiler error"])[0]
    text = text.replace(str(tmp / "circuit.c"), where.name).replace(f"{tmp}{os.sep}", "")
    return text[:300]


def tabulate_c_function(
    source: str, func: CFunction, where: Path, weight_bits: int = BITS
) -> np.ndarray:
    """Compile ``source`` with a driver and return ``table[a, b]`` as int64 (raw results),
    shape ``(256, 2**weight_bits)``."""
    compiler = find_compiler()
    with tempfile.TemporaryDirectory(prefix="evoapproxnas-c-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "circuit.c").write_text(source, encoding="utf-8")
        (tmp_path / "driver.c").write_text(_driver(func, weight_bits), encoding="utf-8")
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
                f"{where}: evaluating {func.name} on {CODES << weight_bits:,} operand pairs took "
                f"over {RUN_TIMEOUT_S} s; does it loop forever?"
            ) from None
    if run.returncode != 0 or len(run.stdout) != 8 * (CODES << weight_bits):
        raise UserError(
            f"{where}: evaluating {func.name} failed (exit status {run.returncode}); "
            "does the function crash or print to stdout?"
        )
    raw = np.frombuffer(run.stdout, dtype=np.int64)
    return raw.reshape(CODES, 1 << weight_bits).copy()


def _to_product_table(raw: np.ndarray, func: CFunction, signed: bool, where: Path,
                      weight_bits: int = BITS) -> np.ndarray:
    lo, hi = int(raw.min()), int(raw.max())
    if weight_bits != BITS:
        top = (1 << (BITS + weight_bits)) - 1
        if lo < 0 or hi > top:
            raise UserError(
                f"{where}: {func.name} returns {lo}..{hi}, outside the {BITS + weight_bits}-bit "
                f"unsigned product of an 8x{weight_bits} multiplier (0..{top}); is it an "
                f"8x{weight_bits}-bit multiplier taking the 8-bit operand first?"
            )
        return raw
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


def read_c_model(
    path: str | os.PathLike, *, signed: bool | None = None, weight_bits: int | None = None
) -> ImportedCircuit:
    """Compile and tabulate one C model; the multiplier is named after its function.

    ``signed`` overrides the signedness only for bit-vector signatures (``uint64_t``); it must
    agree with ``uint8_t``/``int8_t`` signatures. ``weight_bits`` N makes it an 8xN multiplier
    (default: the ``mul8x<N>u_`` of the function's name, else 8); the first argument is the
    8-bit operand ``a``, the second the N-bit ``b``. Raises :class:`UserError` (one line naming
    the file) on bad input, outputs wider than 8 + N bits included.
    """
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    func = _choose(path, find_functions(source))
    is_signed = _signedness(path, func, signed)
    n = weight_width(path, func, is_signed, weight_bits)
    raw = tabulate_c_function(source, func, path, n)
    table = _to_product_table(raw, func, is_signed, path, n)
    figures, published = parse_header(source)
    circuit = ImportedCircuit(
        name=func.name,
        lut=table,
        signed=is_signed,
        origin=path,
        info={"imported_from": f"C model {path.name}"},
        weight_bits=n,
    )
    for key, value in figures.items():
        circuit.set_figure(key, value, f"published in the header of {path.name} (PDK45)")
    if published:
        circuit.info["published"] = published
    return circuit
