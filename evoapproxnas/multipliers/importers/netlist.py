"""Evaluate a yosys gate-level netlist (``write_json`` after ``synth``) on all 65,536 operand
pairs at once, bit-parallel in numpy, and estimate its area from its gate count.

Every net holds 65,536 bits packed into 1,024 uint64 words; vector ``v`` has first operand
``a = v >> 8`` and second operand ``b = v & 255``, so the outputs reshape to ``table[a, b]``.
"""

from __future__ import annotations

import graphlib
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.metrics import CODES

VECTORS = CODES * CODES
Word = np.ndarray

# NAND2-equivalent size of each yosys internal gate, from approximate NanGate FreePDK45 X1 cell
# areas (NAND2 0.798 um2 = 1.0; INV 0.532, AND2/OR2 1.064, XOR2/XNOR2 1.596, MUX2 1.862,
# AOI21/OAI21 1.064, AOI22/OAI22 1.330; ANDNOT/ORNOT as INV + NOR2/NAND2, NMUX as MUX2 + INV).
NAND2_AREA_UM2 = 0.798
NAND2_EQUIVALENTS: dict[str, float] = {
    "$_BUF_": 1.0,
    "$_NOT_": 0.667,
    "$_AND_": 1.333,
    "$_NAND_": 1.0,
    "$_OR_": 1.333,
    "$_NOR_": 1.0,
    "$_XOR_": 2.0,
    "$_XNOR_": 2.0,
    "$_ANDNOT_": 1.667,
    "$_ORNOT_": 1.667,
    "$_MUX_": 2.333,
    "$_NMUX_": 3.0,
    "$_AOI3_": 1.333,
    "$_OAI3_": 1.333,
    "$_AOI4_": 1.667,
    "$_OAI4_": 1.667,
}

GATES: dict[str, Callable[..., Word]] = {
    "$_BUF_": lambda A: A,
    "$_NOT_": lambda A: ~A,
    "$_AND_": lambda A, B: A & B,
    "$_NAND_": lambda A, B: ~(A & B),
    "$_OR_": lambda A, B: A | B,
    "$_NOR_": lambda A, B: ~(A | B),
    "$_XOR_": lambda A, B: A ^ B,
    "$_XNOR_": lambda A, B: ~(A ^ B),
    "$_ANDNOT_": lambda A, B: A & ~B,
    "$_ORNOT_": lambda A, B: A | ~B,
    "$_MUX_": lambda A, B, S: (A & ~S) | (B & S),
    "$_NMUX_": lambda A, B, S: ~((A & ~S) | (B & S)),
    "$_AOI3_": lambda A, B, C: ~((A & B) | C),
    "$_OAI3_": lambda A, B, C: ~((A | B) & C),
    "$_AOI4_": lambda A, B, C, D: ~((A & B) | (C & D)),
    "$_OAI4_": lambda A, B, C, D: ~((A | B) & (C | D)),
}


@lru_cache(maxsize=1)
def operand_bits() -> tuple[tuple[Word, ...], tuple[Word, ...]]:
    """Packed bit ``i`` of the first and of the second operand over all 65,536 vectors."""
    v = np.arange(VECTORS, dtype=np.int64)

    def pack(bits: np.ndarray) -> Word:
        words = np.packbits(bits.astype(np.uint8), bitorder="little").view("<u8")
        words.setflags(write=False)
        return words

    first = tuple(pack((v >> (8 + i)) & 1) for i in range(8))
    second = tuple(pack((v >> i) & 1) for i in range(8))
    return first, second


def unpack(words: Word) -> np.ndarray:
    """The 65,536 bits (0/1, uint8) of a packed net."""
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), bitorder="little")


def check_cells(module: dict[str, Any], where: str) -> Counter:
    """Count cells by type; refuse anything that is not a combinational gate."""
    counts = Counter(cell["type"] for cell in module.get("cells", {}).values())
    unknown = sorted(t for t in counts if t not in GATES)
    if unknown:
        raise UserError(
            f"{where}: the synthesized netlist has cells {', '.join(unknown)} that are not "
            "combinational gates; a multiplier must be purely combinational (no clock, no memory)"
        )
    return counts


def evaluate(module: dict[str, Any], inputs: dict[str, tuple[Word, ...]], output: str,
             where: str) -> np.ndarray:
    """Evaluate ``module`` with packed input bits by port name; return the output port's bits
    as a ``(width, 65536)`` uint8 array (least significant bit first)."""
    check_cells(module, where)
    nets: dict[Any, Word] = {"0": np.zeros(VECTORS // 64, dtype=np.uint64)}
    nets["1"] = ~nets["0"]
    for port, words in inputs.items():
        for bit, value in zip(module["ports"][port]["bits"], words):
            nets[bit] = value
    cells = module.get("cells", {})
    driver: dict[Any, str] = {}
    for name, cell in cells.items():
        for bit in cell["connections"]["Y"]:
            driver[bit] = name
    graph = {
        name: {driver[b] for pin, bits in cell["connections"].items() if pin != "Y"
               for b in bits if b in driver}
        for name, cell in cells.items()
    }
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        raise UserError(f"{where}: the netlist has a combinational loop") from None
    for name in order:
        cell = cells[name]
        conn = cell["connections"]
        args = {pin: _net(nets, bits[0], where) for pin, bits in conn.items() if pin != "Y"}
        nets[conn["Y"][0]] = GATES[cell["type"]](**args)
    bits = [_net(nets, b, where) for b in module["ports"][output]["bits"]]
    return np.stack([unpack(w) for w in bits])


def _net(nets: dict[Any, Word], bit: Any, where: str) -> Word:
    try:
        return nets[bit]
    except KeyError:
        raise UserError(
            f"{where}: a signal is undriven ('{bit}') after synthesis; every output bit must "
            "be a function of the two operands"
        ) from None


def logic_levels(module: dict[str, Any]) -> int:
    """Longest path from an input to an output, in gates."""
    cells = module.get("cells", {})
    driver = {bit: name for name, c in cells.items() for bit in c["connections"]["Y"]}
    graph = {
        name: {driver[b] for pin, bits in c["connections"].items() if pin != "Y"
               for b in bits if b in driver}
        for name, c in cells.items()
    }
    depth: dict[str, int] = {}
    for name in graphlib.TopologicalSorter(graph).static_order():
        depth[name] = 1 + max((depth[d] for d in graph[name]), default=0)
    return max(depth.values(), default=0)


def estimate_area_um2(counts: Counter) -> float:
    """Sum of the gates' NAND2-equivalents times the 45 nm NAND2 area."""
    return NAND2_AREA_UM2 * sum(NAND2_EQUIVALENTS[t] * n for t, n in counts.items())
