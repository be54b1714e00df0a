"""Training data of the learned hardware evaluator, made by our own ASIC cost model.

Random networks (convolution stacks with a dense head, each layer on a randomly drawn
multiplier) are priced by the ASIC model at every point of the accelerator grid, the
hardware search's design space: that gives the cost estimation network its (network,
accelerator) -> latency, energy, area pairs and, per network, the grid's best point for the
search metric (as ``hardware.explore.search_asic`` finds it) for the hardware generation
network. The per-layer cycles and energies are kept too. The same settings and seed give the
same dataset (bit for bit); a dataset is an ``.npz`` of arrays and a ``.json`` of its settings.
No TensorFlow.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from evoapproxnas.atomic import write_bytes, write_json
from evoapproxnas.errors import UserError
from evoapproxnas.hardware.config import get_cost_model
from evoapproxnas.hardware.explore import ASIC_GRID, search_asic
from evoapproxnas.hardware.layers import Layer, conv_layer, dense_layer
from evoapproxnas.hardware.learned.encoding import Grid, NetworkTable
from evoapproxnas.paths import check_path

FORMAT = "evoapproxnas-hw-dataset-1"
TARGETS = ("latency_cycles", "energy_pj", "area_um2")
"""The cost estimation network's targets, in column order."""


def _default_grid() -> dict:
    return {"dataflow": list(ASIC_GRID["dataflow"]),
            "array": [list(a) for a in ASIC_GRID["array"]],
            "glb_kib": list(ASIC_GRID["glb_kib"])}


@dataclass(frozen=True)
class DatasetSettings:
    """How a dataset is generated (stored beside it as JSON)."""

    seed: int = 0
    """Seed of the network sampler."""
    networks: int = 2000
    """Networks to sample; each is priced at every grid point."""
    input_sizes: tuple = (28, 32)
    """Input height = width of a network, drawn per network."""
    input_channels: tuple = (1, 3)
    """Input channels, drawn per network."""
    depth: tuple = (1, 10)
    """Smallest and largest number of convolution layers."""
    kernels: tuple = (1, 3, 5)
    """Kernel sizes of the convolutions."""
    filters: tuple = (4, 8, 16, 24, 32, 48, 64, 96, 128)
    """Output channels of the (non-depthwise) convolutions."""
    stride2_rate: float = 0.3
    """Chance that a convolution has stride 2 (while the feature map is wider than 2)."""
    depthwise_rate: float = 0.2
    """Chance that a convolution is depthwise (groups = channels)."""
    dense_classes: int = 10
    """Outputs of the dense head on the pooled channels (0: no head)."""
    libraries: tuple = ("evoapproxlib8u", "evoapproxlib8xNu")
    """Multiplier libraries whose multipliers the layers draw from."""
    uniform_rate: float = 0.3
    """Chance that all layers of a network share one multiplier."""
    preset: str = "eyeriss-45nm"
    """ASIC preset everything but the grid's decisions comes from."""
    overrides: dict = field(default_factory=dict)
    """ASIC settings replacing the preset's (not dataflow, pe_x, pe_y, glb_kib)."""
    grid: dict = field(default_factory=_default_grid)
    """The accelerator design space: {dataflow = [...], array = [[pe_y, pe_x], ...],
    glb_kib = [...]} (default: the hardware search's)."""
    metric: str = "edap"
    """The search metric whose best grid point is each network's label."""

    def __post_init__(self) -> None:
        if self.networks < 1:
            raise UserError(f"networks must be >= 1, got {self.networks}")
        lo, hi = (tuple(self.depth) + (None, None))[:2]
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise UserError(f"depth must be [smallest, largest] with 1 <= smallest <= largest, "
                            f"got {list(self.depth)}")
        for name in ("input_sizes", "input_channels", "kernels", "filters", "libraries"):
            if not getattr(self, name):
                raise UserError(f"{name} must not be empty")
        for name in ("stride2_rate", "depthwise_rate", "uniform_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        blocked = {"dataflow", "pe_x", "pe_y", "glb_kib"} & set(self.overrides)
        if blocked:
            raise UserError(f"overrides may not set the grid's decisions {sorted(blocked)}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict, where: str = "settings") -> DatasetSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"{where}: unknown dataset setting(s) {sorted(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
        values = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
                  if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise UserError(f"{where}: {exc}") from None


def multiplier_pool(settings: DatasetSettings) -> list:
    """The multipliers layers draw from: every multiplier of the libraries, in order."""
    from evoapproxnas.multipliers import load_library

    return [m for name in settings.libraries for m in load_library(name)]


def sample_network(rng: np.random.Generator, settings: DatasetSettings,
                   multipliers: list) -> list[Layer]:
    """One random network: a stack of convolutions (same padding), then the dense head."""
    s = settings
    size = int(rng.choice(s.input_sizes))
    channels = int(rng.choice(s.input_channels))
    uniform = multipliers[int(rng.integers(len(multipliers)))] \
        if rng.random() < s.uniform_rate else None

    def mult():
        return uniform if uniform is not None else multipliers[int(rng.integers(len(multipliers)))]

    layers = []
    for i in range(int(rng.integers(s.depth[0], s.depth[1] + 1))):
        kernel = int(rng.choice(s.kernels))
        stride = 2 if size > 2 and rng.random() < s.stride2_rate else 1
        if i > 0 and rng.random() < s.depthwise_rate:
            out, groups = channels, channels
        else:
            out, groups = int(rng.choice(s.filters)), 1
        layers.append(conv_layer(size, size, channels, out, kernel, stride, groups=groups,
                                 multiplier=mult(), name=f"l{i}"))
        size, channels = layers[-1].output_shape[0], out
    if s.dense_classes:
        layers.append(dense_layer(channels, s.dense_classes, mult(), name="head"))
    return layers


@dataclass
class CostDataset:
    """A priced dataset: networks (``table``), per network and grid point the targets, per
    layer and grid point the cycles and energy, per network the best grid point."""

    settings: DatasetSettings
    table: NetworkTable
    targets: np.ndarray
    """float64 [networks, points, 3]: ``TARGETS`` (latency_cycles, energy_pj, area_um2)."""
    layer_cycles: np.ndarray
    """float64 [layers, points]"""
    layer_energy_pj: np.ndarray
    """float64 [layers, points]"""
    best: np.ndarray
    """int64 [networks]: the grid point the hardware search picks for ``settings.metric``."""
    multipliers: list[str]
    """``library/name`` of the multiplier of every layer row (``None`` never occurs)."""

    @property
    def grid(self) -> Grid:
        return Grid.from_dict(self.settings.grid)

    @property
    def edap(self) -> np.ndarray:
        """float64 [networks, points]: energy x latency x area."""
        return np.prod(self.targets, axis=2)

    def split(self, held_out: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Networks for training and held out (a seeded permutation; whole networks, so a
        held-out network is never seen in training at any grid point)."""
        n = self.table.n_networks
        order = rng.permutation(n)
        k = max(1, int(round(n * held_out))) if n > 1 else 0
        return np.sort(order[k:]), np.sort(order[:k])

    def save(self, path: str | Path) -> Path:
        """Write ``PATH.npz`` and ``PATH.json`` (atomically); returns the npz path."""
        npz, meta = dataset_paths(path)
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, rows=self.table.rows, figures=self.table.figures,
                            offsets=self.table.offsets, targets=self.targets,
                            layer_cycles=self.layer_cycles,
                            layer_energy_pj=self.layer_energy_pj, best=self.best,
                            multipliers=np.asarray(self.multipliers, dtype=str))
        write_bytes(npz, buf.getvalue())
        write_json(meta, {"format": FORMAT, "settings": self.settings.to_dict(),
                          "networks": int(self.table.n_networks),
                          "pairs": int(self.targets.shape[0] * self.targets.shape[1])})
        return npz


def dataset_paths(path: str | Path) -> tuple[Path, Path]:
    """``PATH.npz`` and ``PATH.json`` of a dataset path (given with or without a suffix)."""
    path = check_path(path, "dataset")
    base = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def load_dataset(path: str | Path) -> CostDataset:
    """Read a dataset written by ``CostDataset.save`` (``UserError`` when missing or not one)."""
    npz, meta = dataset_paths(path)
    if not npz.is_file() or not meta.is_file():
        raise UserError(f"no hardware dataset at {npz.with_suffix('')} (needs {npz.name} and "
                        f"{meta.name}); build one with 'evoapproxnas hw learn dataset'")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        settings = DatasetSettings.from_dict(info["settings"], str(meta))
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        table = NetworkTable(arrays["rows"], arrays["figures"], arrays["offsets"])
        out = CostDataset(settings, table, arrays["targets"], arrays["layer_cycles"],
                          arrays["layer_energy_pj"], arrays["best"],
                          [str(m) for m in arrays["multipliers"]])
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError) as exc:
        raise UserError(f"{npz}: not a readable hardware dataset ({exc}); build it again with "
                        "'evoapproxnas hw learn dataset'") from None
    if out.targets.shape[:1] != (table.n_networks,) or len(table.rows) != len(out.multipliers):
        raise UserError(f"{npz}: the dataset's arrays do not agree in size; build it again")
    return out


def price_network(layers: list[Layer], settings: DatasetSettings,
                  grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The targets [points, 3], per-layer cycles and energies [layers, points] of one network
    at every grid point, and the index of the point ``search_asic`` picks."""
    targets = np.zeros((len(grid.points), len(TARGETS)))
    cycles = np.zeros((len(layers), len(grid.points)))
    energy = np.zeros_like(cycles)
    for k, (flow, pe_y, pe_x, kib) in enumerate(grid.points):
        model = get_cost_model("asic", settings.preset, **dict(
            settings.overrides, dataflow=flow, pe_y=pe_y, pe_x=pe_x, glb_kib=kib))
        costs = model.layer_costs(layers)
        cycles[:, k] = [c["cycles"] for c in costs]
        energy[:, k] = [sum(c["energy_pj"].values()) for c in costs]
        targets[k] = (cycles[:, k].sum(), energy[:, k].sum(), model.area_um2(layers))
    best = search_asic(layers, settings.metric, settings.preset, dict(settings.overrides),
                       grid.to_dict())
    return targets, cycles, energy, grid.points.index(_parse_config(best["config"]))


def _parse_config(text: str) -> tuple[str, int, int, float]:
    parts = dict(p.split("=", 1) for p in text.split()[1:])
    pe_y, pe_x = parts["pe"].split("x")
    return parts["dataflow"], int(pe_y), int(pe_x), float(parts["glb_kib"])


PARTIAL_EVERY = 20
"""Networks between two saves of a build's partial file."""


def partial_path(path: str | Path) -> Path:
    """``PATH.partial.npz``: where a build of dataset ``PATH`` keeps what it has priced."""
    npz, _ = dataset_paths(path)
    return npz.with_name(npz.name[:-len(".npz")] + ".partial.npz")


def _save_partial(path: Path, settings: DatasetSettings, rng: np.random.Generator,
                  parts: dict) -> None:
    import io

    buf = io.BytesIO()
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()
              if k != "multipliers"}
    np.savez(buf, **arrays, multipliers=np.asarray(parts["multipliers"], dtype=str),
             lengths=np.asarray([len(r) for r in parts["rows"]], np.int64),
             settings=np.asarray(json.dumps(settings.to_dict())),
             rng=np.asarray(json.dumps(rng.bit_generator.state)))
    write_bytes(path, buf.getvalue())


def _load_partial(path: Path, settings: DatasetSettings, rng: np.random.Generator) -> dict | None:
    """The parts saved by an interrupted build of the same settings (``rng`` restored to
    where it stopped), or ``None`` when there is no usable partial file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(str(data["settings"])) != settings.to_dict():
                return None
            state = json.loads(str(data["rng"]))
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError):
        return None
    rng.bit_generator.state = state
    lengths = arrays["lengths"]
    cuts = np.cumsum(lengths)[:-1]
    parts = {k: list(np.split(arrays[k], cuts)) for k in ("rows", "figures", "cycles",
                                                           "energy")}
    parts["targets"] = list(arrays["targets"].reshape(len(lengths), 1, *arrays[
        "targets"].shape[1:])) if len(lengths) else []
    parts["best"] = [arrays["best"][i:i + 1] for i in range(len(lengths))]
    parts["multipliers"] = [str(m) for m in arrays["multipliers"]]
    return parts


def build_dataset(settings: DatasetSettings,
                  progress: Callable[[int], None] | None = None,
                  partial: str | Path | None = None) -> CostDataset:
    """Sample ``settings.networks`` networks (seeded) and price each at every grid point;
    ``progress(n)`` after networks are priced (or found in the partial file).

    ``partial`` (a file path, e.g. ``partial_path(out)``): every ``PARTIAL_EVERY`` networks
    the networks priced so far and the sampler's state are saved there; a build that finds a
    partial file of the same settings continues from it, so a killed build ends with the same
    dataset as an uninterrupted one. The caller removes it once the dataset is saved (the
    CLI does)."""
    from evoapproxnas.hardware.layers import multiplier_id

    rng = np.random.default_rng(settings.seed)
    pool = multiplier_pool(settings)
    grid = Grid.from_dict(settings.grid)
    get_cost_model("asic", settings.preset, **dict(settings.overrides))  # bad settings: now
    partial = Path(partial) if partial is not None else None
    parts = _load_partial(partial, settings, rng) if partial is not None \
        and partial.is_file() else None
    if parts is None:
        parts = {k: [] for k in ("rows", "figures", "targets", "cycles", "energy", "best",
                                 "multipliers")}
    elif progress is not None:
        progress(len(parts["rows"]))
    while len(parts["rows"]) < settings.networks:
        layers = sample_network(rng, settings, pool)
        t, c, e, b = price_network(layers, settings, grid)
        table = NetworkTable.from_layers([layers])
        for key, value in (("rows", table.rows), ("figures", table.figures),
                           ("targets", t[None]), ("cycles", c), ("energy", e),
                           ("best", np.asarray([b], np.int64))):
            parts[key].append(value)
        parts["multipliers"] += [f"{m.library}/{m.name}" if m is not None else multiplier_id(m)
                                 for m in (x.multiplier for x in layers)]
        done = len(parts["rows"])
        if partial is not None and done % PARTIAL_EVERY == 0 and done < settings.networks:
            _save_partial(partial, settings, rng, parts)
        if progress is not None:
            progress(1)
    lengths = [len(r) for r in parts["rows"]]
    table = NetworkTable(np.concatenate(parts["rows"]).astype(np.int64),
                         np.concatenate(parts["figures"]).astype(np.float64),
                         np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    return CostDataset(settings, table, np.concatenate(parts["targets"]),
                       np.concatenate(parts["cycles"]), np.concatenate(parts["energy"]),
                       np.concatenate(parts["best"]).astype(np.int64), parts["multipliers"])


def mape(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    return float(np.mean(np.abs(predicted - actual) / np.abs(actual)) * 100.0)
