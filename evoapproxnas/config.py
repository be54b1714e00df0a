"""Campaign configuration: a TOML file validated into frozen dataclasses.

One vocabulary: each section parses straight into the type its package consumes
(``[training]`` -> ``nn.TrainBudget``, ``[cgp]`` -> ``cgp.CGPSpec``, ``[hardware]`` ->
``hardware.HardwareConfig``); the campaign's own sections are defined here. Every error
names the file, the key and what is allowed. ``--set section.key=value``
overrides (values parsed as TOML, bare words as strings) are applied before validation.
A run directory stores the resolved config as JSON (``config.json``); ``load_config`` reads
both forms. No TensorFlow here.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import re
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION, check_weight_quantization
from evoapproxnas.cgp.spec import CGPSpec
from evoapproxnas.data import DATASETS, synthetic_arrays
from evoapproxnas.errors import UserError, closest_names
from evoapproxnas.hardware.campaign import HardwareConfig
from evoapproxnas.hardware.config import MODELS
from evoapproxnas.metrics import (
    DEFAULT_HV_REFERENCE,
    Constraint,
    cheap_names,
    is_hardware,
    names,
    parse_constraint,
)
from evoapproxnas.nn.budget import TrainBudget
from evoapproxnas.overrides import parse_override
from evoapproxnas.paths import check_path, path_problem
from evoapproxnas.search.engines import engine_names
from evoapproxnas.search.engines.dance import DanceConfig
from evoapproxnas.search.engines.reinforce import ControllerConfig
from evoapproxnas.search.spaces import space_names
from evoapproxnas.search.spaces.layers import LayerSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EXECUTORS = ("process", "dask")
MODES = ("generational", "asynchronous")
INT_LIMIT = 2**63
"""Integers of a config are 64-bit (as TOML's): ``-2**63 <= value < 2**63``."""
ELEMENT_TYPES = {"cgp.functions": str, "multipliers.allowed": str, "search.objectives": str,
                 "search.constraints": str, "fidelity.rungs": int, "debug.fail_hashes": str,
                 "space.kernel_sizes": int, "space.filters": int, "space.strides": int,
                 "dance.pool_after": int, "dance.ops": str}
"""The type of every element of a list-valued key."""
SYNTHETIC_OPTIONS = {"n_train": (int, 2, 10**7), "n_test": (int, 1, 10**7),
                     "image_size": (int, 4, 1024), "channels": (int, 1, 16),
                     "n_classes": (int, 2, 8), "noise": (float, 0.0, 10.0)}
"""``data.synthetic`` options: type, smallest and largest value (``data.synthetic_arrays``)."""
SYNTHETIC_MAX_VALUES = 1 << 28
"""Largest ``(n_train + n_test) x image_size^2 x channels`` of a synthetic dataset (2 GiB of
float64 while it is generated)."""


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: which dataset, from where, and how much of it is held out for validation."""

    name: str = "fashion_mnist"
    """Dataset: "fashion_mnist" (IDX files), "cifar10" (python batches; needs ``dir``) or
    "synthetic" (generated, for tests)."""
    dir: str = ""
    """Folder with the dataset files ("" = the dataset's default location)."""
    val_fraction: float = 0.1
    """Share of the training images held out (seeded) for validation, in (0, 1); the test
    set is kept apart for the final front."""
    synthetic: dict = field(default_factory=dict)
    """Options of the synthetic generator (n_train, n_test, image_size, n_classes, ...)."""


@dataclass(frozen=True)
class MultipliersConfig:
    """``[multipliers]``: the library and the multipliers the genes may choose."""

    library: str = "evoapproxlib8u"
    """Multiplier library: a bundled one's name (``evoapproxnas multipliers list``) or the
    path of a library folder (``library.json`` + ``tables.npz``)."""
    allowed: tuple = ()
    """Names of the multipliers the search may assign ([] or ["all"] = the whole library)."""
    weight_quantization: str = DEFAULT_WEIGHT_QUANTIZATION
    """Weights of every approximate layer: "per_tensor" (one scale and zero point per layer)
    or "per_channel" (one per output channel); N bits for an 8xN multiplier either way."""

    def __post_init__(self) -> None:
        check_weight_quantization(self.weight_quantization, "multipliers.weight_quantization")


@dataclass(frozen=True)
class SearchConfig:
    """``[search]``: engine, budget, seed, objectives, constraints and the time budget."""

    engine: str = "pymoo"
    """Search engine: "pymoo" (NSGA-II), "deap" (DEAP's NSGA-II) or "random" (random search)."""
    population: int = 8
    """Candidates per generation (at least 2)."""
    generations: int = 5
    """Evaluated batches including the initial population (budget = population x generations)."""
    seed: int = 1
    """Seed of the run: the engine's random state, the validation split and every candidate's
    training seed derive from it (same seed, same candidates and front on one machine type)."""
    objectives: tuple = ("error", "power_rel", "params")
    """Metrics the search optimizes (at least two, each in its own direction): "error",
    "power_rel", "power_mw", "params", "multiplications" and the metrics of the
    ``[hardware]`` cost model (e.g. "edap", "fps"); the table of metrics is in
    docs/campaigns.md ("Metrics")."""
    constraints: tuple = ()
    """Constraints ``"METRIC <= NUMBER"`` or ``"METRIC >= NUMBER"`` on metrics known before
    training (every objective metric but "error"), e.g. "params <= 200000": a candidate
    that breaks one is re-drawn or recorded infeasible, never trained."""
    min_accuracy: float = 0.0
    """Accuracy floor: a trained candidate whose validation accuracy (at the fidelity it
    reached) is below it is infeasible, with violation ``(min_accuracy - accuracy) /
    min_accuracy``; NSGA-II ranks it behind every candidate that meets the floor, successive
    halving promotes it last, and fronts leave it out. 0: off."""
    hv_reference: dict = field(default_factory=dict)
    """Reference point per objective for the hypervolume (defaults: DEFAULT_HV_REFERENCE)."""
    mode: str = "generational"
    """"generational" (NSGA-II generation by generation) or "asynchronous" (steady state: a
    new candidate whenever a worker frees up; needs ``executor.kind = "dask"``)."""
    time_budget_s: float = 0.0
    """Wall-clock budget of the run in seconds (generational mode;
    ``search.policies.termination``): a generation after the first starts only if, by the mean length of the generations
    done, it and the final re-pricing still end within the budget; otherwise the search
    ends there (the re-pricing and the test set follow). On a slower machine a run then has
    fewer generations, the first ones of the same run on a faster one. 0: off."""
    predictor: str = "none"
    """Learned accuracy predictor choosing which offspring to train (generational mode;
    ``search.engines.assisted``): "none", "forest" (a random forest) or "ridge" (a ridge
    regression), fitted on the archive every generation; the engine then asks
    ``population x predictor_pool`` offspring and the ``population`` best by predicted
    error and the exact cheap objectives are trained."""
    predictor_pool: int = 4
    """Offspring asked per trained candidate when ``predictor`` is on (at least 2)."""
    predictor_random: int = 2
    """Of the ``population`` candidates a predictor-assisted generation trains, how many
    are drawn at random from the offspring instead of by prediction (exploration; 0 ..
    population - 1)."""


@dataclass(frozen=True)
class FidelityConfig:
    """``[fidelity]``: how much training each candidate gets (successive halving, weight
    inheritance, the final re-pricing); generational mode."""

    rungs: tuple = ()
    """Successive halving (generational mode): training epochs of the lower-fidelity rungs,
    increasing and below ``training.epochs`` (the last rung). Every feasible candidate of a
    generation trains for ``rungs[0]`` epochs; the best ``1/eta`` of each rung continue to the
    next (``search.policies.halving.promote``), training on from their weights of the rung below.
    Empty: every candidate gets the full budget."""
    eta: int = 3
    """Successive halving: each rung keeps ``ceil(n / eta)`` of its ``n`` trained candidates."""
    inherit_epochs: int = 0
    """Weight inheritance (generational mode): a new candidate whose network, multipliers
    aside, an earlier generation already trained at the full budget starts from the weights
    of the most accurate such candidate (by validation accuracy with the exact multiplier)
    and trains this many epochs through its own tables instead of the full budget (and the
    rungs). 0: off, every candidate trains from scratch."""
    final_repricing: int = 0
    """After the last generation, the ``final_repricing`` most accurate networks trained at
    the full budget (distinct networks, by validation accuracy) are re-priced with every
    allowed multiplier (``cgp.priced_with``: one multiplier on every multiplier gene) and
    evaluated as one more batch (with ``inherit_epochs``, fine-tuned from their own weights).
    0: off."""
    final_repricing_epochs: int = 0
    """Epochs of each fine-tuning of the final re-pricing (from the network's own weights,
    through the new multiplier's tables); 0: ``inherit_epochs``, like every heir."""


@dataclass(frozen=True)
class ExecutorConfig:
    """``[executor]``: where and how candidates train: local processes or Dask, how many at
    once, time limit and retries."""

    kind: str = "process"
    """Where candidates train: "process" (local worker processes) or "dask" (a cluster)."""
    workers: int = 2
    """Candidates trained at once: local worker processes, or the processes of a local Dask
    cluster; TensorFlow in each worker gets its share of the cores."""
    time_limit_s: float = 600.0
    """Seconds one candidate's training and evaluation may take; past it the candidate is
    recorded failed (a worker that does not stop is ended 120 s later)."""
    scheduler: str = "local"
    """With kind "dask": "tcp://HOST:8786" (a running scheduler) or "local" (a
    LocalCluster of ``workers`` processes on this machine)."""
    retries: int = 2
    """Dask: how many worker deaths one candidate may cause before it is recorded failed."""
    resources: dict = field(default_factory=dict)
    """Dask: resources each candidate needs on its worker, e.g. { GPU = 1 }."""


@dataclass(frozen=True)
class SpaceConfig:
    """``[space]``: which search space candidates come from (``search.spaces``), and the
    layer-list space's choices (docs/coexploration.md)."""

    kind: str = "cgp"
    """Search space: "cgp" (CGP genomes of the ``[cgp]`` section), "layers" (a chain of
    conv layers: per layer kernel size, filters, stride, optional pooling, multiplier) or
    "assignment" (a multiplier per layer of the trained ``model``, docs/byo.md)."""
    min_layers: int = 2
    """Layer list: fewest conv layers of a network (1..64)."""
    max_layers: int = 6
    """Layer list: most conv layers of a network (min_layers..64; equal to min_layers: a
    fixed depth)."""
    kernel_sizes: tuple = (1, 3, 5, 7)
    """Layer list: kernel sizes a layer may take (distinct integers 1..15)."""
    filters: tuple = (24, 36, 48, 64)
    """Layer list: filter counts a layer may take (distinct integers 1..4096)."""
    strides: tuple = (1, 2)
    """Layer list: strides a layer may take ([1], [2] or [1, 2]); a stride 2 on a map
    smaller than 2x2 is 1."""
    pooling: bool = True
    """Layer list: each layer has a gene for a 2x2 max-pooling (stride 2) after it; false:
    no pooling."""
    multipliers: str = "per_layer"
    """Layer list: "per_layer" (a multiplier gene per conv layer) or "shared" (one gene for
    all of them); the classifier's dense layer uses the library's exact multiplier."""
    architecture: tuple = ()
    """Layer list: a fixed architecture, one ``[kernel, filters, stride, pool]`` per layer
    (pool 0 or 1), e.g. ``[[3, 16, 1, 1], [5, 24, 2, 0]]``: only the multipliers and bit
    widths are searched (Lu et al.'s quantization search); empty (default): searched."""
    activation_bits: tuple = ()
    """Layer list and CGP: activation widths a layer (a multiplying CGP node) may take
    (distinct integers 2..8; the width of the layer's input, docs/quantization.md); empty
    (default): 8 bits, no decision."""
    weight_bits: tuple = ()
    """Layer list and CGP: weight widths a layer may take (distinct integers 2..8); the
    multiplier gene selects one, i.e. the exact 8xW multiplier of ``[multipliers] allowed``;
    empty (default): the multiplier gene as before."""
    fixed_point: bool = False
    """Layer list and CGP: fixed point with a searched binary point per layer (Lu et al.'s
    ``Af``, ``Wf``; needs ``weight_bits``); false (default): range-scaled codes."""
    activation_frac_bits: tuple = (0, 1, 2, 3, 4, 5, 6)
    """Layer list and CGP, ``fixed_point``: fractional activation bits a layer may take
    (0..8; a value above the layer's width is its width)."""
    weight_frac_bits: tuple = (0, 1, 2, 3, 4, 5, 6)
    """Layer list and CGP, ``fixed_point``: fractional weight bits a layer may take (0..8;
    a value above the layer's width is its width)."""
    model: str = ""
    """Assignment (``kind = "assignment"``): the trained Keras model (.keras, relative to the
    config file) whose multiplying layers get one multiplier gene each (docs/byo.md); the
    run directory keeps a copy."""
    fine_tune: bool = False
    """Assignment: fine-tune every candidate for ``training.table_epochs`` epochs through its
    tables before measuring it; false (default): no retraining, the trained weights as they
    are (ALWANN)."""
    exact_head: bool = False
    """Assignment: the last multiplying layer (the classifier) keeps the library's exact
    multiplier and has no gene."""
    uniform_share: float = 0.0
    """Assignment: the share (0..1) of sampled candidates (the initial population, random
    search's draws) that put one multiplier, drawn uniformly, on every layer; 0 (default):
    every gene drawn independently."""
    sensitivity: str = ""
    """Assignment: a per-layer sensitivity map of the same model (the ``sensitivity.json``
    that ``evoapproxnas sensitivity`` writes, relative to the config file) that guides a
    ``sensitivity_share`` of the sampled candidates: a tolerance drawn from the map's drops,
    then on every layer the cheapest multiplier whose drop on that layer alone is within it;
    empty (default): no guide. The run directory keeps a copy."""
    sensitivity_share: float = 0.5
    """Assignment with ``sensitivity``: the share (0..1) of sampled candidates drawn by the
    guide; ``uniform_share + sensitivity_share`` is at most 1."""

    def __post_init__(self) -> None:
        kinds = space_names()
        if self.kind not in kinds:
            raise UserError(f"space.kind = {self.kind!r} is not allowed; use one of "
                            f"{', '.join(kinds)}{closest_names(str(self.kind), kinds)}")
        for key in ("uniform_share", "sensitivity_share"):
            share = getattr(self, key)
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not (
                    0 <= share <= 1):
                raise UserError(f"space.{key} = {share!r} is not allowed; use a number "
                                "from 0 to 1")
        if self.sensitivity and self.uniform_share + self.sensitivity_share > 1 + 1e-12:
            raise UserError(f"space.uniform_share ({self.uniform_share}) + "
                            f"space.sensitivity_share ({self.sensitivity_share}) is above 1; "
                            "lower one of them (together they are a share of the samples)")
        if self.sensitivity and self.kind != "assignment":
            raise UserError(f"space.sensitivity is for kind = 'assignment' (a trained model's "
                            f"layers), not {self.kind!r}; remove it")
        LayerSpec.of(self)  # the layer-list keys, whatever the kind (one line each)


@dataclass(frozen=True)
class DebugConfig:
    """``[debug]``: fault injection for tests of the campaign machinery."""

    fail_fraction: float = 0.0
    """Candidates whose hash falls in this fraction make their worker process crash (tests)."""
    fail_hashes: tuple = ()
    """Candidate hashes that make their worker process crash (tests)."""
    die_once_fraction: float = 0.0
    """Candidates in this fraction kill their worker the first time they run (tests retries)."""


SECTIONS = {
    "data": DataConfig, "training": TrainBudget, "cgp": CGPSpec,
    "multipliers": MultipliersConfig, "search": SearchConfig, "fidelity": FidelityConfig,
    "executor": ExecutorConfig, "hardware": HardwareConfig, "debug": DebugConfig,
    "space": SpaceConfig, "controller": ControllerConfig, "dance": DanceConfig,
}

MOVED_KEYS = {
    "search.rungs": "fidelity.rungs", "search.eta": "fidelity.eta",
    "search.inherit_epochs": "fidelity.inherit_epochs",
    "search.final_repricing": "fidelity.final_repricing",
    "search.final_repricing_epochs": "fidelity.final_repricing_epochs",
    "search.executor": "executor.kind", "search.workers": "executor.workers",
    "search.time_limit_s": "executor.time_limit_s", "search.scheduler": "executor.scheduler",
    "search.retries": "executor.retries", "search.resources": "executor.resources",
}
"""Keys of earlier versions' ``[search]`` and where they live now: still read (a run
directory's ``config.json`` silently, a user's file with one deprecation line)."""


class ConfigDeprecationWarning(FutureWarning):
    """A config uses a key of an earlier version (``MOVED_KEYS``); the CLI prints it as one
    line."""


HIDDEN_KEYS = {"cgp": ("n_multipliers", "multiplier_order", "activation_bits", "weight_bits",
                       "fixed_point", "activation_frac_bits", "weight_frac_bits",
                       "weight_genes")}
"""Fields a campaign derives instead of reading (the multiplier count from the allowed set,
the bit-width choices from ``[space]``)."""


@dataclass(frozen=True)
class CampaignConfig:
    """A whole validated campaign; ``source`` names the file it came from (for errors)."""

    data: DataConfig
    training: TrainBudget
    cgp: CGPSpec
    multipliers: MultipliersConfig
    search: SearchConfig
    fidelity: FidelityConfig
    executor: ExecutorConfig
    hardware: HardwareConfig
    debug: DebugConfig
    space: SpaceConfig = SpaceConfig()
    controller: ControllerConfig = ControllerConfig()
    dance: DanceConfig = DanceConfig()
    source: str = ""

    @property
    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(parse_constraint(c, self.source) for c in self.search.constraints)

    def hv_reference(self) -> list[float]:
        ref = {**DEFAULT_HV_REFERENCE, **self.search.hv_reference}
        return [float(ref[name]) for name in self.search.objectives]

    def to_dict(self) -> dict:
        """Plain JSON-able sections (what ``config.json`` of a run directory holds)."""
        out = {}
        for name in SECTIONS:
            table = asdict(getattr(self, name))
            for key in HIDDEN_KEYS.get(name, ()):
                table.pop(key, None)
            out[name] = table
        return json.loads(json.dumps(out))


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of the raw config with ``--set section.key=value`` overrides applied."""
    raw = copy.deepcopy(raw)
    if overrides and not isinstance(raw, dict):
        raise UserError(f"the config must be a table of sections, got {type(raw).__name__}; "
                        "--set cannot apply to it")
    for text in overrides or []:
        path, value = parse_override(text, form="section.key", min_parts=2,
                                     example="search.population=4")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {text!r}: {part} is not a table")
        node[path[-1]] = value
    return raw


def read_raw(path: str | Path) -> dict:
    path = check_path(path, "config file")
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
        except RecursionError:
            raise UserError(f"{path}: not a config (nested too deep)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: malformed TOML: {exc}; fix the syntax") from None
    except RecursionError:
        raise UserError(f"{path}: not a config (nested too deep)") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """Read, override and validate a campaign file (TOML, or a run's ``config.json``)."""
    raw = read_raw(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the config must be a table of sections, got "
                        f"{type(raw).__name__}")
    raw, moved = move_legacy_keys(apply_overrides(raw, overrides or []), str(path))
    if moved:
        renames = ", ".join(f"{key} -> {MOVED_KEYS[key]}" for key in moved)
        warnings.warn(f"{path}: keys of [search] that now have their own sections, read in "
                      f"their new places this time; rename them: {renames}",
                      ConfigDeprecationWarning, stacklevel=2)
    return config_from_dict(raw, str(path))


def move_legacy_keys(raw: dict, source: str = "<config>") -> tuple[dict, list[str]]:
    """A copy of ``raw`` with the keys of ``MOVED_KEYS`` moved to their sections, and the
    old names that were moved. A key given in both places is a ``UserError``."""
    search = raw.get("search")
    if not isinstance(search, dict) or not any(
            f"search.{key}" in MOVED_KEYS for key in search):
        return raw, []
    raw = copy.deepcopy(raw)
    moved = []
    for old, new in MOVED_KEYS.items():
        key = old.split(".", 1)[1]
        if key not in raw["search"]:
            continue
        section, new_key = new.split(".", 1)
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise UserError(f"{source}: [{section}] must be a table, got {table!r}")
        if new_key in table:
            raise UserError(f"{source}: {old} and {new} are both given; keep {new} only "
                            f"({old} is its old name)")
        table[new_key] = raw["search"].pop(key)
        moved.append(old)
    return raw, moved


def config_from_dict(raw: dict, source: str = "<config>") -> CampaignConfig:
    """Validate a raw config (sections of plain values); earlier versions' keys
    (``MOVED_KEYS``) are read in their new places."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the config must be a table of sections")
    raw, _ = move_legacy_keys(raw, source)
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
    hidden = HIDDEN_KEYS.get(name, ())
    known = {f.name: f for f in fields(cls) if f.name not in hidden}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise UserError(f"{source}: unknown key {name}.{key}{closest_names(key, known)}; "
                            f"allowed keys of [{name}]: {', '.join(known)}")
        default = (known[key].default if not callable(known[key].default_factory)
                   else known[key].default_factory())
        values[key] = _coerce(source, f"{name}.{key}", value, default)
        if isinstance(default, tuple) and default and not values[key]:
            del values[key]  # an empty list means the default (e.g. cgp.functions = [])
    try:
        return cls(**values)
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None


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
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise UserError(f"{where} = {value} is too large; integers are 64-bit")
        return value
    if kind is float:
        number = _finite(value)
        if number is None:
            what = "a number" if isinstance(value, bool) or not isinstance(
                value, (int, float)) else "a finite number"
            raise UserError(f"{where} must be {what}, got {value!r}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        return value
    if kind is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        element = ELEMENT_TYPES.get(key)
        for item in value:
            if element is str and not isinstance(item, str):
                raise UserError(f"{where} must be a list of strings, got {value!r}")
            if element is int and (isinstance(item, bool) or not isinstance(item, int)
                                   or not -INT_LIMIT <= item < INT_LIMIT):
                raise UserError(f"{where} must be a list of integers, got {value!r}")
        return tuple(value)
    if kind is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a table, got {value!r}")
        return value
    return value


def _finite(value) -> float | None:
    """``value`` as a finite float, or ``None`` if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def _check(cond: bool, config: CampaignConfig, key: str, allowed: str, value) -> None:
    if not cond:
        raise UserError(f"{config.source}: {key} = {value!r} is not allowed; {allowed}")


def _validate(c: CampaignConfig) -> None:
    d, s, f, x = c.data, c.search, c.fidelity, c.executor
    _check(d.name in DATASETS, c, "data.name", f"use one of {', '.join(DATASETS)}"
           f"{closest_names(d.name, DATASETS)}", d.name)
    _check(0 < d.val_fraction < 1, c, "data.val_fraction", "use a number in (0, 1)",
           d.val_fraction)
    _check_synthetic(c)
    for key, text in (("data.dir", d.dir), ("multipliers.library", c.multipliers.library),
                      ("hardware.preset", c.hardware.preset),
                      ("hardware.evaluator_path", c.hardware.evaluator_path)):
        problem = path_problem(text)
        _check(problem is None, c, key, f"{problem}: give a name or a usable path",
               text if len(text) <= 60 else text[:57] + "...")
    engines = engine_names()
    _check(s.engine in engines, c, "search.engine", f"use one of {', '.join(engines)}"
           f"{closest_names(s.engine, engines)}", s.engine)
    _check(s.population >= 2, c, "search.population", "use an integer >= 2", s.population)
    _check(s.generations >= 1, c, "search.generations", "use an integer >= 1", s.generations)
    _check(x.workers >= 1, c, "executor.workers", "use an integer >= 1", x.workers)
    _check(x.kind in EXECUTORS, c, "executor.kind", f"use one of {', '.join(EXECUTORS)}"
           f"{closest_names(x.kind, EXECUTORS)}", x.kind)
    _check(s.mode in MODES, c, "search.mode", f"use one of {', '.join(MODES)}"
           f"{closest_names(s.mode, MODES)}", s.mode)
    _check(s.mode == "generational" or x.kind == "dask", c, "search.mode",
           "the asynchronous mode needs executor.kind = 'dask'", s.mode)
    _check(s.mode == "generational" or s.engine != "reinforce", c, "search.engine",
           "the REINFORCE controller learns from whole batches: use search.mode = "
           "'generational'", s.engine)
    c.dance.check_campaign(c)
    _check(x.scheduler == "local" or re.match(r"^(tcp|tls|inproc|ucx)://\S+$", x.scheduler)
           is not None, c, "executor.scheduler", "use 'local' or an address like "
           "'tcp://HOST:8786'", x.scheduler)
    _check(x.retries >= 0, c, "executor.retries", "use an integer >= 0", x.retries)
    rungs = list(f.rungs)
    _check(all(isinstance(e, int) and not isinstance(e, bool) for e in rungs)
           and all(a < b for a, b in zip([0, *rungs], [*rungs, c.training.epochs])),
           c, "fidelity.rungs", f"give increasing epoch counts below training.epochs "
           f"({c.training.epochs}), e.g. [1]", rungs)
    _check(not rungs or s.mode == "generational", c, "fidelity.rungs",
           "successive halving runs in the generational mode only", rungs)
    _check(f.eta >= 2, c, "fidelity.eta", "use an integer >= 2", f.eta)
    _check(isinstance(s.min_accuracy, (int, float)) and not isinstance(s.min_accuracy, bool)
           and 0 <= s.min_accuracy < 1, c, "search.min_accuracy",
           "use a validation accuracy from 0 (off) to below 1, e.g. 0.5", s.min_accuracy)
    _check(isinstance(f.inherit_epochs, int) and not isinstance(f.inherit_epochs, bool)
           and 0 <= f.inherit_epochs <= c.training.epochs, c, "fidelity.inherit_epochs",
           f"use an integer from 0 (off) to training.epochs ({c.training.epochs})",
           f.inherit_epochs)
    _check(not f.inherit_epochs or s.mode == "generational", c, "fidelity.inherit_epochs",
           "weight inheritance runs in the generational mode only", f.inherit_epochs)
    _check(isinstance(f.final_repricing, int) and not isinstance(f.final_repricing, bool)
           and f.final_repricing >= 0, c, "fidelity.final_repricing",
           "use an integer >= 0 (how many networks to re-price; 0: off)", f.final_repricing)
    _check(not f.final_repricing or s.mode == "generational", c, "fidelity.final_repricing",
           "the final re-pricing runs in the generational mode only", f.final_repricing)
    _check(isinstance(f.final_repricing_epochs, int)
           and not isinstance(f.final_repricing_epochs, bool)
           and 0 <= f.final_repricing_epochs <= c.training.epochs, c,
           "fidelity.final_repricing_epochs",
           f"use an integer from 0 (fidelity.inherit_epochs) to training.epochs "
           f"({c.training.epochs})", f.final_repricing_epochs)
    _check(not f.final_repricing_epochs or f.inherit_epochs, c, "fidelity.final_repricing_epochs",
           "the final re-pricing fine-tunes only with weight inheritance: set "
           "fidelity.inherit_epochs > 0", f.final_repricing_epochs)
    _check(all(_finite(v) is not None and v > 0 for v in x.resources.values()), c,
           "executor.resources", "give positive numbers, e.g. { GPU = 1 }", x.resources)
    _check(s.seed >= 0, c, "search.seed", "use an integer >= 0", s.seed)
    _check_predictor(c)
    _check(s.time_budget_s >= 0, c, "search.time_budget_s",
           "use a number of seconds >= 0 (0: no budget)", s.time_budget_s)
    _check(not s.time_budget_s or s.mode == "generational", c, "search.time_budget_s",
           "the time budget applies to the generational mode only", s.time_budget_s)
    _check(x.time_limit_s > 0, c, "executor.time_limit_s", "use a positive number of seconds",
           x.time_limit_s)
    _check(0 <= c.debug.fail_fraction <= 1, c, "debug.fail_fraction", "use a number in [0, 1]",
           c.debug.fail_fraction)
    _check(0 <= c.debug.die_once_fraction <= 1, c, "debug.die_once_fraction",
           "use a number in [0, 1]", c.debug.die_once_fraction)
    known = names()
    _check(len(s.objectives) >= 2, c, "search.objectives", "give at least two objectives",
           list(s.objectives))
    _check(len(set(s.objectives)) == len(s.objectives), c, "search.objectives",
           "name each objective once", list(s.objectives))
    for name in s.objectives:
        _check(name in known, c, "search.objectives", f"unknown metric {name!r}"
               f"{closest_names(str(name), known)}; known: {', '.join(known)}", list(s.objectives))
    cheap = cheap_names()
    for con in c.parsed_constraints:
        _check(con.metric in cheap, c, "search.constraints",
               f"unknown metric {con.metric!r}{closest_names(con.metric, cheap)}; constraints "
               f"take metrics computed before training: {', '.join(cheap)}", str(con))
    for name, value in s.hv_reference.items():
        _check(name in known, c, "search.hv_reference", f"unknown metric {name!r}"
               f"{closest_names(str(name), known)}; give a reference value per objective, "
               "e.g. { error = 1.0, fps = 0 }", dict(s.hv_reference))
        _check(_finite(value) is not None, c, f"search.hv_reference.{name}",
               "use a finite number", value)
    ref = {**DEFAULT_HV_REFERENCE, **s.hv_reference}
    for name in s.objectives:
        if name not in ref:
            raise UserError(f"{c.source}: search.objectives names {name!r} but "
                            f"search.hv_reference.{name} is not set; give its reference value "
                            f"(the hypervolume's worst point), e.g. search.hv_reference = "
                            f"{{ {name} = NUMBER }}")
    for name in c.controller.reward_weights:
        _check(name in s.objectives, c, "controller.reward_weights",
               f"give weights of search.objectives ({', '.join(s.objectives)}), unknown "
               f"{name!r}", dict(c.controller.reward_weights))
    hw = c.hardware
    _check(not hw.model or hw.model in MODELS, c, "hardware.model",
           f"use one of {', '.join(sorted(MODELS))}{closest_names(hw.model, MODELS)}, or '' "
           "(no hardware metrics)", hw.model)
    if uses_hardware(c):
        metrics = sorted({name for name in _named_metrics(c) if is_hardware(name)})
        _check(bool(hw.model), c, "hardware.model", "search.objectives/search.constraints "
               f"use hardware metrics ({', '.join(metrics)}): name the cost model that "
               f"computes them, one of {', '.join(sorted(MODELS))}", hw.model)
    _check(hw.mode in ("fixed", "inner") or uses_hardware(c), c, "hardware.mode",
           "the hardware modes 'sequential' and 'joint' price designs: name a hardware metric "
           "in search.objectives or search.constraints (e.g. 'fps')", hw.mode)


def _check_predictor(c: CampaignConfig) -> None:
    """``search.predictor`` and its pool and random slots."""
    from evoapproxnas.search.engines import ENGINES
    from evoapproxnas.search.policies.predictor import PREDICTORS

    s = c.search
    _check(s.predictor in PREDICTORS, c, "search.predictor", f"use one of "
           f"{', '.join(PREDICTORS)}{closest_names(str(s.predictor), PREDICTORS)}", s.predictor)
    if s.predictor == "none":
        return
    _check(s.mode == "generational", c, "search.predictor",
           "the predictor applies to the generational mode only", s.predictor)
    can = [name for name, cls in ENGINES.items() if hasattr(cls, "keep")]
    _check(s.engine in can, c, "search.engine", f"search.predictor needs an engine that asks "
           f"many offspring and keeps some: {', '.join(can)}", s.engine)
    _check(isinstance(s.predictor_pool, int) and s.predictor_pool >= 2, c,
           "search.predictor_pool", "use an integer >= 2", s.predictor_pool)
    _check(isinstance(s.predictor_random, int) and 0 <= s.predictor_random < s.population, c,
           "search.predictor_random", f"use an integer from 0 to {s.population - 1} (below "
           "search.population)", s.predictor_random)


def _check_synthetic(c: CampaignConfig) -> None:
    """``data.synthetic``: known options, each a number of its type within its range."""
    options = c.data.synthetic
    for name, value in options.items():
        _check(name in SYNTHETIC_OPTIONS, c, "data.synthetic", f"unknown option {name!r}"
               f"{closest_names(str(name), SYNTHETIC_OPTIONS)}; the options are "
               f"{', '.join(SYNTHETIC_OPTIONS)}", dict(options))
        kind, low, high = SYNTHETIC_OPTIONS[name]
        number = value if kind is int and isinstance(value, int) and not isinstance(
            value, bool) else _finite(value) if kind is float else None
        _check(number is not None and low <= number <= high, c, f"data.synthetic.{name}",
               f"use {'an integer' if kind is int else 'a number'} from {low} to {high}", value)
    get = {**{name: p.default for name, p in inspect.signature(
        synthetic_arrays).parameters.items()}, **options}.get
    size = (get("n_train") + get("n_test")) * get("image_size") ** 2 * get("channels")
    _check(size <= SYNTHETIC_MAX_VALUES, c, "data.synthetic",
           f"(n_train + n_test) x image_size^2 x channels = {size} values is more than "
           f"{SYNTHETIC_MAX_VALUES}; use fewer or smaller images", dict(options))


def _named_metrics(c: CampaignConfig) -> tuple[str, ...]:
    """The metrics the objectives and the constraints name."""
    return (*c.search.objectives, *(con.metric for con in c.parsed_constraints))


def uses_hardware(c: CampaignConfig) -> bool:
    """True when an objective or a constraint names a hardware metric."""
    return any(is_hardware(name) for name in _named_metrics(c))
