"""Names of the weight-quantization schemes (no TensorFlow: the campaign config checks them).

``"per_tensor"``: one scale and zero point for a layer's whole kernel (the default, and what
models saved before the scheme existed use). ``"per_channel"``: one scale and zero point per
output channel (``c * depth_multiplier + q`` for a depthwise kernel). Either way the weights
are quantized to the weight width N of the layer's multiplier (``Multiplier.weight_bits``).
"""

from __future__ import annotations

from evoapproxnas.errors import UserError

WEIGHT_QUANTIZATIONS = ("per_tensor", "per_channel")
DEFAULT_WEIGHT_QUANTIZATION = "per_tensor"


def check_weight_quantization(value, what: str = "weight_quantization") -> str:
    """``value`` if it names a scheme, else a ``UserError`` naming ``what`` and the choices."""
    if value not in WEIGHT_QUANTIZATIONS:
        raise UserError(f"{what} must be one of {', '.join(map(repr, WEIGHT_QUANTIZATIONS))}, "
                        f"got {value!r}")
    return value
