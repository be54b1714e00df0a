"""Numbers the learned hardware evaluator reads: a network as a table of layer rows, an
accelerator as a point of the ASIC design grid (no TensorFlow).

A layer row holds what the ASIC mapper sees of a layer (its kind, the loop bounds G, M, C,
P, Q, R, S, the strides) and three figures of its multiplier (power relative to the exact
multiplier, area in um^2, weight width N). ``layer_features`` turns rows into the network's
inputs (logarithms, one-hot kinds); ``network_features`` gives the per-network summary (total
MACs, the MAC-weighted multiplier figures) and ``config_features`` the accelerator's
(dataflow one-hot, log2 of the array sides and of the buffer). Everything is vectorised over
numpy arrays, so a batch of a thousand networks encodes in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import layers as L

KINDS = ("conv2d", "depthwise_conv2d", "dense")
ROW_COLUMNS = ("kind", "G", "M", "C", "P", "Q", "R", "S", "sh", "sw")
"""Integer columns of a layer row (``kind`` indexes ``KINDS``)."""
FIGURE_COLUMNS = ("power_ratio", "area_um2", "weight_bits")
"""Float columns of a layer's multiplier figures."""
LAYER_FEATURES = (*(f"is_{k}" for k in KINDS), "log2_G", "log2_M", "log2_C", "log2_P",
                  "log2_Q", "log2_R", "log2_S", "log2_sh", "log2_sw", "log2_macs",
                  "log2_weights", "log2_inputs", "log2_outputs", "power_ratio", "area_kum2",
                  "weight_bits_8")
NETWORK_FEATURES = ("log2_macs", "mean_power_ratio", "mean_area_kum2", "mean_weight_bits_8",
                    "layers_10")
CONFIG_FEATURES_BASE = ("log2_pe_y", "log2_pe_x", "log2_pes", "log2_glb_kib")
PAIR_FEATURES = ("log2_folds", "log2_array_use")
"""Features of a (layer, accelerator) pair (``pair_features``): the log2 of the number of
passes over the PE array, prod over the loop bounds of ceil(bound / its spatial factor),
and the log2 of the share of the array's PEs the spatial factors use."""


@dataclass(frozen=True)
class Grid:
    """The accelerator design space: every dataflow x PE array x global buffer size (the
    hardware search's grid, ``hardware.explore.ASIC_GRID``); a point is an index into
    ``points`` (dataflow outermost, buffer innermost, as the search visits them)."""

    dataflows: tuple[str, ...]
    arrays: tuple[tuple[int, int], ...]
    """(pe_y, pe_x) pairs."""
    glb_kibs: tuple[float, ...]

    @classmethod
    def from_dict(cls, grid: dict) -> Grid:
        return cls(tuple(str(f) for f in grid["dataflow"]),
                   tuple((int(a[0]), int(a[1])) for a in grid["array"]),
                   tuple(float(k) for k in grid["glb_kib"]))

    def to_dict(self) -> dict:
        return {"dataflow": list(self.dataflows), "array": [list(a) for a in self.arrays],
                "glb_kib": list(self.glb_kibs)}

    @property
    def points(self) -> list[tuple[str, int, int, float]]:
        """``(dataflow, pe_y, pe_x, glb_kib)`` of every point, in index order."""
        return [(f, a[0], a[1], k) for f in self.dataflows for a in self.arrays
                for k in self.glb_kibs]

    @property
    def head_sizes(self) -> tuple[int, int, int]:
        """Choices per decision (dataflow, array, buffer): the generator's heads."""
        return len(self.dataflows), len(self.arrays), len(self.glb_kibs)

    def index(self, dataflow: str, pe_y: int, pe_x: int, glb_kib: float) -> int:
        """The point's index; ``UserError`` when it is not on the grid."""
        try:
            return self.points.index((dataflow, int(pe_y), int(pe_x), float(glb_kib)))
        except ValueError:
            raise UserError(
                f"accelerator dataflow={dataflow} pe={pe_y}x{pe_x} glb_kib={glb_kib:g} is not "
                f"in the learned evaluator's design space (dataflows {list(self.dataflows)}, "
                f"arrays {[f'{y}x{x}' for y, x in self.arrays]}, glb_kib "
                f"{list(self.glb_kibs)}); use one of its points or the analytical evaluator"
            ) from None

    def split(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-decision choice indices of grid points (dataflow, array, buffer)."""
        nf, na, nk = self.head_sizes
        index = np.asarray(index)
        return index // (na * nk), (index // nk) % na, index % nk

    def join(self, flow: np.ndarray, array: np.ndarray, kib: np.ndarray) -> np.ndarray:
        """Grid indices of per-decision choices (the inverse of ``split``)."""
        _, na, nk = self.head_sizes
        return (np.asarray(flow) * na + np.asarray(array)) * nk + np.asarray(kib)

    def text(self, index: int) -> str:
        """The point as the hardware search's ``config`` string."""
        f, y, x, k = self.points[int(index)]
        return f"asic dataflow={f} pe={y}x{x} glb_kib={k:g}"


def layer_row(layer: L.Layer) -> tuple[list[int], list[float]]:
    """The integer row and the multiplier figures of one cost-model layer."""
    if layer.kind not in KINDS:
        raise UserError(f"the learned evaluator knows layer kinds {', '.join(KINDS)}, not "
                        f"{layer.kind!r}")
    d = layer.dims
    row = [KINDS.index(layer.kind), *(int(d[k]) for k in "GMCPQRS"), *map(int, layer.strides)]
    m = layer.multiplier
    return row, [L.power_ratio(m), L.area_um2(m), float(L.weight_bits(m))]


@dataclass
class NetworkTable:
    """Networks as one table of layer rows: ``rows[i]``/``figures[i]`` is a layer of network
    ``network[i]``; networks are numbered 0..n-1 and their layers are contiguous, in order."""

    rows: np.ndarray
    """int64 [layers, len(ROW_COLUMNS)]"""
    figures: np.ndarray
    """float64 [layers, len(FIGURE_COLUMNS)]"""
    offsets: np.ndarray
    """int64 [networks + 1]: network k's layers are rows offsets[k]:offsets[k+1]."""

    @classmethod
    def from_layers(cls, networks: Iterable[Sequence[L.Layer]]) -> NetworkTable:
        rows, figures, offsets = [], [], [0]
        for layers in networks:
            if not layers:
                raise UserError("the network has no multiplying layers to estimate")
            for layer in layers:
                r, f = layer_row(layer)
                rows.append(r)
                figures.append(f)
            offsets.append(len(rows))
        return cls(np.asarray(rows, dtype=np.int64).reshape(-1, len(ROW_COLUMNS)),
                   np.asarray(figures, dtype=np.float64).reshape(-1, len(FIGURE_COLUMNS)),
                   np.asarray(offsets, dtype=np.int64))

    @property
    def n_networks(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def network_index(self) -> np.ndarray:
        """The network of every row."""
        return np.repeat(np.arange(self.n_networks), self.lengths)

    def select(self, networks: np.ndarray) -> NetworkTable:
        """The table of the given networks (renumbered in that order)."""
        networks = np.asarray(networks, dtype=np.int64)
        starts, ends = self.offsets[networks], self.offsets[networks + 1]
        idx = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)]) \
            if len(networks) else np.zeros(0, dtype=np.int64)
        return NetworkTable(self.rows[idx], self.figures[idx],
                            np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64))


def _macs(rows: np.ndarray) -> np.ndarray:
    return np.prod(rows[:, 1:8].astype(np.float64), axis=1)


def layer_features(table: NetworkTable) -> np.ndarray:
    """float32 [layers, len(LAYER_FEATURES)] of every row."""
    r = table.rows.astype(np.float64)
    g, m, c, p, q, kr, ks, sh, sw = (r[:, i] for i in range(1, 10))
    inputs = g * c * ((p - 1) * sh + kr) * ((q - 1) * sw + ks)
    kinds = np.eye(len(KINDS))[table.rows[:, 0]]
    logs = np.log2(np.stack([g, m, c, p, q, kr, ks, sh, sw, _macs(table.rows),
                             g * m * c * kr * ks, inputs, g * m * p * q], axis=1))
    f = table.figures
    return np.concatenate([kinds, logs, f[:, :1], f[:, 1:2] / 1000.0, f[:, 2:3] / 8.0],
                          axis=1).astype(np.float32)


def network_features(table: NetworkTable) -> np.ndarray:
    """float32 [networks, len(NETWORK_FEATURES)]: log2 of the total MACs, the MAC-weighted
    means of the multiplier figures (the model's accounting of mixed multipliers), layers/10."""
    macs = _macs(table.rows)
    net = table.network_index()
    n = table.n_networks
    total = np.bincount(net, weights=macs, minlength=n)
    share = macs / total[net]
    means = [np.bincount(net, weights=share * col, minlength=n) for col in (
        table.figures[:, 0], table.figures[:, 1] / 1000.0, table.figures[:, 2] / 8.0)]
    return np.stack([np.log2(total), *means, table.lengths / 10.0], axis=1).astype(np.float32)


def config_features(grid: Grid) -> np.ndarray:
    """float32 [points, len(dataflows) + 4] of every grid point."""
    out = []
    for flow, pe_y, pe_x, kib in grid.points:
        onehot = [float(flow == f) for f in grid.dataflows]
        out.append(onehot + [np.log2(pe_y), np.log2(pe_x), np.log2(pe_y * pe_x),
                             np.log2(kib)])
    return np.asarray(out, dtype=np.float32)


def pair_features(table: NetworkTable, grid: Grid) -> np.ndarray:
    """float32 [layers, points, len(PAIR_FEATURES)]: per layer and grid point, how the layer
    folds onto the point's PE array. The spatial factors are those the ASIC mapper assigns
    first for the point's dataflow (``asic_mapping.DATAFLOWS``: the Y axis, then the X axis,
    each filled greedily with the least factor needing the fewest passes); latency follows
    the passes, not the MACs alone, so these features help the estimator where array sides
    do not divide the loop bounds."""
    from evoapproxnas.hardware.asic_mapping import DATAFLOWS

    dims = {d: table.rows[:, 1 + i].astype(np.int64) for i, d in enumerate("GMCPQRS")}
    out = np.zeros((len(table.rows), len(grid.points), len(PAIR_FEATURES)), np.float32)
    for k, (flow, pe_y, pe_x, _kib) in enumerate(grid.points):
        rem = {d: v.copy() for d, v in dims.items()}
        used = np.ones(len(table.rows), np.int64)
        for axis_dims, size in ((DATAFLOWS[flow]["y"], pe_y), (DATAFLOWS[flow]["x"], pe_x)):
            avail = np.full(len(table.rows), int(size), np.int64)
            for d in axis_dims:
                extent = rem[d]
                passes = -(-extent // np.maximum(1, np.minimum(extent, avail)))
                f = np.where((avail <= 1) | (extent <= 1), 1, -(-extent // passes))
                used *= f
                rem[d] = -(-extent // f)
                avail //= f
        folds = np.prod(np.stack(list(rem.values()), 1).astype(np.float64), axis=1)
        out[:, k, 0] = np.log2(folds)
        out[:, k, 1] = np.log2(used / float(pe_y * pe_x))
    return out


def padded(table: NetworkTable, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer ``features`` as ``[networks, longest, F]`` zero-padded, and the mask
    ``[networks, longest]`` (1 for a real layer)."""
    n, lengths = table.n_networks, table.lengths
    longest = int(lengths.max()) if n else 1
    out = np.zeros((n, longest, features.shape[1]), dtype=np.float32)
    mask = np.zeros((n, longest), dtype=np.float32)
    pos = np.arange(len(features)) - np.repeat(table.offsets[:-1], lengths)
    net = table.network_index()
    out[net, pos] = features
    mask[net, pos] = 1.0
    return out, mask
