"""Campaign configuration: a TOML file validated into frozen dataclasses.

Every error names the file, the key and what is allowed. ``--set section.key=value``
overrides (values parsed as TOML, bare words as strings) are applied before validation.
A run directory stores the resolved config as JSON (``config.json``); ``load_config`` reads
both forms. No TensorFlow here.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evoapproxnas.data import DATASETS
from evoapproxnas.errors import UserError, closest_names

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ENGINES = ("pymoo", "deap", "random")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
"""As ``nn.train.OPTIMIZERS`` (not imported: ``evoapproxnas.nn`` loads TensorFlow)."""
CHEAP_METRICS = ("params", "power_mw", "power_rel", "multiplications")
"""Metrics computed before training (all minimized); hardware metrics add to them."""
BUILTIN_METRICS = ("error",) + CHEAP_METRICS
DEFAULT_HV_REFERENCE = {"error": 1.0, "power_rel": 1.0, "params": 1_000_000}
CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class DataConfig:
    name: str = "fashion_mnist"
    dir: str = ""
    """Folder with the dataset files ("" = the dataset's default location)."""
    val_fraction: float = 0.1
    synthetic: dict = field(default_factory=dict)
    """Options of the synthetic generator (n_train, n_test, image_size, n_classes, ...)."""


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 1
    train_samples: int = 3000
    val_samples: int = 1000
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    finetune_epochs: int = 0


@dataclass(frozen=True)
class CGPConfig:
    rows: int = 2
    columns: int = 6
    levels_back: int = 2
    functions: tuple = ()
    """Node functions ([] = the CGP module's default set)."""
    choices: dict = field(default_factory=dict)
    mutation_rate: float = 0.1
    mutate_until_active: bool = True
    min_active_nodes: int = 3


@dataclass(frozen=True)
class MultipliersConfig:
    library: str = "evoapproxlib8u"
    allowed: tuple = ()
    """Names of the multipliers the search may assign ([] or ["all"] = the whole library)."""


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """0 when satisfied, else the excess relative to ``max(|bound|, 1)``."""
        excess = value - self.bound if self.op == "<=" else self.bound - value
        return max(0.0, excess) / max(abs(self.bound), 1.0)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class SearchConfig:
    engine: str = "pymoo"
    population: int = 8
    generations: int = 5
    """Evaluated batches including the initial population (budget = population x generations)."""
    seed: int = 1
    workers: int = 2
    time_limit_s: float = 600.0
    objectives: tuple = ("error", "power_rel", "params")
    constraints: tuple = ()
    hv_reference: dict = field(default_factory=dict)
    """Reference point per objective for the hypervolume (defaults: DEFAULT_HV_REFERENCE)."""


@dataclass(frozen=True)
class HardwareConfig:
    model: str = ""
    preset: str = ""
    search: bool = False
    search_metric: str = "edap"
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DebugConfig:
    fail_fraction: float = 0.0
    """Candidates whose hash falls in this fraction make their worker process crash (tests)."""
    fail_hashes: tuple = ()


SECTIONS = {
    "data": DataConfig, "training": TrainingConfig, "cgp": CGPConfig,
    "multipliers": MultipliersConfig, "search": SearchConfig, "hardware": HardwareConfig,
    "debug": DebugConfig,
}


@dataclass(frozen=True)
class CampaignConfig:
    data: DataConfig
    training: TrainingConfig
    cgp: CGPConfig
    multipliers: MultipliersConfig
    search: SearchConfig
    hardware: HardwareConfig
    debug: DebugConfig
    source: str = ""

    @property
    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(parse_constraint(c, self.source) for c in self.search.constraints)

    def hv_reference(self) -> list[float]:
        ref = {**DEFAULT_HV_REFERENCE, **self.search.hv_reference}
        return [float(ref[name]) for name in self.search.objectives]

    def to_dict(self) -> dict:
        out = {name: asdict(getattr(self, name)) for name in SECTIONS}
        return json.loads(json.dumps(out))


def parse_constraint(text: str, source: str = "") -> Constraint:
    match = CONSTRAINT_RE.match(str(text))
    if not match:
        raise UserError(f"{source}: search.constraints: cannot read {text!r}; write "
                        "'METRIC <= NUMBER' or 'METRIC >= NUMBER', e.g. 'params <= 200000'")
    return Constraint(match.group(1), match.group(2), float(match.group(3)))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (path, value); the value is read as TOML, else as a string."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: write section.key=value, e.g. search.population=4")
    key, raw = text.split("=", 1)
    path = [p.strip() for p in key.strip().split(".")]
    if len(path) < 2 or not all(path):
        raise UserError(f"--set {text!r}: the key must be section.key, e.g. search.seed=3")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for text in overrides or []:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {text!r}: {part} is not a table")
        node[path[-1]] = value
    return raw


def read_raw(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; give the path of a campaign .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the file: {exc}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: malformed TOML: {exc}; fix the syntax") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """Read, override and validate a campaign file (TOML, or a run's ``config.json``)."""
    raw = apply_overrides(read_raw(path), overrides or [])
    return config_from_dict(raw, str(path))


def config_from_dict(raw: dict, source: str = "<config>") -> CampaignConfig:
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the config must be a table of sections")
    for name in raw:
        if name not in SECTIONS:
            raise UserError(f"{source}: unknown section [{name}]{closest_names(name, SECTIONS)}; "
                            f"allowed: {', '.join(SECTIONS)}")
    sections = {name: _section(source, name, cls, raw.get(name, {}))
                for name, cls in SECTIONS.items()}
    config = CampaignConfig(**sections, source=source)
    _validate(config)
    return config


def _section(source: str, name: str, cls, table) -> Any:
    if not isinstance(table, dict):
        raise UserError(f"{source}: [{name}] must be a table, got {table!r}")
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise UserError(f"{source}: unknown key {name}.{key}{closest_names(key, known)}; "
                            f"allowed keys of [{name}]: {', '.join(known)}")
        default = (known[key].default if not callable(known[key].default_factory)
                   else known[key].default_factory())
        values[key] = _coerce(source, f"{name}.{key}", value, default)
    return cls(**values)


def _coerce(source: str, key: str, value, default):
    kind = type(default)
    where = f"{source}: {key}"
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} must be an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise UserError(f"{where} must be a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        return value
    if kind is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        return tuple(value)
    if kind is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a table, got {value!r}")
        return value
    return value


def _check(cond: bool, config: CampaignConfig, key: str, allowed: str, value) -> None:
    if not cond:
        raise UserError(f"{config.source}: {key} = {value!r} is not allowed; {allowed}")


def _validate(c: CampaignConfig) -> None:
    d, t, s, g = c.data, c.training, c.search, c.cgp
    _check(d.name in DATASETS, c, "data.name", f"use one of {', '.join(DATASETS)}"
           f"{closest_names(d.name, DATASETS)}", d.name)
    _check(0 < d.val_fraction < 1, c, "data.val_fraction", "use a number in (0, 1)",
           d.val_fraction)
    for key in ("epochs", "train_samples", "val_samples", "batch_size"):
        _check(getattr(t, key) >= 1, c, f"training.{key}", "use a positive integer",
               getattr(t, key))
    _check(t.finetune_epochs >= 0, c, "training.finetune_epochs", "use 0 or more",
           t.finetune_epochs)
    _check(t.optimizer in OPTIMIZERS, c, "training.optimizer", f"use one of "
           f"{', '.join(OPTIMIZERS)}", t.optimizer)
    _check(0 < t.learning_rate < 10, c, "training.learning_rate", "use a number in (0, 10)",
           t.learning_rate)
    _check(s.engine in ENGINES, c, "search.engine", f"use one of {', '.join(ENGINES)}"
           f"{closest_names(s.engine, ENGINES)}", s.engine)
    _check(s.population >= 2, c, "search.population", "use an integer >= 2", s.population)
    _check(s.generations >= 1, c, "search.generations", "use an integer >= 1", s.generations)
    _check(s.workers >= 1, c, "search.workers", "use an integer >= 1", s.workers)
    _check(s.seed >= 0, c, "search.seed", "use an integer >= 0", s.seed)
    _check(s.time_limit_s > 0, c, "search.time_limit_s", "use a positive number of seconds",
           s.time_limit_s)
    _check(0 <= c.debug.fail_fraction <= 1, c, "debug.fail_fraction", "use a number in [0, 1]",
           c.debug.fail_fraction)
    _check(0 < g.mutation_rate <= 1, c, "cgp.mutation_rate", "use a number in (0, 1]",
           g.mutation_rate)
    known = metric_names()
    _check(len(s.objectives) >= 2, c, "search.objectives", "give at least two objectives",
           list(s.objectives))
    _check(len(set(s.objectives)) == len(s.objectives), c, "search.objectives",
           "name each objective once", list(s.objectives))
    for name in s.objectives:
        _check(name in known, c, "search.objectives", f"unknown metric {name!r}"
               f"{closest_names(str(name), known)}; known: {', '.join(known)}", list(s.objectives))
    for con in c.parsed_constraints:
        _check(con.metric in known and con.metric != "error", c, "search.constraints",
               f"constraints take metrics computed before training: "
               f"{', '.join(m for m in known if m != 'error')}", str(con))
    ref = {**DEFAULT_HV_REFERENCE, **s.hv_reference}
    for name in s.objectives:
        _check(name in ref, c, f"search.hv_reference.{name}", "give a reference value for "
               "every objective (the hypervolume's worst point)", None)
        value = ref[name]
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), c,
               f"search.hv_reference.{name}", "use a number", value)
    if uses_hardware(c):
        _check(bool(c.hardware.model), c, "hardware.model",
               "name a cost model for the hardware metrics in objectives/constraints", "")


def hardware_metrics() -> dict[str, str]:
    """Hardware metric -> "min"/"max" (empty if the hardware package is missing)."""
    try:
        from evoapproxnas.hardware import METRIC_DIRECTIONS
    except ImportError:
        return {}
    return dict(METRIC_DIRECTIONS)


def metric_names() -> list[str]:
    """Metrics objectives and constraints may name (built-in, then hardware)."""
    return list(BUILTIN_METRICS) + [m for m in hardware_metrics() if m not in BUILTIN_METRICS]


def metric_direction(name: str) -> str:
    return "min" if name in BUILTIN_METRICS else hardware_metrics().get(name, "min")


def uses_hardware(c: CampaignConfig) -> bool:
    names = set(c.search.objectives) | {con.metric for con in c.parsed_constraints}
    return bool(names - set(BUILTIN_METRICS))
