"""Fixed-point quantization at A-bit activations and W-bit weights (Lu et al., ICCAD 2019).

No TensorFlow: the bit widths of a layer (:class:`BitWidths`), their validation, the
``(scale, zero point)`` pairs the approximate layers use for them, and exact AxW product
tables for the existing op. ``approx.layers`` applies them (``activation_bits``,
``activation_frac_bits``, ``weight_frac_bits``; :func:`layer_kwargs` builds those arguments).

Two ways to quantize at ``(A, W)``:

- *range scaling* (``*_frac_bits = None``, the default): A-bit activation codes and W-bit
  weight codes, asymmetric, scaled from the tensor's own min and max (``approx.quant``), as
  for any 8xN layer, with the activation codes limited to ``2**A`` levels;
- *fixed point with a chosen binary point* (Lu et al.'s Eq. 1 and 2): activations are
  unsigned with ``A = Ai + Af`` bits, ``Q(x) = clip(round(x * 2**Af), 0, 2**A - 1) * 2**-Af``
  (range ``[0, 2**Ai - 2**-Af]``); weights (and biases) are two's complement with ``W = Wi +
  Wf`` bits, ``Q(w) = clip(round(w * 2**Wf), -2**(W-1), 2**(W-1) - 1) * 2**-Wf`` (range
  ``[-2**(Wi-1), 2**(Wi-1) - 2**-Wf]``). Rounding is to nearest, ties to even (numpy's and
  TensorFlow's ``round``).

Fixed-point weights run on the op's unsigned tables as offset-binary codes: the code is
``q + 2**(W-1)`` (``0 .. 2**W - 1``) with the zero point ``2**(W-1)``, so with an exact table
(``lut[a, b] = a * b``) the op's exact zero-point terms give ``sum a * q`` bit for bit, and
the layer's output is that integer times ``2**-(Af + Wf)``. The activation operand ``a`` is an
A-bit code in the 8-bit index; rows ``a >= 2**A`` are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from evoapproxnas.errors import UserError

BIT_WIDTHS = range(2, 9)
"""Activation and weight widths the layers and the hardware tables take (2..8)."""
EXACT_LIBRARY = "evoapproxlib8xNu"
"""The bundled library holding an exact 8xW multiplier for every W = 2..8."""


def check_bits(value, what: str) -> int:
    """``value`` as an int if it is a width 2..8, else a one-line ``UserError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or int(value) not in BIT_WIDTHS:
        raise UserError(f"{what} must be a whole number 2..8, got {value!r}")
    return int(value)


def check_frac_bits(value, bits: int, what: str) -> int | None:
    """``None`` (range scaling) or a fractional width ``0 .. bits`` (the integer part, ``bits
    - value``, is then 0 or more), else a one-line ``UserError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= int(value) <= bits:
        raise UserError(f"{what} must be a whole number 0..{bits} (the fractional bits of a "
                        f"{bits}-bit value) or None, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class BitWidths:
    """A layer's quantization: activation and weight widths and, optionally, binary points.

    ``activation_bits`` (A) is the width of the activations the layer multiplies (its input,
    i.e. the previous layer's output format in Lu et al.'s terms), ``weight_bits`` (W) that
    of its weights. ``*_frac_bits = None``: range scaling; an int: fixed point with that many
    fractional bits (the integer bits are the rest).
    """

    activation_bits: int = 8
    weight_bits: int = 8
    activation_frac_bits: int | None = None
    weight_frac_bits: int | None = None

    def __post_init__(self) -> None:
        a = check_bits(self.activation_bits, "activation_bits")
        w = check_bits(self.weight_bits, "weight_bits")
        af = check_frac_bits(self.activation_frac_bits, a, "activation_frac_bits")
        wf = check_frac_bits(self.weight_frac_bits, w, "weight_frac_bits")
        for name, value in (("activation_bits", a), ("weight_bits", w),
                            ("activation_frac_bits", af), ("weight_frac_bits", wf)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_split(cls, ai: int, af: int, wi: int, wf: int) -> BitWidths:
        """The widths of Lu et al.'s ``(Ai, Af, Wi, Wf)``: ``A = Ai + Af``, ``W = Wi + Wf``."""
        for name, value in (("Ai", ai), ("Af", af), ("Wi", wi), ("Wf", wf)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise UserError(f"{name} must be a whole number >= 0, got {value!r}")
        return cls(int(ai) + int(af), int(wi) + int(wf), int(af), int(wf))

    @property
    def activation_int_bits(self) -> int | None:
        """``Ai`` (None with range scaling)."""
        f = self.activation_frac_bits
        return None if f is None else self.activation_bits - f

    @property
    def weight_int_bits(self) -> int | None:
        """``Wi``, the sign bit included (None with range scaling)."""
        f = self.weight_frac_bits
        return None if f is None else self.weight_bits - f


def activation_fixed_params(bits: int, frac_bits: int) -> tuple[float, float]:
    """``(scale, zero point)`` of unsigned fixed-point activations: ``(2**-Af, 0)``."""
    return 2.0 ** -int(frac_bits), 0.0


def weight_fixed_params(bits: int, frac_bits: int) -> tuple[float, float]:
    """``(scale, zero point)`` of two's-complement fixed-point weights as offset-binary codes
    ``0 .. 2**W - 1``: ``(2**-Wf, 2**(W-1))``."""
    return 2.0 ** -int(frac_bits), float(2 ** (int(bits) - 1))


def exact_table(activation_bits: int, weight_bits: int) -> np.ndarray:
    """The exact AxW multiplier as a ``uint16 [256, 2**W]`` table for the op: ``lut[a, b] =
    (a mod 2**A) * b`` (an A-bit circuit sees the low A bits of the 8-bit index)."""
    a_bits = check_bits(activation_bits, "activation_bits")
    w_bits = check_bits(weight_bits, "weight_bits")
    a = np.arange(256, dtype=np.int64) % (1 << a_bits)
    b = np.arange(1 << w_bits, dtype=np.int64)
    return (a[:, None] * b[None, :]).astype(np.uint16)


@cache
def exact_multiplier(weight_bits: int) -> str:
    """Name of the exact 8xW multiplier of ``EXACT_LIBRARY`` (checked: its table is ``a * b``
    on every code pair)."""
    from evoapproxnas.multipliers import load_library

    w_bits = check_bits(weight_bits, "weight_bits")
    want = exact_table(8, w_bits)
    for mult in load_library(EXACT_LIBRARY):
        if not mult.signed and mult.weight_bits == w_bits and np.array_equal(mult.lut, want):
            return mult.name
    raise UserError(f"library {EXACT_LIBRARY} has no exact 8x{w_bits} multiplier")


def layer_kwargs(bits: BitWidths) -> dict:
    """Arguments of an approximate layer built at ``bits``: the exact 8xW multiplier and the
    activation width and binary points, e.g. ``ApproxConv2D(16, 3, **layer_kwargs(b))``."""
    return {"multiplier": exact_multiplier(bits.weight_bits), "library": EXACT_LIBRARY,
            "activation_bits": bits.activation_bits,
            "activation_frac_bits": bits.activation_frac_bits,
            "weight_frac_bits": bits.weight_frac_bits}
