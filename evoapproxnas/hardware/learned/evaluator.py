"""A saved learned evaluator, loaded and run with numpy (no TensorFlow): what campaigns use.

An evaluator is a folder: ``evaluator.json`` (format, the dataset's generator settings, the
feature statistics, the networks' sizes, the held-out report), ``weights.npz`` (the trained
weights, layer name / weight name -> array) and the two Keras models it was trained as
(``estimator.keras``, ``generator.keras``; ``train.load_keras_models`` reads them). Numpy runs
the same layers as Keras (the tests compare them), so a campaign's main process prices a
candidate without importing TensorFlow, and a batch of a thousand pairs in milliseconds.

``hardware.evaluator = "learned"`` with ``hardware.evaluator_path`` (a folder, or the name of
one under ``EVALUATOR_DIR_ENV`` / the user's data folder) makes ``HardwareConfig.estimate``
call ``estimate_with`` here.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from evoapproxnas.atomic import new_directory, write_bytes, write_json
from evoapproxnas.errors import UserError
from evoapproxnas.hardware.config import get_cost_model
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.paths import check_path

FORMAT = "evoapproxnas-hw-evaluator-1"
EVALUATOR_DIR_ENV = "EVOAPPROXNAS_EVALUATOR_DIR"
"""Folder where evaluators saved by name live (default: ``$XDG_DATA_HOME/evoapproxnas/
evaluators``, ``~/.local/share/...`` without it)."""
GRID_KEYS = ("dataflow", "pe_x", "pe_y", "glb_kib")
"""The ASIC settings the grid decides; all others must be those the evaluator learned."""


def evaluator_dir() -> Path:
    """The folder of evaluators saved by name."""
    if os.environ.get(EVALUATOR_DIR_ENV):
        return Path(os.environ[EVALUATOR_DIR_ENV])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "share")
    return Path(base) / "evoapproxnas" / "evaluators"


def resolve(path_or_name: str | os.PathLike) -> Path:
    """The folder of an evaluator given by path or, for a bare name (no ``/``), by name."""
    text = os.fspath(path_or_name)
    if not text:
        raise UserError("no learned evaluator given: set hardware.evaluator_path to the folder "
                        "'evoapproxnas hw learn train' wrote (or its name)")
    check_path(text, "learned evaluator")
    if "/" not in text and os.sep not in text and not Path(text).exists():
        return evaluator_dir() / text
    return Path(text)


def write_folder(path, spec: dict, weights: dict, extra: Callable[[Path], None] | None = None,
                 overwrite: bool = False) -> Path:
    """Write an evaluator folder atomically (built beside, moved into place)."""
    folder = resolve(path)
    if folder.exists() and not overwrite:
        raise UserError(f"{folder} exists; give another --out or --overwrite")
    target = folder if not folder.exists() else folder.with_name(folder.name + ".new")
    with new_directory(target) as tmp:
        buf = io.BytesIO()
        np.savez(buf, **weights)
        write_bytes(tmp / "weights.npz", buf.getvalue())
        write_json(tmp / "evaluator.json", spec)
        if extra is not None:
            extra(tmp)
    if target != folder:  # --overwrite: swap the finished folder in
        import shutil

        old = folder.with_name(folder.name + ".old")
        os.replace(folder, old)
        os.replace(target, folder)
        shutil.rmtree(old, ignore_errors=True)
    return folder


_CACHE: dict = {}


def load_evaluator(path_or_name: str | os.PathLike) -> LearnedEvaluator:
    """The evaluator of a folder (cached per process while its files are unchanged);
    ``UserError`` (one line) when the folder is missing, incomplete or not an evaluator."""
    folder = resolve(path_or_name)
    meta, npz = folder / "evaluator.json", folder / "weights.npz"
    if not folder.is_dir():
        raise UserError(f"learned evaluator {folder} does not exist; train one with "
                        "'evoapproxnas hw learn train'")
    try:
        key = (str(folder.resolve()), meta.stat().st_mtime_ns, npz.stat().st_mtime_ns)
    except OSError as exc:
        raise UserError(f"learned evaluator {folder} is incomplete ({exc.strerror}: "
                        f"{Path(exc.filename).name}); train it again") from None
    if key not in _CACHE:
        try:
            spec = json.loads(meta.read_text(encoding="utf-8"))
            if not isinstance(spec, dict) or spec.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            with np.load(npz, allow_pickle=False) as data:
                weights = {k: data[k] for k in data.files}
            evaluator = LearnedEvaluator(spec, weights)
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
                zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise UserError(f"learned evaluator {folder} is not readable ({exc}); train it "
                            "again") from None
        _CACHE.clear()
        _CACHE[key] = evaluator
    return _CACHE[key]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


class LearnedEvaluator:
    """The two trained networks, run with numpy."""

    def __init__(self, spec: dict, weights: dict) -> None:
        self.spec, self.weights = spec, weights
        self.grid = E.Grid.from_dict(spec["dataset"]["grid"])
        f = spec["features"]
        self._norm = {k: (np.asarray(f[k]["mean"], np.float32), np.asarray(f[k]["std"],
                                                                            np.float32))
                      for k in ("layer", "network", "config", "pair") if k in f}
        self._cfg = self._std("config", E.config_features(self.grid))
        est = spec["estimator"]
        self._layer_t = [np.asarray(est["layer_target"][k], np.float64) for k in ("mean", "std")]
        self._area_t = [np.asarray(est["area_target"][k], np.float64) for k in ("mean", "std")]
        self._depth = int(est["depth"])
        self.pair_features = bool(est.get("pair_features", False))
        n_layer, n_cfg = len(E.LAYER_FEATURES), self._cfg.shape[1]
        n_pair = len(E.PAIR_FEATURES) if self.pair_features else 0
        w0 = self._w("layer_mlp_0")[0]
        if w0.shape[0] != n_layer + n_cfg + n_pair:
            raise ValueError("the weights do not fit this version's features")
        self._w0_rows, self._w0_cfg = w0[:n_layer], w0[n_layer:n_layer + n_cfg]
        self._w0_pair = w0[n_layer + n_cfg:]
        base = get_cost_model("asic", spec["dataset"]["preset"],
                              **dict(spec["dataset"]["overrides"]))
        self.base_config = base.config
        self._rf_etc = base

    def _w(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.weights[f"{name}/kernel"], self.weights[f"{name}/bias"]

    def _std(self, kind: str, x: np.ndarray) -> np.ndarray:
        mean, std = self._norm[kind]
        return ((x - mean) / std).astype(np.float32)

    # ---- the networks --------------------------------------------------------------------
    def encode(self, table: E.NetworkTable) -> tuple:
        """Standardised layer rows [layers, F], network summaries [networks, F] and, for an
        evaluator trained with them, pair features [layers, points, F] (else ``None``)."""
        pair = self._std("pair", E.pair_features(table, self.grid)) \
            if self.pair_features else None
        return (self._std("layer", E.layer_features(table)),
                self._std("network", E.network_features(table)), pair)

    def predict_logs(self, table: E.NetworkTable, networks: np.ndarray, points: np.ndarray,
                     encoded=None) -> np.ndarray:
        """log (latency_cycles, energy_pj, area_um2) [pairs, 3] of the pairs
        (network ``networks[i]`` of ``table``, grid point ``points[i]``)."""
        rows, net, pairs = encoded if encoded is not None else self.encode(table)
        networks, points = np.asarray(networks, np.int64), np.asarray(points, np.int64)
        lengths = table.lengths[networks]
        pair = np.repeat(np.arange(len(networks)), lengths)
        first = np.repeat(table.offsets[networks] - np.concatenate([[0], np.cumsum(
            lengths)[:-1]]), lengths)
        idx = first + np.arange(len(pair))
        b0 = self.weights["layer_mlp_0/bias"]
        pre = (rows @ self._w0_rows)[idx] + (self._cfg @ self._w0_cfg + b0)[points][pair]
        if pairs is not None:
            pre += pairs[idx, points[pair]] @ self._w0_pair
        h = _relu(pre)
        for i in range(1, self._depth):
            k, b = self._w(f"layer_mlp_{i}")
            h = _relu(h @ k + b)
        k, b = self._w("layer_out")
        per = (h @ k + b).astype(np.float64) * self._layer_t[1] + self._layer_t[0]
        peak = per.max(axis=0)
        sums = np.stack([np.bincount(pair, weights=np.exp(per[:, j] - peak[j]),
                                     minlength=len(networks)) for j in range(2)], axis=1)
        totals = np.log(sums) + peak
        a = np.concatenate([self._cfg[points], net[networks]], axis=1)
        for i in range(2):
            k, b = self._w(f"area_mlp_{i}")
            a = _relu(a @ k + b)
        k, b = self._w("area_out")
        area = (a @ k + b).astype(np.float64) * self._area_t[1] + self._area_t[0]
        return np.concatenate([totals, area], axis=1)

    def generate(self, table: E.NetworkTable, encoded=None) -> np.ndarray:
        """The generation network's grid point for every network of ``table``."""
        rows, net = (encoded if encoded is not None else self.encode(table))[:2]
        h = rows
        for i in range(2):
            k, b = self._w(f"gen_layer_mlp_{i}")
            h = _relu(h @ k + b)
        starts = table.offsets[:-1]
        mean = np.add.reduceat(h, starts, axis=0) / table.lengths[:, None]
        top = np.maximum.reduceat(h, starts, axis=0)
        z = np.concatenate([mean, top, net], axis=1)
        for i in range(2):
            k, b = self._w(f"gen_mlp_{i}")
            z = _relu(z @ k + b)
        choice = [np.argmax(z @ self._w(f"head_{n}")[0] + self._w(f"head_{n}")[1], axis=1)
                  for n in ("dataflow", "array", "glb")]
        return self.grid.join(*choice)

    # ---- what campaigns ask --------------------------------------------------------------
    def metrics(self, table: E.NetworkTable, networks, points, encoded=None) -> dict:
        """All ASIC metrics (``AsicModel.METRICS``) of the pairs, as arrays: the three
        predicted ones and those that follow from them and the accelerator (edap, fps,
        utilization; macs counted exactly)."""
        logs = self.predict_logs(table, networks, points, encoded)
        latency, energy, area = np.exp(logs).T
        macs = np.bincount(table.network_index(), weights=np.prod(
            table.rows[:, 1:8].astype(np.float64), axis=1),
            minlength=table.n_networks)[np.asarray(networks)]
        pes = np.array([y * x for _, y, x, _ in self.grid.points], np.float64)[points]
        return {"energy_pj": energy, "latency_cycles": latency, "area_um2": area,
                "edap": energy * latency * area,
                "fps": self.base_config["clock_mhz"] * 1e6 / latency,
                "utilization": macs / (latency * pes), "macs": macs}

    def check_settings(self, preset: str | None, overrides: dict) -> dict:
        """The campaign's ASIC config (preset + overrides), ``UserError`` unless all its
        settings but the grid's decisions are those the evaluator learned."""
        config = get_cost_model("asic", preset or None, **dict(overrides)).config
        differ = sorted(k for k in set(config) | set(self.base_config)
                        if k not in GRID_KEYS and config.get(k) != self.base_config.get(k))
        if differ:
            d = self.spec["dataset"]
            raise UserError(
                f"the learned evaluator was trained on asic preset {d['preset']!r} with "
                f"overrides {d['overrides']}; this campaign's hardware differs in "
                f"{', '.join(differ)}: use that preset or the analytical evaluator")
        return config

    def estimate(self, layers: Sequence, *, preset: str | None = None,
                 overrides: dict | None = None, search: bool = False,
                 search_metric: str = "edap", constraints: Iterable | None = None) -> dict:
        """Like ``hardware.estimate_network`` for the ASIC model, priced by the network:
        without ``search`` the preset's accelerator (a grid point); with it the grid point
        best for ``search_metric`` among those meeting ``constraints`` (the least violating
        when none does), as ``explore.search_asic`` chooses, plus its ``config`` string."""
        from evoapproxnas.hardware.explore import _applicable, _Best, _check_metric

        config = self.check_settings(preset, overrides or {})
        table = E.NetworkTable.from_layers([list(layers)])
        if not search:
            point = self.grid.index(config["dataflow"], config["pe_y"], config["pe_x"],
                                    config["glb_kib"])
            values = self.metrics(table, [0], [point])
            return {k: float(v[0]) for k, v in values.items()}
        points = np.arange(len(self.grid.points))
        values = self.metrics(table, np.zeros_like(points), points)
        best = _Best(search_metric, _check_metric(self._rf_etc, search_metric),
                     _applicable(self._rf_etc, constraints))
        for k in points:
            best.offer({name: float(v[k]) for name, v in values.items()}, self.grid.text(k))
        return best.result

    # ---- the held-out report ---------------------------------------------------------------
    def held_out_report(self, dataset, networks: np.ndarray) -> dict:
        """Errors on the dataset's ``networks`` (held out of training) at every grid point:
        MAPE of each metric, and how often the generator's point, and the point of least
        predicted EDAP, are within 5 % of the grid's least EDAP."""
        from evoapproxnas.hardware.learned.dataset import TARGETS, mape

        table = dataset.table.select(networks)
        k = len(self.grid.points)
        nets = np.repeat(np.arange(len(networks)), k)
        pts = np.tile(np.arange(k), len(networks))
        encoded = self.encode(table)
        pred = np.exp(self.predict_logs(table, nets, pts, encoded))
        true = dataset.targets[networks].reshape(-1, 3)
        report = {"networks": int(len(networks)), "pairs": int(len(nets)), "mape_pct": {},
                  "p95_ape_pct": {}}
        for j, name in enumerate(TARGETS):
            report["mape_pct"][name] = mape(pred[:, j], true[:, j])
            report["p95_ape_pct"][name] = float(np.percentile(
                np.abs(pred[:, j] / true[:, j] - 1) * 100, 95))
        p_edap, t_edap = np.prod(pred, axis=1), np.prod(true, axis=1)
        report["mape_pct"]["edap"] = mape(p_edap, t_edap)
        report["p95_ape_pct"]["edap"] = float(np.percentile(np.abs(p_edap / t_edap - 1) * 100,
                                                            95))
        edap = dataset.edap[networks]
        best = edap.min(axis=1)
        rows = np.arange(len(networks))
        gen = self.generate(table, encoded)
        by_estimator = np.argmin(p_edap.reshape(len(networks), k), axis=1)
        report["generator"] = {
            "exact_pct": float(np.mean(gen == dataset.best[networks]) * 100),
            "within_5pct_pct": float(np.mean(edap[rows, gen] <= 1.05 * best) * 100),
            "mean_edap_excess_pct": float(np.mean(edap[rows, gen] / best - 1) * 100)}
        report["estimator_search"] = {
            "exact_pct": float(np.mean(by_estimator == dataset.best[networks]) * 100),
            "within_5pct_pct": float(np.mean(edap[rows, by_estimator] <= 1.05 * best) * 100),
            "mean_edap_excess_pct": float(np.mean(edap[rows, by_estimator] / best - 1) * 100)}
        return report
