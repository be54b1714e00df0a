"""Quantization for the approximate layers (TensorFlow): 8-bit activations, N-bit weights.

Unsigned tables: asymmetric codes ``0 .. 2**bits - 1``, ``real = scale * (code - zero_point)``,
the range always containing 0 so that 0 (and padding) is exactly the code ``zero_point``.
Activations are 8 bits; weights have the multiplier's weight width N (``bits``, 2..8), so an
8x4 multiplier's weights are 16 codes 0..15.
Signed tables (8x8 only): symmetric codes in [-127, 127], ``real = scale * code``, zero point 0.
Weights are quantized per tensor (one scale and zero point) or per output channel
(:func:`weight_params` with ``channel_axes``: one pair per output channel, shaped to broadcast
against the kernel). All helpers return float tensors holding integral code values; cast with
:func:`to_codes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

_EPS = 1e-8
BITS = 8
"""Activation width, and the weight width of an 8x8 multiplier."""


def code_range(signed: bool, bits: int = BITS) -> tuple[float, float]:
    """(lowest, highest) code: [-127, 127] signed (8 bits only), [0, 2**bits - 1] unsigned."""
    if signed:
        if bits != BITS:
            raise ValueError(f"signed codes are 8 bits, not {bits}")
        return -127.0, 127.0
    if not 2 <= int(bits) <= BITS:
        raise ValueError(f"unsigned codes have 2..8 bits, not {bits}")
    return 0.0, float(2 ** int(bits) - 1)


def range_params(lo, hi, signed: bool, bits: int = BITS) -> tuple[tf.Tensor, tf.Tensor]:
    """(scale, zero_point) as float32 tensors for the real range [lo, hi] (elementwise: ``lo``
    and ``hi`` may hold one range per channel) and ``bits``-bit codes."""
    lo = tf.minimum(tf.cast(lo, tf.float32), 0.0)
    hi = tf.maximum(tf.cast(hi, tf.float32), 0.0)
    if signed:
        code_range(True, bits)
        scale = tf.maximum(tf.maximum(-lo, hi), _EPS) / 127.0
        return scale, tf.zeros_like(scale)
    top = code_range(False, bits)[1]
    scale = tf.maximum(hi - lo, _EPS) / top
    zero_point = tf.clip_by_value(tf.round(-lo / scale), 0.0, top)
    return scale, zero_point


def tensor_params(x, signed: bool, bits: int = BITS) -> tuple[tf.Tensor, tf.Tensor]:
    """(scale, zero_point) from the tensor's own min and max (per tensor)."""
    return range_params(tf.reduce_min(x), tf.reduce_max(x), signed, bits)


def weight_params(kernel, signed: bool, bits: int = BITS,
                  channel_axes: Sequence[int] | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(scale, zero_point) of a kernel quantized to ``bits``-bit codes.

    ``channel_axes=None``: per tensor, scalars from the whole kernel's min and max. Otherwise
    per output channel: the kernel axes that index the output channel (``(3,)`` for an HWIO
    convolution, ``(2, 3)`` for a depthwise ``[kh, kw, C, dm]`` kernel, whose output channel is
    ``c * dm + q``, ``(1,)`` for a dense ``[K, units]`` kernel); min and max are taken over
    the other axes, kept as size-1 axes so that the parameters broadcast against the kernel.
    """
    if channel_axes is None:
        return tensor_params(kernel, signed, bits)
    kernel = tf.convert_to_tensor(kernel)
    rank = kernel.shape.rank
    keep = {int(a) % rank for a in channel_axes}
    axes = [i for i in range(rank) if i not in keep]
    lo = tf.reduce_min(kernel, axis=axes, keepdims=True)
    hi = tf.reduce_max(kernel, axis=axes, keepdims=True)
    return range_params(lo, hi, signed, bits)


def quantize(x, scale, zero_point, signed: bool, bits: int = BITS) -> tf.Tensor:
    """Codes (float32, integral) of ``x``: round to nearest, clip to the ``bits``-bit range."""
    lo, hi = code_range(signed, bits)
    return tf.clip_by_value(tf.round(x / scale) + zero_point, lo, hi)


def dequantize(codes, scale, zero_point) -> tf.Tensor:
    """Real values of codes."""
    return scale * (codes - zero_point)


def fake_quant(x, scale, zero_point, signed: bool, bits: int = BITS) -> tf.Tensor:
    """Quantize-dequantize ``x`` with a straight-through gradient (identity)."""
    q = dequantize(quantize(x, scale, zero_point, signed, bits), scale, zero_point)
    return x + tf.stop_gradient(q - x)


def to_codes(codes, signed: bool) -> tf.Tensor:
    """Integral float codes as ``int8`` (signed) or ``uint8`` (unsigned) tensors."""
    return tf.cast(codes, tf.int8 if signed else tf.uint8)
