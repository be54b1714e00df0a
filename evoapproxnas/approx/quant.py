"""8-bit quantization for the approximate layers (TensorFlow).

Unsigned tables: asymmetric ``uint8`` codes, ``real = scale * (code - zero_point)``, the range
always containing 0 so that 0 (and padding) is exactly the code ``zero_point``.
Signed tables: symmetric codes in [-127, 127], ``real = scale * code``, zero point 0.
All helpers return float tensors holding integral code values; cast with :func:`to_codes`.
"""

from __future__ import annotations

import tensorflow as tf

_EPS = 1e-8


def range_params(lo, hi, signed: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """(scale, zero_point) as float32 scalars for the real range [lo, hi]."""
    lo = tf.minimum(tf.cast(lo, tf.float32), 0.0)
    hi = tf.maximum(tf.cast(hi, tf.float32), 0.0)
    if signed:
        scale = tf.maximum(tf.maximum(-lo, hi), _EPS) / 127.0
        return scale, tf.zeros([], tf.float32)
    scale = tf.maximum(hi - lo, _EPS) / 255.0
    zero_point = tf.clip_by_value(tf.round(-lo / scale), 0.0, 255.0)
    return scale, zero_point


def tensor_params(x, signed: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """(scale, zero_point) from the tensor's own min and max (per tensor)."""
    return range_params(tf.reduce_min(x), tf.reduce_max(x), signed)


def quantize(x, scale, zero_point, signed: bool) -> tf.Tensor:
    """Codes (float32, integral) of ``x``: round to nearest, clip to the code range."""
    lo, hi = (-127.0, 127.0) if signed else (0.0, 255.0)
    return tf.clip_by_value(tf.round(x / scale) + zero_point, lo, hi)


def dequantize(codes, scale, zero_point) -> tf.Tensor:
    """Real values of codes."""
    return scale * (codes - zero_point)


def fake_quant(x, scale, zero_point, signed: bool) -> tf.Tensor:
    """Quantize-dequantize ``x`` with a straight-through gradient (identity)."""
    q = dequantize(quantize(x, scale, zero_point, signed), scale, zero_point)
    return x + tf.stop_gradient(q - x)


def to_codes(codes, signed: bool) -> tf.Tensor:
    """Integral float codes as ``int8`` (signed) or ``uint8`` (unsigned) tensors."""
    return tf.cast(codes, tf.int8 if signed else tf.uint8)
