"""Cost-model registry, presets and config overrides (plain dicts, TOML files).

The registry knows no model: each model module registers itself with ``@register_model``,
and the package ``evoapproxnas.hardware`` imports the model modules, so that importing any
part of the package fills the registry.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.paths import path_problem, shown
from evoapproxnas.registry import registrar

MODELS: dict[str, type] = {}


class ModelMetric(NamedTuple):
    """What a cost model declares about one metric it computes (``evoapproxnas.metrics``
    lists these with the campaign's other metrics)."""

    direction: str
    """"min" or "max": which way is better."""
    unit: str
    """Unit of the value ("" for a count or a ratio)."""
    meaning: str
    """What the value is, in a few words (a plot's axis label)."""


COMMON_METRICS: dict[str, ModelMetric] = {
    "latency_cycles": ModelMetric("min", "cycles", "clock cycles of one inference"),
    "latency_ms": ModelMetric("min", "ms", "time of one inference"),
    "fps": ModelMetric("max", "1/s", "inferences per second at the clock"),
    "gops_per_w": ModelMetric("max", "GOPS/W", "energy efficiency (2 ops per MAC)"),
    "luts": ModelMetric("min", "", "FPGA look-up tables used"),
    "fits": ModelMetric("max", "", "1 if the design fits the device (fpga_lu: its LUTs only), "
                                   "else 0"),  # fpga: its LUTs, DSPs and BRAMs
}
"""Metrics more than one cost model computes, declared once so that every model means the
same by them (``evoapproxnas.metrics`` refuses two declarations that differ)."""


def common_metrics(*names: str) -> dict[str, ModelMetric]:
    """The ``COMMON_METRICS`` called ``names``, for a model's ``METRICS``."""
    return {name: COMMON_METRICS[name] for name in names}


class CostModel:
    """Base class: ``config`` is a validated dict; ``estimate(layers)`` returns named metrics."""

    name: str = ""
    PRESETS: ClassVar[dict[str, dict]] = {}
    DEFAULT_PRESET: str = ""
    METRICS: ClassVar[dict[str, ModelMetric]] = {}
    """Every metric ``estimate`` returns: name -> direction, unit and meaning."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.validate()

    def validate(self) -> None:
        """Raise ``UserError`` for impossible settings."""

    def estimate(self, layers: list) -> dict[str, float]:
        raise NotImplementedError


register_model = registrar(MODELS, "a cost model", "name")
"""Class decorator ``@register_model(name)`` adding a cost model to the registry; duplicate
names are refused."""


def model_class(name: str) -> type:
    """The registered model class called ``name``."""
    if name not in MODELS:
        raise UserError(
            f"unknown cost model {name!r}{closest_names(name, MODELS)}; "
            f"choose one of {', '.join(sorted(MODELS))}"
        )
    return MODELS[name]


def _set(config: dict, key: str, value: Any, where: str) -> None:
    node = config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = node.keys() if isinstance(node, dict) else []
            raise UserError(
                f"{where}unknown hardware setting {'.'.join(parts[: i + 1])!r}"
                f"{closest_names(part, known)}; see `evoapproxnas hw presets` for the keys"
            )
        if i < len(parts) - 1:
            node = node[part]
    old = node[parts[-1]]
    if isinstance(old, dict):
        if not isinstance(value, dict):
            raise UserError(f"{where}hardware setting {key!r} is a table; set its keys instead")
        for k, v in value.items():
            _set(config, f"{key}.{k}", v, where)
        return
    if not _same_kind(old, value):
        raise UserError(
            f"{where}hardware setting {key!r} must be a {type(old).__name__} like {old!r}, "
            f"got {value!r}"
        )
    node[parts[-1]] = float(value) if isinstance(old, float) else value


def _same_kind(old: Any, value: Any) -> bool:
    """Whether ``value`` may replace a setting whose preset value is ``old``: the same type
    (an integer for a float too), finite numbers of at most 64 bits, lists of such values."""
    if isinstance(old, bool) or isinstance(value, bool):
        return isinstance(old, bool) and isinstance(value, bool)
    if isinstance(old, int):
        return isinstance(value, int) and -(2**63) <= value < 2**63
    if isinstance(old, float):
        try:
            return isinstance(value, (int, float)) and math.isfinite(float(value))
        except OverflowError:
            return False
    if isinstance(old, list):
        return isinstance(value, list) and (not old or all(_same_kind(old[0], v)
                                                           for v in value))
    if isinstance(old, str):
        return isinstance(value, str)
    return True


def apply_overrides(config: dict, overrides: dict, where: str = "") -> dict:
    """A deep copy of ``config`` with ``overrides`` applied (dotted keys or nested tables)."""
    result = copy.deepcopy(config)
    for key, value in overrides.items():
        _set(result, key.replace("__", "."), value, where)
    return result


def preset_config(cls: type, preset: str | None) -> dict:
    """The config of a named preset, or of a TOML file (``preset = "base"`` + overrides)."""
    preset = preset or cls.DEFAULT_PRESET
    if preset in cls.PRESETS:
        return copy.deepcopy(cls.PRESETS[preset])
    choose = f"choose one of {', '.join(sorted(cls.PRESETS))} or give a .toml file"
    problem = path_problem(preset)
    if problem:
        raise UserError(f"unknown {cls.name} preset {shown(preset)}, nor a usable file name "
                        f"({problem}); {choose}")
    path = Path(preset)
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError as exc:  # permission denied on the way ...
        raise UserError(f"cannot read hardware config {path}: {exc.strerror or exc}") from None
    if path.suffix == ".toml" and is_file:
        return _toml_config(cls, path)
    if path.suffix == ".toml" or os.sep in preset or "/" in preset:
        what = "is a folder" if is_dir else "is not a .toml file" if is_file else "does not exist"
        raise UserError(f"hardware config file {path} {what}; {choose}")
    raise UserError(
        f"unknown {cls.name} preset {preset!r}{closest_names(preset, cls.PRESETS)}; {choose}"
    )


def _toml_config(cls: type, path: Path) -> dict:
    """The config of a TOML file: ``preset = "base"`` (default: the model's) + overrides."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read hardware config {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    except RecursionError:
        raise UserError(f"cannot read hardware config {path}: nested too deep") from None
    base = data.pop("preset", cls.DEFAULT_PRESET)
    if not isinstance(base, str) or base not in cls.PRESETS:
        hint = closest_names(base, cls.PRESETS) if isinstance(base, str) else ""
        raise UserError(f"{path}: unknown base preset {base!r}{hint}; use one of "
                        f"{', '.join(sorted(cls.PRESETS))}")
    return apply_overrides(cls.PRESETS[base], data, where=f"{path}: ")


def get_cost_model(name: str, preset: str | None = None, **overrides: Any) -> CostModel:
    """A cost model from the registry ("asic", "fpga"), configured by preset and overrides.

    Overrides use ``key=value``; nested keys as ``tech__dram_pj=...`` or ``tech={...}``.
    """
    cls = model_class(name)
    config = apply_overrides(preset_config(cls, preset), overrides)
    return cls(config)


def presets(name: str) -> dict[str, dict]:
    """All presets of a model (copies)."""
    return copy.deepcopy(model_class(name).PRESETS)


def check_choice(value: Any, choices: Iterable, what: str) -> None:
    """Raise ``UserError`` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise UserError(
            f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}"
            f"{closest_names(str(value), map(str, choices))}"
        )


def is_number(value: Any) -> bool:
    """Whether a setting's value is a number (an int or a float, not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(config: dict, keys: Iterable[str], where: str, prefix: str = "") -> None:
    """Raise ``UserError`` unless every ``config[key]`` is a positive number (settings that
    divide or count: widths, sizes, array dimensions, clocks); ``prefix`` names the table the
    keys are in (``"tech."``)."""
    for key in keys:
        if not config[key] > 0:
            raise UserError(f"{where} setting '{prefix}{key}' must be positive, got "
                            f"{config[key]!r}")


def check_non_negative(config: dict, keys: Iterable[str], where: str,
                       prefix: str = "") -> None:
    """Raise ``UserError`` unless every ``config[key]`` is a number >= 0 (energies, areas,
    resource counts: 0 is a cost that is not counted, a negative one is no cost at all)."""
    for key in keys:
        if not config[key] >= 0:
            raise UserError(f"{where} setting '{prefix}{key}' must be 0 or more, got "
                            f"{config[key]!r}")
