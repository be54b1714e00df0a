"""Layer records for the cost models: one multiplying layer with its shapes and multiplier.

A layer is a grouped convolution in the Timeloop/Eyeriss notation: ``G`` groups, ``M`` output
channels and ``C`` input channels per group, ``P x Q`` outputs, ``R x S`` kernel. A dense layer
is a 1x1 convolution on a 1x1 input; a depthwise convolution has ``groups = c_in``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.choice import (
    MultiplierChoice,
    fallback_exact,
    reference_exact,
    relative_power,
)

#: LUTs of an exact 8x8 multiplier built from FPGA logic (no DSP), a common Xilinx figure;
#: used when the reference exact multiplier has no ``luts`` figure.
EXACT_LUTS = 80.0
#: Weight width of a layer whose multiplier says nothing (``None``, 8x8 circuits, test doubles).
WEIGHT_BITS = 8


def weight_bits(multiplier: Any) -> int:
    """The weight width N of an 8xN multiplier: its ``weight_bits``, 8 when it has none (and
    for ``None``, the exact 8x8)."""
    value = getattr(multiplier, "weight_bits", None)
    return WEIGHT_BITS if value is None else int(value)


def stored_weight_bits(layer: Any, configured: int) -> int:
    """Bits of one stored or moved weight of ``layer`` on hardware built for ``configured``-bit
    weights: for a narrow multiplier (8xN, N < 8) its N where that is narrower than the
    configured width (an 8x4 layer's weights are 4-bit words); otherwise (8x8 multipliers,
    ``None``, objects without ``weight_bits``) the configured width, unchanged."""
    n = weight_bits(getattr(layer, "multiplier", None))
    return int(configured) if n >= WEIGHT_BITS else min(int(configured), n)


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"layer {what} must be an int or a pair of ints, got {value!r}") from None
    if a < 1 or b < 1:
        raise UserError(f"layer {what} must be positive, got {value!r}")
    return a, b


@dataclass(frozen=True)
class Layer:
    """One multiplying layer: shapes are (height, width, channels); ``multiplier`` may be None."""

    kind: str
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    groups: int = 1
    multiplier: Any = None
    name: str = ""
    activation_bits: int = 8
    """Width of the activations the layer multiplies (its input); only the quantized FPGA
    model (``quantized.py``, Lu et al.) prices it, the others assume 8."""

    @property
    def dims(self) -> dict[str, int]:
        """Loop bounds G, M, C, P, Q, R, S of the layer."""
        g = self.groups
        return {
            "G": g, "M": self.output_shape[2] // g, "C": self.input_shape[2] // g,
            "P": self.output_shape[0], "Q": self.output_shape[1],
            "R": self.kernel[0], "S": self.kernel[1],
        }

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference."""
        return math.prod(self.dims.values())

    @property
    def weight_bits(self) -> int:
        """Weight width N of the layer's multiplier (8 for ``None`` and 8x8 multipliers)."""
        return weight_bits(self.multiplier)

    @property
    def weights(self) -> int:
        """Number of weights (no bias)."""
        d = self.dims
        return d["G"] * d["M"] * d["C"] * d["R"] * d["S"]

    def shape_key(self) -> tuple:
        """Hashable key of everything but the multiplier (for caching mappings)."""
        return (self.input_shape, self.output_shape, self.kernel, self.strides, self.groups)


def _out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    out = (size - kernel) // stride + 1
    if out < 1:
        raise UserError(
            f"a {kernel}-wide kernel does not fit a {size}-wide input with padding='valid'; "
            "use padding='same' or a smaller kernel"
        )
    return out


def conv_layer(height: int, width: int, c_in: int, c_out: int, kernel, stride=1,
               padding: str = "same", groups: int = 1, multiplier: Any = None,
               name: str = "") -> Layer:
    """A (grouped / depthwise) convolution on a ``height x width x c_in`` input."""
    if padding not in ("same", "valid"):
        raise UserError(f"padding must be 'same' or 'valid', got {padding!r}")
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    for what, v in (("height", height), ("width", width), ("c_in", c_in), ("c_out", c_out),
                    ("groups", groups)):
        if int(v) < 1:
            raise UserError(f"layer {what} must be a positive integer, got {v!r}")
    if c_in % groups or c_out % groups:
        raise UserError(
            f"groups={groups} must divide c_in={c_in} and c_out={c_out}; "
            "use groups=c_in for a depthwise convolution"
        )
    p = _out_size(height, kh, sh, padding)
    q = _out_size(width, kw, sw, padding)
    kind = "depthwise_conv2d" if groups == c_in and groups > 1 else "conv2d"
    return Layer(kind, (int(height), int(width), int(c_in)), (p, q, int(c_out)), (kh, kw),
                 (sh, sw), int(groups), multiplier, name)


def dense_layer(n_in: int, n_out: int, multiplier: Any = None, name: str = "") -> Layer:
    """A fully connected layer (a 1x1 convolution on a 1x1 input)."""
    if int(n_in) < 1 or int(n_out) < 1:
        raise UserError(f"dense layer sizes must be positive, got {n_in} -> {n_out}")
    return Layer("dense", (1, 1, int(n_in)), (1, 1, int(n_out)), (1, 1), (1, 1), 1,
                 multiplier, name)


def layer_from_dict(record: dict, multiplier: Any = None) -> Layer:
    """A layer from a ``cgp.multiply_layers`` record (or the same keys loaded from JSON)."""
    try:
        kind = record["kind"]
        h, w, c = record["input_shape"]
        name = str(record.get("name", ""))
        if kind == "dense":
            n_out = record.get("filters") or record["output_shape"][-1]
            return dense_layer(h * w * c, n_out, multiplier, name)
        if kind not in ("conv2d", "depthwise_conv2d"):
            raise UserError(f"unknown layer kind {kind!r}: use conv2d, depthwise_conv2d or dense")
        groups = int(record.get("groups", c if kind == "depthwise_conv2d" else 1))
        filters = record.get("filters") or record["output_shape"][-1]
        layer = conv_layer(h, w, c, filters, record.get("kernel", 1), record.get("strides", 1),
                           record.get("padding", "same"), groups, multiplier, name)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"bad layer record {record!r} ({exc}); give kind, input_shape [h, w, c], "
            "filters, kernel, strides, padding, groups"
        ) from None
    if "activation_bits" in record:  # optional: the input width of a quantized layer
        bits = record["activation_bits"]
        if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
            raise UserError(f"layer {name!r}: activation_bits must be a whole number 2..8, "
                            f"got {bits!r}")
        layer = dataclasses.replace(layer, activation_bits=bits)
    if "output_shape" in record and tuple(record["output_shape"]) != layer.output_shape:
        raise UserError(
            f"layer {name!r}: output_shape {tuple(record['output_shape'])} does not match "
            f"{layer.output_shape} computed from its input, kernel, strides and padding"
        )
    return layer


def layers_from_records(records: Iterable[dict], multipliers: Any = (),
                        exact: Any = None) -> list[Layer]:
    """Layers from ``multiply_layers`` records; genes resolve through ``multipliers``.

    ``multipliers`` is anything ``MultiplierChoice.coerce`` takes (a list indexed by gene, a
    dict keyed by gene, a ``MultiplierLibrary`` or a ``MultiplierChoice``). Gene ``None`` means
    the exact multiplier: ``exact`` when given, else that of the multipliers' library (of the
    default library when none is given).
    """
    choice = MultiplierChoice.coerce(multipliers, exact=exact)
    return [layer_from_dict(r, choice.resolve(r.get("multiplier"))) for r in records]


def layers_from_graph(graph: Any, multipliers: Any = (), exact: Any = None) -> list[Layer]:
    """Layers of a decoded CGP network (``cgp.decode``), in topological order."""
    from evoapproxnas.cgp import multiply_layers

    return layers_from_records(multiply_layers(graph), multipliers, exact)


# ---- multiplier figures, with the documented fallback rule --------------------------------
# Relative figures are measured against ``multipliers.reference_exact``: the exact multiplier
# of the same signedness in the multiplier's own library (EvoApproxLib's for a multiplier
# without a library, and for ``None``, the exact multiplier).

def _reference_figure(multiplier: Any, figure: str) -> float | None:
    """``figure`` of the reference exact multiplier; EvoApproxLib's when it has none."""
    signed = bool(getattr(multiplier, "signed", False))
    reference = fallback_exact(signed) if multiplier is None else reference_exact(multiplier)
    value = getattr(reference, figure, None)
    if value is None:
        value = getattr(fallback_exact(signed), figure, None)
    return None if value is None else float(value)


def power_ratio(multiplier: Any) -> float:
    """Multiplier power relative to the exact multiplier of its library and signedness.

    This is ``multipliers.relative_power``: ``None`` is exact (1.0); a missing power figure
    falls back to the area ratio, and a missing area to 1.0 (treated as exact).
    """
    return relative_power(multiplier)


def area_um2(multiplier: Any) -> float:
    """Multiplier area; a missing figure is the reference exact area x :func:`power_ratio`."""
    if multiplier is not None and getattr(multiplier, "area_um2", None) is not None:
        return float(multiplier.area_um2)
    return _reference_figure(multiplier, "area_um2") * power_ratio(multiplier)


def luts(multiplier: Any) -> float:
    """FPGA LUTs of a logic-built multiplier: its own ``luts`` figure, else the reference exact
    multiplier's LUTs (``EXACT_LUTS`` when it has none) x the area ratio."""
    if multiplier is not None and getattr(multiplier, "luts", None) is not None:
        return float(multiplier.luts)
    reference = _reference_figure(multiplier, "luts") or EXACT_LUTS
    return reference * area_um2(multiplier) / _reference_figure(multiplier, "area_um2")


def is_exact(multiplier: Any) -> bool:
    """True for ``None`` or an exact multiplier (its ``is_exact`` flag, else power ratio 1)."""
    if multiplier is None:
        return True
    flag = getattr(multiplier, "is_exact", None)
    if flag is not None:
        return bool(flag)
    return power_ratio(multiplier) == 1.0


def multiplier_id(multiplier: Any) -> str:
    """A printable identity: the multiplier's key (name#hash) or name, 'exact' for None."""
    if multiplier is None:
        return "exact"
    return str(getattr(multiplier, "key", None) or getattr(multiplier, "name", "?"))


# ---- the accounting rule of mixed multipliers on one accelerator -------------------------
# (docs/hardware.md, "Networks that mix multipliers"): the multiplier array is built as one
# bank per multiplier in use, each bank holding that multiplier's share of the network's MACs;
# so a figure per multiplier unit (area, LUTs) counts as the MAC-weighted mean over the banks.

def multiplier_macs(layers: Iterable[Layer]) -> list[tuple[Any, int]]:
    """``(multiplier, MACs per inference)`` per distinct multiplier, in order of first use."""
    totals: dict[str, list] = {}
    for layer in layers:
        entry = totals.setdefault(multiplier_id(layer.multiplier), [layer.multiplier, 0])
        entry[1] += layer.macs
    return [(m, int(n)) for m, n in totals.values()]


def multiplier_shares(layers: Iterable[Layer]) -> list[tuple[Any, float]]:
    """``(multiplier, share of the MACs)`` per distinct multiplier; the shares sum to 1.

    A network without layers gets ``[(None, 1.0)]`` (an array of exact multipliers).
    """
    macs = multiplier_macs(layers)
    total = sum(n for _, n in macs)
    if not total:
        return [(None, 1.0)]
    return [(m, n / total) for m, n in macs]
