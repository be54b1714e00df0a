"""The assignment space (``[space] kind = "assignment"``): one multiplier gene per multiplying
layer of a fixed, trained Keras model (ALWANN, Mrazek et al., ICCAD 2019).

A candidate is a flat vector of multiplier genes, one per approximate layer of the converted
model in layer order (without the classifier's with ``space.exact_head``); gene ``g`` is the
``g``-th allowed multiplier. The network never changes: decoding gives the layer graph of
``cgp.decode`` whose nodes carry the model's real primitive layers (``primitives``: shapes,
kernels, strides as ``approx.convert.describe`` reads them from the model), so pricing,
parameter counts and the hardware cost models see the real network.

The spec is read from the model file (``space.model``, relative to the config file) the first
time a process asks (TensorFlow is imported then, lazily) and kept for the process.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.search.spaces.redraw import Redrawing
from evoapproxnas.search.spaces.registry import Decision, register_space

MODEL_FILE = "network.keras"
"""Name of the model's copy in a run directory (``space.model`` of its config.json)."""
SENSITIVITY_FILE = "sensitivity.json"
"""Name of the sensitivity map's copy in a run directory (``space.sensitivity``)."""


@dataclass(frozen=True)
class Guide:
    """A per-layer sensitivity map in gene order: ``drops[g][j]`` is the accuracy drop when
    gene ``g``'s layer alone takes the ``j``-th allowed multiplier (``nan``: not measured),
    ``power[j]`` that multiplier's relative power (``nan``: not in the map)."""

    drops: tuple
    power: tuple

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A tolerance drawn uniformly from the map's distinct drops, then on every layer the
        cheapest measured multiplier whose drop is within it (the least harmful one where
        none is); ties in power go to the smaller drop, then the lower gene."""
        drops = np.asarray(self.drops, dtype=float)
        power = np.asarray(self.power, dtype=float)
        levels = np.unique(drops[np.isfinite(drops)])
        tolerance = levels[rng.integers(len(levels))]
        genes = np.empty(len(drops), dtype=np.int64)
        for g, row in enumerate(drops):
            measured = np.flatnonzero(np.isfinite(row))
            within = measured[row[measured] <= tolerance]
            if len(within) == 0:
                genes[g] = measured[np.argmin(row[measured])]
                continue
            genes[g] = within[np.lexsort((within, row[within], power[within]))[0]]
        return genes


@dataclass(frozen=True)
class AssignmentSpec:
    """The fixed network: its model file, its multiplying layers (``describe``'s dicts), the
    allowed multiplier count and whether the last layer stays exact."""

    model: str
    layers: tuple
    n_multipliers: int
    exact_head: bool = False
    fingerprint: str = ""
    """sha256 of the model file (12 hex digits): a candidate's key includes it."""
    uniform_share: float = 0.0
    """Share of samples that put one multiplier on every layer (``space.uniform_share``)."""
    guide: Guide | None = None
    """The sensitivity guide of ``space.sensitivity`` (``None``: none)."""
    guided_share: float = 0.0
    """Share of samples drawn by ``guide`` (``space.sensitivity_share``)."""

    @property
    def genes(self) -> int:
        return len(self.layers) - (1 if self.exact_head else 0)


_DESCRIBED: dict[tuple, tuple] = {}


def beside_config(cfg, text: str) -> Path:
    """The path ``text`` of a ``[space]`` key resolved against the folder of the config
    file (as given where the config came from no file)."""
    path = Path(text)
    if not path.is_absolute() and cfg.source and not cfg.source.startswith("<"):
        path = Path(cfg.source).parent / path
    return path


def model_path(cfg) -> Path:
    """``space.model`` resolved against the folder of the config file."""
    if not cfg.space.model:
        raise UserError(f"{cfg.source}: space.kind = 'assignment' needs space.model, the "
                        "trained Keras model (.keras) whose layers take the multipliers")
    return beside_config(cfg, cfg.space.model)


def sidecar(path: Path) -> Path:
    """The description of the model in ``path`` kept next to it (a run directory's copy has
    one): ``<name>.layers.json``, read without TensorFlow."""
    return path.with_name(path.name + ".layers.json")


def describe_file(path: Path) -> tuple[list[dict], str]:
    """``approx.convert.describe`` of the model in ``path`` and the file's fingerprint: from
    its sidecar when that is of this very file, else from the model (TensorFlow; cached per
    process by path, size and modification time)."""
    try:
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        raise UserError(f"space.model {str(path)!r} does not exist; give a .keras file") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DESCRIBED:
        try:
            kept = json.loads(sidecar(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and kept.get("sha256") == digest and isinstance(
                kept.get("layers"), list):
            _DESCRIBED[key] = (kept["layers"], digest)
        else:
            _DESCRIBED[key] = (_describe_model(path), digest)
    layers, digest = _DESCRIBED[key]
    return [dict(item) for item in layers], digest


def _describe_model(path: Path) -> list[dict]:
    from evoapproxnas.approx.convert import describe, load_model
    from evoapproxnas.approx.layers import approx_layers

    model = load_model(path)
    if not approx_layers(model):
        raise UserError(f"{path}: the model has no approximate layers; convert it first "
                        "(evoapproxnas approximate MODEL.keras --out OUT.keras)")
    return json.loads(json.dumps(describe(model)))


def copy_model(cfg, folder: Path) -> str:
    """Copy the model of ``cfg`` into ``folder`` (a new run directory) with its sidecar, so
    that the run reads its layers without TensorFlow; returns the copy's name."""
    import shutil

    source = model_path(cfg)
    layers, digest = describe_file(source)
    shutil.copyfile(source, folder / MODEL_FILE)
    sidecar(folder / MODEL_FILE).write_text(json.dumps({"sha256": digest, "layers": layers}),
                                            encoding="utf-8")
    return MODEL_FILE


def make_assignment_spec(cfg, multipliers: list) -> AssignmentSpec:
    """The campaign's assignment spec: the model's layers and the allowed multipliers."""
    path = model_path(cfg)
    layers, digest = describe_file(path)
    if cfg.space.exact_head and len(layers) < 2:
        raise UserError(f"{cfg.source}: space.exact_head leaves {path} without a layer to "
                        "assign (it has one multiplying layer)")
    spec = AssignmentSpec(str(path), tuple(layers), len(multipliers), cfg.space.exact_head,
                          digest, float(cfg.space.uniform_share))
    if not cfg.space.sensitivity:
        return spec
    guide = read_guide(sensitivity_path(cfg), [m.name for m in multipliers],
                       [item["name"] for item in layers[: spec.genes]])
    return replace(spec, guide=guide, guided_share=float(cfg.space.sensitivity_share))


def sensitivity_path(cfg) -> Path:
    """``space.sensitivity`` resolved against the folder of the config file."""
    return beside_config(cfg, cfg.space.sensitivity)


def read_guide(path: Path, multipliers: list[str], layers: list[str]) -> Guide:
    """The ``Guide`` of the sensitivity map in ``path`` for these allowed multipliers and
    gene layers; ``UserError`` (one line) when the file is missing, malformed or measured
    on other layers."""
    fix = ("measure it on this model: evoapproxnas sensitivity MODEL.keras --library NAME "
           "--out DIR, then space.sensitivity = \"DIR/sensitivity.json\"")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"space.sensitivity {str(path)!r} cannot be read "
                        f"({exc.strerror or exc}); {fix}") from None
    except ValueError:
        raise UserError(f"space.sensitivity {str(path)!r} is not JSON; {fix}") from None
    try:
        names, powers = list(data["multipliers"]), [float(p) for p in data["power_rel"]]
        accuracy = np.asarray(data["accuracy"], dtype=float)
        base = float(data["base_accuracy"])
        measured = list(data["layers"])
        if accuracy.shape != (len(measured), len(names)) or len(powers) != len(names):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise UserError(f"space.sensitivity {str(path)!r} is not a sensitivity map (layers, "
                        f"multipliers, power_rel, base_accuracy, accuracy); {fix}") from None
    missing = [name for name in layers if name not in measured]
    if missing:
        raise UserError(f"space.sensitivity {str(path)!r} has no row for layer "
                        f"{missing[0]!r} of the model; {fix}")
    columns = {name: j for j, name in enumerate(names)}
    if not any(name in columns for name in multipliers):
        raise UserError(f"space.sensitivity {str(path)!r} measured none of the allowed "
                        f"multipliers ({', '.join(multipliers[:3])}, ...); {fix}")
    drops = [[base - accuracy[measured.index(layer), columns[m]] if m in columns else math.nan
              for m in multipliers] for layer in layers]
    power = [powers[columns[m]] if m in columns else math.nan for m in multipliers]
    return Guide(tuple(tuple(row) for row in drops), tuple(power))


def copy_sensitivity(cfg, folder: Path) -> str:
    """Copy the sensitivity map of ``cfg`` into ``folder`` (a new run directory); returns
    the copy's name."""
    import shutil

    shutil.copyfile(sensitivity_path(cfg), folder / SENSITIVITY_FILE)
    return SENSITIVITY_FILE


@register_space("assignment")
class AssignmentSpace(Redrawing):
    """Multiplier genes of the fixed network of an ``AssignmentSpec`` (module docstring):
    sampled uniformly (a ``uniform_share`` of the samples one multiplier on every layer, a
    ``guided_share`` drawn by the sensitivity guide), mutated by changing each gene with
    probability 1 / genes (at least one), keyed by the model's fingerprint and the genes."""

    make_spec = staticmethod(make_assignment_spec)

    def __init__(self, spec: AssignmentSpec, input_shape=None,
                 n_classes: int | None = None) -> None:
        self.spec = spec
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.n_classes = n_classes
        self.n_var = spec.genes
        self.lower = np.zeros(self.n_var)
        self.upper = np.full(self.n_var, float(spec.n_multipliers - 1))
        self.feasible = None
        self.rejected: list[np.ndarray] = []

    @property
    def n_multipliers(self) -> int:
        return self.spec.n_multipliers

    @property
    def layer_names(self) -> list[str]:
        """The names of the layers the genes assign, in gene order."""
        return [item["name"] for item in self.spec.layers[: self.n_var]]

    def validate(self, x) -> np.ndarray:
        """``x`` as int64; ``ValueError`` naming the first bad gene."""
        array = np.asarray(x)
        if array.ndim != 1 or len(array) != self.n_var:
            raise ValueError(f"candidate must be {self.n_var} genes, got shape {array.shape}")
        if array.dtype.kind not in "iu":
            raise ValueError(f"candidate must contain integers only, got dtype {array.dtype}")
        array = array.astype(np.int64)
        bad = np.flatnonzero((array < 0) | (array >= self.n_multipliers))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"gene {i} = {array[i]} is outside 0..{self.n_multipliers - 1}")
        return array

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Genes drawn independently, or with probability ``spec.uniform_share`` one
        multiplier for every layer, or with probability ``spec.guided_share`` by the
        sensitivity guide (no extra draw when both are 0, so earlier seeds give the same
        candidates)."""
        share = self.spec.uniform_share  # the class default for specs pickled before it
        guide, guided = self.spec.guide, self.spec.guided_share

        def draw() -> np.ndarray:
            if share or (guide is not None and guided):
                u = rng.random()
                if u < share:
                    return np.full(self.n_var, rng.integers(0, self.n_multipliers), np.int64)
                if guide is not None and u < share + guided:
                    return guide.sample(rng)
            return rng.integers(0, self.n_multipliers, self.n_var)

        return self.redrawn(draw)

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        parent = self.validate(x)

        def draw() -> np.ndarray:
            child = parent.copy()
            if self.n_multipliers < 2:
                return child
            hit = rng.random(self.n_var) < 1.0 / self.n_var
            hit[rng.integers(self.n_var)] = True
            for i in np.flatnonzero(hit):
                child[i] = (child[i] + rng.integers(1, self.n_multipliers)) % self.n_multipliers
            return child

        return self.redrawn(draw)

    def key(self, x: np.ndarray) -> str:
        genes = ",".join(str(int(g)) for g in self.validate(x))
        text = f"{self.spec.fingerprint}:{self.spec.exact_head}:{genes}"
        return "a" + hashlib.sha256(text.encode()).hexdigest()[:15]

    def network_key(self, x: np.ndarray) -> str:
        """Every candidate is the same network (its weights are the model's)."""
        return "a" + self.spec.fingerprint

    def priced_with(self, x: np.ndarray, gene: int) -> np.ndarray:
        """``x`` with multiplier gene ``gene`` on every layer."""
        return np.full(self.n_var, int(gene), dtype=np.int64)

    def decisions(self) -> list[Decision]:
        return [Decision(f"{name}.multiplier", self.n_multipliers)
                for name in self.layer_names]

    def compose(self, options) -> np.ndarray:
        return self.validate(np.asarray(options, dtype=np.int64))

    def assignment(self, x) -> dict:
        """``layer name -> gene`` of candidate ``x`` (``None``: the exact head)."""
        genes = [int(g) for g in self.validate(x)]
        out = dict(zip(self.layer_names, genes, strict=True))
        if self.spec.exact_head:
            out[self.spec.layers[-1]["name"]] = None
        return out

    def decode(self, x):
        """The fixed network with the genes of ``x``, in the format of ``cgp.decode``: a
        chain of one node per multiplying layer, each carrying its real primitive."""
        from evoapproxnas.cgp.decode import new_graph

        if self.input_shape is None or self.n_classes is None:
            raise ValueError("AssignmentSpace.decode needs the input shape and the class count")
        genes = self.assignment(x)
        graph = new_graph(self.input_shape, self.n_classes)
        last = "input"
        for item in self.spec.layers:
            primitive = {**item, "input_shape": tuple(item["input_shape"]),
                         "output_shape": tuple(item["output_shape"]),
                         "kernel": tuple(item["kernel"]), "strides": tuple(item["strides"]),
                         "multiplier": genes[item["name"]], "activation": None}
            name = item["name"]
            graph.add_node(name, op=item["kind"], params={}, multiplier=primitive["multiplier"],
                           input_shapes=[primitive["input_shape"]],
                           output_shape=primitive["output_shape"], inputs=[last], repairs=[],
                           primitives=[primitive])
            graph.add_edge(last, name, port=0, ports=[0])
            last = name
        graph.graph["genome_hash"] = self.key(x)
        return graph
