"""Approximate 8xN multiplication inside TensorFlow: exact product-table kernels (C++ custom
op with a pure-TensorFlow fallback), quantization (8-bit activations, N-bit weights, per tensor
or per channel) and Keras 3 layers.

Importing this package does not import TensorFlow; attributes load their module on first use.
It chooses TensorFlow's float kernels for this CPU first (``evoapproxnas.tf_env``).
"""

from __future__ import annotations

import importlib

from evoapproxnas.tf_env import apply_onednn_default

apply_onednn_default()

_EXPORTS = {
    "lut_matmul": "ops",
    "lut_conv2d": "ops",
    "lut_depthwise_conv2d": "ops",
    "quantize_codes": "ops",
    "quantized_conv2d": "ops",
    "quantized_matmul": "ops",
    "op_available": "ops",
    "check_table": "ops",
    "ApproxConv2D": "layers",
    "ApproxDepthwiseConv2D": "layers",
    "ApproxDense": "layers",
    "set_multiplier": "layers",
    "APPROX_LAYERS": "layers",
    "build_op": "build",
    "WEIGHT_QUANTIZATIONS": "schemes",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    attr = "build" if name == "build_op" else name
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value
