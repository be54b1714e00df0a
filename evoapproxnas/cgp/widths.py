"""Per-layer bit widths as genes (Lu et al., ICCAD 2019; docs/quantization.md): the rule
shared by the layer-list space (``search.spaces.layers``) and the CGP genome (``cgp.spec``).

A spec that searches widths has the ``[space]`` width keys as fields: ``activation_bits``
(the widths A a layer may take; empty: A = 8, no gene), ``weight_bits`` (the widths W; the
multiplier gene then selects one, i.e. the exact 8xW multiplier), ``fixed_point`` (two more
genes per layer, the fractional bits), ``activation_frac_bits`` and ``weight_frac_bits``
(their choices). ``width_genes(spec)`` names a layer's width genes in gene order;
``layer_widths(spec, genes, weight_bits)`` maps their values to the layer's widths (a
fractional choice above the width is the width), the keys ``cgp.counting.WIDTH_KEYS`` that a
multiplying primitive carries.
"""

from __future__ import annotations

from evoapproxnas.errors import UserError

ACTIVATION_GENE = "activation_bits"
FRAC_GENES = ("activation_frac_bits", "weight_frac_bits")
DEFAULT_FRAC_BITS = (0, 1, 2, 3, 4, 5, 6)
"""Default fractional-bit choices (the paper's 0..6)."""


def searches_widths(spec) -> bool:
    """True when the layers carry bit widths (activation widths or fixed point searched)."""
    return bool(spec.activation_bits) or bool(spec.fixed_point)


def width_genes(spec) -> tuple[str, ...]:
    """Names of one layer's width genes, in gene order (empty: no widths searched)."""
    return ((ACTIVATION_GENE,) if spec.activation_bits else ()) + (
        FRAC_GENES if spec.fixed_point else ())


def width_options(spec) -> dict[str, int]:
    """Number of values of each width gene."""
    return {ACTIVATION_GENE: len(spec.activation_bits),
            "activation_frac_bits": len(spec.activation_frac_bits),
            "weight_frac_bits": len(spec.weight_frac_bits)}


def layer_widths(spec, genes: dict, weight_bits: int | None) -> dict:
    """The widths of a layer whose width genes (by name) have values ``genes`` and whose
    weight width is ``weight_bits`` (needed in fixed point): ``activation_bits`` and, in fixed
    point, ``activation_frac_bits`` and ``weight_frac_bits`` clipped to their widths."""
    a = spec.activation_bits[genes[ACTIVATION_GENE]] if spec.activation_bits else 8
    bits = {"activation_bits": a}
    if spec.fixed_point:
        bits["activation_frac_bits"] = min(
            spec.activation_frac_bits[genes["activation_frac_bits"]], a)
        bits["weight_frac_bits"] = min(spec.weight_frac_bits[genes["weight_frac_bits"]],
                                       weight_bits)
    return bits


def check_widths(spec) -> None:
    """``UserError`` (one line, naming the ``[space]`` key) for width keys the spec cannot
    use."""
    def integer(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    for key, low, high, empty in (("activation_bits", 2, 8, True),
                                  ("weight_bits", 2, 8, True),
                                  ("activation_frac_bits", 0, 8, False),
                                  ("weight_frac_bits", 0, 8, False)):
        values = getattr(spec, key)
        ok = isinstance(values, (tuple, list)) and (empty or bool(values)) and all(
            integer(v) and low <= v <= high for v in values) and len(set(values)) == len(values)
        if not ok:
            shown = list(values) if isinstance(values, (tuple, list)) else values
            raise UserError(f"space.{key} = {shown!r} is not allowed; give distinct "
                            f"integers from {low} to {high}, e.g. [4, 6, 8]")
    if not isinstance(spec.fixed_point, bool):
        raise UserError(f"space.fixed_point = {spec.fixed_point!r} is not allowed; use true "
                        "or false")
    if spec.fixed_point and not spec.weight_bits:
        raise UserError(f"space.fixed_point = {spec.fixed_point!r} is not allowed; fixed "
                        "point needs space.weight_bits (the widths its binary points divide), "
                        "e.g. weight_bits = [4, 6, 8]")
