"""Node functions of the CGP genome: a registry of name -> arity, parameter choices, multiplier use.

The default table is the EvoApproxNAS function set (ids are the positions in
``DEFAULT_FUNCTIONS``). A campaign may use a subset and override any parameter's choices
through ``CGPSpec.choices``.
"""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = (32, 40, 48, 64, 80, 96, 112, 128)
EXPANSIONS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


@dataclass(frozen=True)
class NodeFunction:
    """One node function: ``params`` is a tuple of ``(name, choices)`` in gene order.

    ``multiplies`` says whether the node's multiplier gene matters (for ``summation`` it
    matters only when a 1x1 channel projection is inserted, see ``cgp.decode``).
    """

    name: str
    arity: int
    params: tuple[tuple[str, tuple], ...] = ()
    multiplies: bool = False

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)


FUNCTIONS: dict[str, NodeFunction] = {}

ACTIVATIONS = ("relu", "elu", "leakyrelu", "prelu")


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _rate(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0


PARAM_RULES = {
    "kernel": (_positive_int, "positive integers"),
    "filters": (_positive_int, "positive integers"),
    "strides": (lambda v: v in (1, 2) and not isinstance(v, bool), "1 or 2"),
    "activation": (lambda v: v in ACTIVATIONS, f"names among {', '.join(ACTIVATIONS)}"),
    "use_bias": (lambda v: isinstance(v, bool), "true or false"),
    "preactivation": (lambda v: isinstance(v, bool), "true or false"),
    "expansion": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
                  "positive numbers"),
    "rate_min": (_rate, "numbers in [0, 1)"),
    "rate_max": (_rate, "numbers in [0, 1)"),
    "rate_position": (lambda v: _rate(v) or v == 1.0, "numbers in [0, 1]"),
}
"""Valid values of each parameter (for choices overridden by a campaign)."""


def check_choice(function: str, param: str, value) -> str | None:
    """A message if ``value`` is not a valid choice of ``function.param``, else None."""
    rule, description = PARAM_RULES.get(param, (lambda v: True, ""))
    if function != "activation" and param == "activation":  # fused into a conv layer
        rule, description = (lambda v: v in ("relu", "elu")), "relu or elu"
    if not rule(value):
        return f"{function}.{param} choices must be {description}, got {value!r}"
    return None


def register_function(function: NodeFunction) -> NodeFunction:
    """Add a node function to the registry; a duplicate name is a programming error."""
    if function.name in FUNCTIONS:
        raise ValueError(f"node function {function.name!r} is already registered")
    if function.arity not in (1, 2):
        raise ValueError(f"node function {function.name!r}: arity must be 1 or 2")
    for name, choices in function.params:
        if not choices:
            raise ValueError(f"node function {function.name!r}: parameter {name!r} has no choices")
    FUNCTIONS[function.name] = function
    return function


for _function in (
    NodeFunction("summation", 2, (), multiplies=True),
    NodeFunction("batch_norm", 1),
    NodeFunction("activation", 1, (("activation", ("relu", "elu", "leakyrelu", "prelu")),)),
    NodeFunction(
        "depthwise_conv2d",
        1,
        (
            ("kernel", (2, 3)),
            ("strides", (1, 2)),
            ("activation", ("relu", "elu")),
            ("use_bias", (False, True)),
        ),
        multiplies=True,
    ),
    NodeFunction(
        "conv2d",
        1,
        (
            ("kernel", (2, 3)),
            ("filters", CHANNELS),
            ("strides", (1, 2)),
            ("activation", ("relu", "elu")),
            ("use_bias", (False, True)),
        ),
        multiplies=True,
    ),
    NodeFunction(
        "basic_residual",
        1,
        (
            ("kernel", (3, 4)),
            ("filters", CHANNELS),
            ("strides", (1, 2)),
            ("preactivation", (False, True)),
        ),
        multiplies=True,
    ),
    NodeFunction(
        "residual_bottleneck",
        1,
        (("kernel", (3, 4)), ("expansion", EXPANSIONS), ("strides", (1, 2))),
        multiplies=True,
    ),
    NodeFunction(
        "residual_inverted",
        1,
        (("kernel", (3, 4)), ("expansion", EXPANSIONS), ("strides", (1, 2))),
        multiplies=True,
    ),
    NodeFunction(
        "dropout",
        1,
        (
            ("rate_min", (0.05, 0.10, 0.15)),
            ("rate_max", (0.20, 0.25, 0.30)),
            ("rate_position", (0.0, 0.25, 0.5, 0.75, 1.0)),
        ),
    ),
    NodeFunction("max_pooling", 1),
):
    register_function(_function)

DEFAULT_FUNCTIONS: tuple[str, ...] = tuple(FUNCTIONS)
"""Function ids of the EvoApproxNAS table: 0 summation ... 9 max_pooling."""
