"""Build and train the learned evaluator's two Keras networks on a ``CostDataset``.

The **cost estimation network** prices (network, accelerator) pairs. One small MLP, shared by
all layers, reads a layer's row beside the accelerator's features and gives the log of the
layer's cycles and energy; a network's latency and energy are the sums over its layers (a
masked log-sum-exp), as in the cost model, so a network of any length is priced. A second
MLP gives the log area from the accelerator and the network's MAC-weighted multiplier
figures. Training fits the networks' log latency, energy and area and, as a help, each
layer's log cycles and energy.

The **hardware generation network** maps a network (its layer rows, mean- and max-pooled
after a shared MLP, and its summary features) to one categorical head per decision of the
grid (dataflow, PE array, buffer size), trained with cross-entropy on soft labels: each
decision's share of ``softmax(-(log EDAP - log EDAP_min) / temperature)`` over the grid, so
near-optimal points count as nearly right (with temperature -> 0 the labels are the
search's best point).

TensorFlow is imported here; the saved evaluator is used through ``evaluator`` (numpy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import CostDataset
from evoapproxnas.hardware.learned.evaluator import FORMAT, LearnedEvaluator


@dataclass(frozen=True)
class TrainSettings:
    """How the two networks are trained (stored in the evaluator's JSON)."""

    seed: int = 0
    """Seed of the held-out split, the initial weights and the batch order."""
    held_out: float = 0.2
    """Share of the dataset's networks held out for the error report (never trained on)."""
    epochs: int = 40
    """Passes of the cost estimation network over the training pairs."""
    batch_size: int = 512
    """Pairs (or networks, for the generator) per step."""
    learning_rate: float = 2e-3
    """Adam's initial step, decayed to 0 along a cosine over the epochs."""
    hidden: int = 96
    """Width of the per-layer MLP (both networks)."""
    depth: int = 3
    """Hidden layers of the per-layer MLP of the cost estimation network."""
    area_hidden: int = 32
    """Width of the area MLP (two hidden layers)."""
    layer_loss_weight: float = 0.5
    """Weight of the per-layer squared log errors beside the networks' ones."""
    generator_epochs: int = 60
    """Passes of the hardware generation network over the training networks."""
    temperature: float = 0.02
    """Soft labels of the generator: log-EDAP distance from the best that counts as 1/e."""
    pair_features: bool = True
    """Give the cost estimation network, beside each layer's row and the accelerator, how
    the layer folds onto that accelerator's PE array (``encoding.PAIR_FEATURES``)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "hidden", "depth", "area_hidden",
                     "generator_epochs"):
            if getattr(self, name) < 1:
                raise UserError(f"training setting {name} must be >= 1, got "
                                f"{getattr(self, name)}")
        if not 0.0 < self.held_out < 1.0:
            raise UserError(f"held_out must be in (0, 1), got {self.held_out}")
        if self.learning_rate <= 0 or self.temperature <= 0:
            raise UserError("learning_rate and temperature must be positive")

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown training setting(s) {sorted(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
        return cls(**data)


def _stats(x: np.ndarray) -> dict:
    std = x.std(axis=0)
    return {"mean": x.mean(axis=0).tolist(), "std": np.where(std > 1e-6, std, 1.0).tolist()}


def _dense(keras, units, name, seed, activation=None):
    return keras.layers.Dense(units, activation=activation, name=name,
                              kernel_initializer=keras.initializers.GlorotUniform(seed=seed))


def build_estimator(n_layer: int, n_config: int, n_network: int, s: TrainSettings,
                    layer_target: dict, area_target: dict, n_pair: int = 0):
    """The cost estimation network: inputs (layer rows, mask, accelerator, network summary
    and, with ``n_pair``, the rows' pair features at the accelerator); outputs ``network``
    [B, 3] (log latency, energy, area) and ``layers`` [B, L, 2]."""
    import keras

    from evoapproxnas.hardware.learned.keras_layers import Affine, BroadcastConcat, MaskedLogSumExp

    rows = keras.Input((None, n_layer), name="rows")
    mask = keras.Input((None,), name="mask")
    config = keras.Input((n_config,), name="config")
    net = keras.Input((n_network,), name="network_features")
    x = BroadcastConcat(name="broadcast")([rows, config])
    inputs = [rows, mask, config, net]
    if n_pair:
        pair = keras.Input((None, n_pair), name="pair")
        x = keras.layers.Concatenate(name="with_pair")([x, pair])
        inputs.append(pair)
    for i in range(s.depth):
        x = _dense(keras, s.hidden, f"layer_mlp_{i}", s.seed + i, "relu")(x)
    x = _dense(keras, 2, "layer_out", s.seed + 50)(x)
    per_layer = Affine(layer_target["mean"], layer_target["std"], name="layers")(x)
    totals = MaskedLogSumExp(name="totals")([per_layer, mask])
    a = keras.layers.Concatenate(name="area_in")([config, net])
    for i in range(2):
        a = _dense(keras, s.area_hidden, f"area_mlp_{i}", s.seed + 100 + i, "relu")(a)
    a = _dense(keras, 1, "area_out", s.seed + 150)(a)
    area = Affine(area_target["mean"], area_target["std"], name="area")(a)
    out = keras.layers.Concatenate(name="network")([totals, area])
    return keras.Model(inputs, [out, per_layer], name="cost_estimation")


def build_generator(n_layer: int, n_network: int, heads: tuple[int, int, int],
                    s: TrainSettings):
    """The hardware generation network: (layer rows, mask, network summary) -> logits of
    the dataflow, array and buffer heads."""
    import keras

    from evoapproxnas.hardware.learned.keras_layers import MaskedPool

    rows = keras.Input((None, n_layer), name="rows")
    mask = keras.Input((None,), name="mask")
    net = keras.Input((n_network,), name="network_features")
    x = rows
    for i in range(2):
        x = _dense(keras, s.hidden, f"gen_layer_mlp_{i}", s.seed + 200 + i, "relu")(x)
    z = keras.layers.Concatenate(name="gen_in")([MaskedPool(name="pool")([x, mask]), net])
    for i in range(2):
        z = _dense(keras, s.hidden, f"gen_mlp_{i}", s.seed + 300 + i, "relu")(z)
    outs = [_dense(keras, n, f"head_{name}", s.seed + 400 + k)(z)
            for k, (name, n) in enumerate(zip(("dataflow", "array", "glb"), heads,
                                               strict=True))]
    return keras.Model([rows, mask, net], outs, name="hardware_generation")


def soft_labels(edap: np.ndarray, grid: E.Grid, temperature: float) -> list[np.ndarray]:
    """Per head, [networks, choices]: the decision's share of the grid's soft-min of log EDAP."""
    logs = np.log(edap)
    w = np.exp(-(logs - logs.min(axis=1, keepdims=True)) / temperature)
    w /= w.sum(axis=1, keepdims=True)
    nf, na, nk = grid.head_sizes
    cube = w.reshape(-1, nf, na, nk)
    return [cube.sum(axis=(2, 3)), cube.sum(axis=(1, 3)), cube.sum(axis=(1, 2))]


@dataclass
class Trained:
    """A trained evaluator before it is saved: its two Keras models, the JSON spec and the
    numpy evaluator made from them."""

    estimator: object
    generator: object
    spec: dict
    evaluator: LearnedEvaluator


def train_evaluator(dataset: CostDataset, settings: TrainSettings,
                    log: Callable[[str], None] | None = None) -> Trained:
    """Train both networks on the dataset's training networks; the spec's ``report`` holds
    the held-out errors (``evaluator.held_out_report``)."""
    import keras
    import tensorflow as tf

    log = log or (lambda _m: None)
    s = settings
    rng = np.random.default_rng(s.seed)
    train, held = dataset.split(s.held_out, rng)
    table, grid = dataset.table, dataset.grid
    lf = E.layer_features(table)
    nf = E.network_features(table)
    cf = E.config_features(grid)
    train_rows = np.isin(table.network_index(), train)
    feats = {"layer": _stats(lf[train_rows]), "network": _stats(nf[train]),
             "config": _stats(cf)}
    pf = E.pair_features(table, grid) if s.pair_features else None
    if pf is not None:
        feats["pair"] = _stats(pf[train_rows].reshape(-1, pf.shape[-1]))
    norm = {k: (np.asarray(v["mean"], np.float32), np.asarray(v["std"], np.float32))
            for k, v in feats.items()}
    rows, mask = E.padded(table, (lf - norm["layer"][0]) / norm["layer"][1])
    net = (nf - norm["network"][0]) / norm["network"][1]
    cfg = (cf - norm["config"][0]) / norm["config"][1]
    logs = np.log(dataset.targets)  # [N, K, 3]
    layer_logs = np.stack([np.log(dataset.layer_cycles), np.log(dataset.layer_energy_pj)], -1)
    layer_pad = np.zeros(rows.shape[:2] + layer_logs.shape[1:], np.float32)  # [N, L, K, 2]
    pos = np.arange(len(lf)) - np.repeat(table.offsets[:-1], table.lengths)
    layer_pad[table.network_index(), pos] = layer_logs
    lt = _stats(layer_logs[train_rows].reshape(-1, 2))
    at = _stats(logs[train][:, :, 2].reshape(-1, 1))
    n_pair = 0 if pf is None else pf.shape[-1]
    estimator = build_estimator(lf.shape[1], cf.shape[1], nf.shape[1], s, lt, at, n_pair)
    log(f"cost estimation network: {estimator.count_params()} parameters; "
        f"{len(train)} training / {len(held)} held-out networks x {len(grid.points)} "
        "accelerators")
    c = {k: tf.constant(v) for k, v in (("rows", rows), ("mask", mask), ("net", net),
                                        ("cfg", cfg), ("logs", logs.astype(np.float32)),
                                        ("layer", layer_pad))}
    if pf is not None:  # [N, L, K, n_pair], standardised
        pair_pad = np.zeros(rows.shape[:2] + pf.shape[1:], np.float32)
        pair_pad[table.network_index(), pos] = (pf - norm["pair"][0]) / norm["pair"][1]
        c["pair"] = tf.constant(pair_pad)
    pairs = np.stack(np.meshgrid(train, np.arange(len(grid.points)), indexing="ij"),
                     -1).reshape(-1, 2)
    steps = -(-len(pairs) // s.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(s.learning_rate, s.epochs * steps)
    opt = keras.optimizers.Adam(schedule)

    def step(idx):
        n, k = idx[:, 0], idx[:, 1]
        m = tf.gather(c["mask"], n)
        x = [tf.gather(c["rows"], n), m, tf.gather(c["cfg"], k), tf.gather(c["net"], n)]
        want = tf.gather_nd(c["logs"], idx)
        want_layer = tf.gather(tf.gather(c["layer"], n), k, axis=2, batch_dims=1)
        if "pair" in c:
            x.append(tf.gather(tf.gather(c["pair"], n), k, axis=2, batch_dims=1))
        with tf.GradientTape() as tape:
            out, per_layer = estimator(x, training=True)
            loss_net = tf.reduce_mean(tf.square(out - want))
            err = tf.reduce_sum(tf.square(per_layer - want_layer), -1) * m
            loss_layer = tf.reduce_sum(err) / tf.maximum(tf.reduce_sum(m), 1.0)
            loss = loss_net + s.layer_loss_weight * loss_layer
        grads = tape.gradient(loss, estimator.trainable_variables)
        opt.apply_gradients(zip(grads, estimator.trainable_variables, strict=True))
        return loss_net

    step = _compiled(step, s.epochs * steps)
    start = time.perf_counter()
    for epoch in range(s.epochs):
        order = rng.permutation(len(pairs))
        total = 0.0
        for b in range(steps):
            total += float(step(tf.constant(pairs[order[b * s.batch_size:(b + 1)
                                                           * s.batch_size]])))
        if epoch == s.epochs - 1 or epoch % max(1, s.epochs // 8) == 0:
            log(f"  estimator epoch {epoch + 1}/{s.epochs}: log MSE {total / steps:.2e} "
                f"[{time.perf_counter() - start:.0f} s]")
    generator = _train_generator(dataset, s, rows, mask, net, train, rng, log)
    spec = {"format": FORMAT, "dataset": dataset.settings.to_dict(), "training": asdict(s),
            "features": feats,
            "estimator": {"hidden": s.hidden, "depth": s.depth, "area_hidden": s.area_hidden,
                          "pair_features": pf is not None,
                          "layer_target": lt, "area_target": at},
            "train_networks": int(len(train)), "held_out_networks": int(len(held))}
    weights = {f"{layer.name}/{w.name}": np.asarray(w.numpy())
               for model in (estimator, generator) for layer in model.layers
               for w in layer.weights}
    evaluator = LearnedEvaluator(json.loads(json.dumps(spec)), weights)
    spec["report"] = evaluator.held_out_report(dataset, held)
    evaluator.spec["report"] = spec["report"]
    return Trained(estimator, generator, spec, evaluator)


def _train_generator(dataset, s: TrainSettings, rows, mask, net, train, rng, log):
    import keras
    import tensorflow as tf

    grid = dataset.grid
    labels = soft_labels(dataset.edap, grid, s.temperature)
    generator = build_generator(rows.shape[2], net.shape[1], grid.head_sizes, s)
    steps = -(-len(train) // s.batch_size)
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        s.learning_rate, s.generator_epochs * steps))
    c = [tf.constant(v) for v in (rows, mask, net, *[lab.astype(np.float32) for lab in labels])]

    def step(n):
        with tf.GradientTape() as tape:
            logits = generator([tf.gather(c[0], n), tf.gather(c[1], n), tf.gather(c[2], n)],
                               training=True)
            loss = tf.add_n([tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                tf.gather(lab, n), lg)) for lab, lg in zip(c[3:], logits, strict=True)])
        grads = tape.gradient(loss, generator.trainable_variables)
        opt.apply_gradients(zip(grads, generator.trainable_variables, strict=True))
        return loss

    step = _compiled(step, s.generator_epochs * steps)
    start = time.perf_counter()
    for epoch in range(s.generator_epochs):
        order = rng.permutation(train)
        total = sum(float(step(tf.constant(order[b * s.batch_size:(b + 1) * s.batch_size])))
                    for b in range(steps))
        if epoch == s.generator_epochs - 1:
            log(f"  generator epoch {epoch + 1}/{s.generator_epochs}: cross-entropy "
                f"{total / steps:.3f} [{time.perf_counter() - start:.0f} s]")
    return generator


COMPILE_STEPS = 300
"""Trainings of at least this many steps run as a traced ``tf.function`` (tracing costs
seconds, which a tiny training does not win back); shorter ones run eagerly."""


def _compiled(step, total_steps: int):
    import tensorflow as tf

    return tf.function(step, reduce_retracing=True) if total_steps >= COMPILE_STEPS else step


def save_evaluator(trained: Trained, path, overwrite: bool = False):
    """Write the evaluator folder (``evaluator.json``, ``weights.npz``, ``estimator.keras``,
    ``generator.keras``) atomically; an existing folder is kept unless ``overwrite``."""
    from evoapproxnas.hardware.learned.evaluator import write_folder

    def extra(folder):
        trained.estimator.save(folder / "estimator.keras")
        trained.generator.save(folder / "generator.keras")

    return write_folder(path, trained.spec, trained.evaluator.weights, extra, overwrite)


def load_keras_models(path):
    """The two Keras models of a saved evaluator (``UserError`` when unreadable)."""
    import keras

    import evoapproxnas.hardware.learned.keras_layers  # noqa: F401  (register the layers)
    from evoapproxnas.hardware.learned.evaluator import resolve

    folder = resolve(path)
    out = []
    for name in ("estimator.keras", "generator.keras"):
        try:
            out.append(keras.models.load_model(folder / name))
        except Exception as exc:  # noqa: BLE001  (Keras raises many kinds on a bad file)
            raise UserError(f"{folder / name}: not a readable Keras model "
                            f"({type(exc).__name__}); train the evaluator again") from None
    return tuple(out)
