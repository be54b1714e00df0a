"""The DANCE supernet and its differentiable hardware cost, in TensorFlow (imported only here;
the engine, ``dance``, runs this in a spawned process).

**Supernet.** ``dance.layers`` convolution layers (stride 1, 2x2 max-pooling after
``dance.pool_after``), then global average pooling and a dense classifier. Every layer
mixes its candidate ops with Gumbel-softmax weights (temperature decaying from
``tau_start`` to ``tau_end``): the kernel sizes share one convolution whose kernel is the
weighted sum of each size's own kernel zero-padded to the largest (a convolution is linear
in its kernel, so this is the mixture of the ops' outputs at the cost of one convolution);
the filter counts mix as a soft channel mask (``sum_j w_j [channel < f_j]``); the
multiplier choice mixes through a **differentiable proxy** of its accuracy effect: the
layer's output, batch-normalised (no affine: unit variance), gets Gaussian noise of
standard deviation ``sum_m w_m r_m``, ``r_m`` the multiplier's relative RMS product error over
all operand pairs (``dance.relative_rms_error``, from its product table). Running every
multiplier's table per step (the custom op, whose gradient is straight-through) would cost
one table convolution per multiplier per layer per step, too slow on a CPU; the derived
network is trained through the real tables by the campaign afterwards.

**Cost.** The learned evaluator's two networks, re-run here in TensorFlow from their saved
weights (the numpy evaluator is the reference the tests compare against), read the
*expected* architecture: every layer row's features are their expectation under the
architecture probabilities (``softmax(alpha)``, no Gumbel noise) over the option tables of
``dance.option_tables`` (exact for the per-layer features, which depend on one layer's
choices and the previous layer's filters), the network summary from the expected MACs. The
hardware generation network's softmax heads give a probability per grid point; the cost is
the expected EDAP under it (``accelerator = "generated"``) or the EDAP at the preset's
point (``"fixed"``), divided by that of the uniform architecture: ``loss = cross-entropy +
lambda * EDAP / EDAP_0``. Weights and architecture take one Adam step each per batch, on the
same batch (single-level). Every lambda starts from the same weights, batch order and
noise (all drawn from the seed), so lambdas differ by lambda only. The first ``dance.warmup``
share of the steps trains the weights only (the architecture weights stay uniform).
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from evoapproxnas.hardware.learned.evaluator import LearnedEvaluator, load_evaluator
from evoapproxnas.search.engines.dance_task import LambdaResult, OptionTables, SupernetTask

COMPILE_STEPS = 20
"""Fewer total steps run eagerly (tracing a step costs more than it saves)."""


class SoftCost:
    """log (latency, energy, area) of an expected architecture at every grid point, and the
    generation network's grid-point probabilities, differentiable in the probabilities."""

    def __init__(self, evaluator: LearnedEvaluator, tables: OptionTables) -> None:
        ev = evaluator
        (ml, sl), (mn, sn) = ev._norm["layer"], ev._norm["network"]
        self.n_mean, self.n_std = tf.constant(mn), tf.constant(sn)

        def std(x):
            return tf.constant((np.asarray(x, np.float32) - ml) / sl, tf.float32)

        self.feats = [std(t) for t in tables.layer_features]
        self.macs = [tf.constant(m, tf.float32) for m in tables.layer_macs]
        self.figm = [tf.constant(m[..., None] * f, tf.float32)
                     for m, f in zip(tables.layer_macs, tables.layer_figures, strict=True)]
        self.head_feats = std(tables.head_features)
        self.head_macs = tf.constant(tables.head_macs, tf.float32)
        self.head_figm = tf.constant(tables.head_macs[:, None] * tables.head_figures, tf.float32)
        self.n_rows = len(tables.layer_features) + 1
        w = {k: tf.constant(v, tf.float32) for k, v in ev.weights.items()}
        self.w = w
        n_layer, n_cfg = self.feats[0].shape[-1], ev._cfg.shape[1]
        self.w0_rows = w["layer_mlp_0/kernel"][:n_layer]
        self.w0_cfg = w["layer_mlp_0/kernel"][n_layer:n_layer + n_cfg]
        self.cfg = tf.constant(ev._cfg, tf.float32)
        self.depth = ev._depth
        self.pairs = None  # per layer [nK, nF, nM, nP, points, F], and the head's
        if ev.pair_features:
            self.w0_pair = w["layer_mlp_0/kernel"][n_layer + self.cfg.shape[1]:]
            self.pairs = [self._pair_table(ev, r) for r in tables.layer_rows]
            self.head_pairs = self._pair_table(ev, tables.head_rows)
        self.layer_t = [tf.constant(v, tf.float32) for v in ev._layer_t]
        self.area_t = [tf.constant(v, tf.float32) for v in ev._area_t]

    @staticmethod
    def _pair_table(ev: LearnedEvaluator, rows: np.ndarray):
        """The standardised pair features of option rows ``[..., ROW_COLUMNS]``."""
        from evoapproxnas.hardware.learned import encoding as E

        flat = rows.reshape(-1, rows.shape[-1])
        table = E.NetworkTable(flat, np.zeros((len(flat), 3)), np.arange(len(flat) + 1))
        pf = ev._std("pair", E.pair_features(table, ev.grid))
        return tf.constant(pf.reshape(*rows.shape[:-1], *pf.shape[1:]), tf.float32)

    def expected_pairs(self, pk, pf, pm):
        """[points, layers + 1, F]: the expected pair features of every row at every point
        (``None`` for an evaluator without them)."""
        if self.pairs is None:
            return None
        out = []
        for i, table in enumerate(self.pairs):
            pp = tf.ones([1]) if i == 0 else pf[i - 1]
            weight = tf.einsum("k,f,m,p->kfmp", pk[i], pf[i], pm[i], pp)
            out.append(tf.einsum("kfmp,kfmpyx->yx", weight, table))
        out.append(tf.einsum("f,fyx->yx", pf[len(self.pairs) - 1], self.head_pairs))
        return tf.stack(out, 1)

    def expected(self, pk, pf, pm):
        """Standardised rows [layers + 1, F] and network summary [Fn] of the architecture
        of per-layer probabilities ``pk`` (kernels), ``pf`` (filters), ``pm`` (multipliers)."""
        rows, macs, figm = [], [], []
        for i in range(self.n_rows - 1):
            pp = tf.ones([1]) if i == 0 else pf[i - 1]
            weight = tf.einsum("k,f,m,p->kfmp", pk[i], pf[i], pm[i], pp)
            rows.append(tf.einsum("kfmp,kfmpx->x", weight, self.feats[i]))
            macs.append(tf.reduce_sum(weight * self.macs[i]))
            figm.append(tf.einsum("kfmp,kfmpx->x", weight, self.figm[i]))
        last = pf[self.n_rows - 2]
        rows.append(tf.linalg.matvec(self.head_feats, last, transpose_a=True))
        macs.append(tf.reduce_sum(last * self.head_macs))
        figm.append(tf.linalg.matvec(self.head_figm, last, transpose_a=True))
        total = tf.add_n(macs)
        raw = tf.concat([[tf.math.log(total) / np.log(2.0)], tf.add_n(figm) / total,
                         [self.n_rows / 10.0]], 0)
        return tf.stack(rows), (raw - self.n_mean) / self.n_std

    def log_costs(self, rows, net, pairs=None):
        """[points, 3]: log latency_cycles, energy_pj, area_um2 at every grid point
        (``pairs``: ``expected_pairs``, for an evaluator trained with them)."""
        w = self.w
        pre = (rows @ self.w0_rows)[None] + (self.cfg @ self.w0_cfg
                                             + w["layer_mlp_0/bias"])[:, None, :]
        if pairs is not None:
            pre = pre + pairs @ self.w0_pair
        h = tf.nn.relu(pre)
        for i in range(1, self.depth):
            h = tf.nn.relu(h @ w[f"layer_mlp_{i}/kernel"] + w[f"layer_mlp_{i}/bias"])
        per = (h @ w["layer_out/kernel"] + w["layer_out/bias"]) * self.layer_t[1] \
            + self.layer_t[0]
        totals = tf.reduce_logsumexp(per, axis=1)
        k = tf.shape(self.cfg)[0]
        a = tf.concat([self.cfg, tf.tile(net[None], [k, 1])], 1)
        for i in range(2):
            a = tf.nn.relu(a @ w[f"area_mlp_{i}/kernel"] + w[f"area_mlp_{i}/bias"])
        area = (a @ w["area_out/kernel"] + w["area_out/bias"]) * self.area_t[1] + self.area_t[0]
        return tf.concat([totals, area], 1)

    def point_probs(self, rows, net):
        """[points]: the generation network's probability of every grid point (the product
        of its three heads' softmaxes, in grid order)."""
        w = self.w
        h = rows
        for i in range(2):
            h = tf.nn.relu(h @ w[f"gen_layer_mlp_{i}/kernel"] + w[f"gen_layer_mlp_{i}/bias"])
        z = tf.concat([tf.reduce_mean(h, 0), tf.reduce_max(h, 0), net], 0)[None]
        for i in range(2):
            z = tf.nn.relu(z @ w[f"gen_mlp_{i}/kernel"] + w[f"gen_mlp_{i}/bias"])
        f, a, g = (tf.nn.softmax(z @ w[f"head_{n}/kernel"] + w[f"head_{n}/bias"])[0]
                   for n in ("dataflow", "array", "glb"))
        return tf.reshape(f[:, None, None] * a[None, :, None] * g[None, None, :], [-1])

    def log_edap(self, pk, pf, pm, fixed_point: int | None):
        """log of the expected EDAP (generated accelerator) or of the EDAP at
        ``fixed_point``, and the grid-point probabilities."""
        rows, net = self.expected(pk, pf, pm)
        log_edap = tf.reduce_sum(self.log_costs(rows, net, self.expected_pairs(pk, pf, pm)), 1)
        if fixed_point is not None:
            return log_edap[fixed_point], tf.one_hot(fixed_point, tf.shape(log_edap)[0])
        probs = self.point_probs(rows, net)
        return tf.reduce_logsumexp(log_edap + tf.math.log(probs + 1e-12)), probs


class _Adam:
    """Adam over a list of variables (plain TensorFlow; deterministic)."""

    def __init__(self, variables, lr: float) -> None:
        self.vars, self.lr = variables, lr
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.t = tf.Variable(0.0)

    def reset(self) -> None:
        for s in (*self.m, *self.v):
            s.assign(tf.zeros_like(s))
        self.t.assign(0.0)

    def step(self, grads) -> None:
        self.t.assign_add(1.0)
        b1, b2 = 0.9, 0.999
        scale = self.lr * tf.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for var, g, m, v in zip(self.vars, grads, self.m, self.v, strict=True):
            m.assign(b1 * m + (1 - b1) * g)
            v.assign(b2 * v + (1 - b2) * g * g)
            var.assign_sub(scale * m / (tf.sqrt(v) + 1e-8))


class Supernet:
    """The weights and architecture parameters of one supernet (module docstring)."""

    def __init__(self, task: SupernetTask) -> None:
        t, s = task.tables, task.settings
        self.tables, self.settings, self.seed = t, s, task.seed
        rng = np.random.default_rng(task.seed)
        n_layers, kmax, fmax = s.layers, max(t.kernels), max(t.filters)
        self.init: list[np.ndarray] = []
        masks = []
        for i in range(n_layers):
            cin = t.input_channels if i == 0 else fmax
            w = np.zeros((len(t.kernels), kmax, kmax, cin, fmax), np.float32)
            mask = np.zeros((len(t.kernels), kmax, kmax, 1, 1), np.float32)
            for j, k in enumerate(t.kernels):
                lo = (kmax - k) // 2
                w[j, lo:lo + k, lo:lo + k] = rng.normal(0, np.sqrt(2.0 / (k * k * cin)),
                                                        (k, k, cin, fmax))
                mask[j, lo:lo + k, lo:lo + k] = 1.0
            masks.append(tf.constant(mask))
            self.init += [w, np.zeros(fmax, np.float32)]
        self.init += [rng.normal(0, np.sqrt(1.0 / fmax), (fmax, t.n_classes)).astype(np.float32),
                      np.zeros(t.n_classes, np.float32)]
        self.kmasks = masks
        self.weights = [tf.Variable(v) for v in self.init]
        n_m = 1 if t.shared_multiplier else n_layers
        self.arch_shapes = [(n_layers, len(t.kernels)), (n_layers, len(t.filters)),
                            (n_m, t.n_multipliers)]
        self.arch = [tf.Variable(tf.zeros(shape)) for shape in self.arch_shapes]
        self.channel_masks = tf.constant(
            (np.arange(fmax)[None, :] < np.asarray(t.filters)[:, None]).astype(np.float32))
        self.noise = tf.constant(t.noise, tf.float32)
        self.pools = [i in t.pool_after and min(t.input_hw[i]) >= 2 for i in range(n_layers)]

    def reset(self) -> None:
        for var, value in zip(self.weights, self.init, strict=True):
            var.assign(value)
        for var in self.arch:
            var.assign(tf.zeros_like(var))

    def multiplier_probs(self, pm):
        n = self.settings.layers
        return tf.repeat(pm, n, axis=0) if self.tables.shared_multiplier else pm

    def logits(self, x, mix, step):
        """Class scores of images ``x`` with per-layer op weights ``mix = (wk, wf, wm)``."""
        wk, wf, wm = mix
        wm = self.multiplier_probs(wm)
        for i in range(self.settings.layers):
            kernel = tf.einsum("k,kabcd->abcd", wk[i], self.weights[2 * i] * self.kmasks[i])
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
            mean, var = tf.nn.moments(y, [0, 1, 2])  # batch normalisation, no affine
            y = (y - mean) * tf.math.rsqrt(var + 1e-5) + self.weights[2 * i + 1]
            sigma = tf.reduce_sum(wm[i] * self.noise)
            eps = tf.random.stateless_normal(tf.shape(y), tf.stack([self.seed, step * 64 + i]))
            y = y + sigma * eps  # unit-variance outputs: noise of std sigma
            y = tf.nn.relu(y) * tf.linalg.matvec(self.channel_masks, wf[i], transpose_a=True)
            if self.pools[i]:
                y = tf.nn.max_pool2d(y, 2, 2, "SAME")
            x = y
        head_w, head_b = self.weights[-2], self.weights[-1]
        return tf.reduce_mean(x, [1, 2]) @ head_w + head_b


def search_all(task: SupernetTask) -> list[LambdaResult]:
    """Train one supernet per ``dance.lambdas`` value; their derived choices."""
    s = task.settings
    cost = SoftCost(load_evaluator(task.evaluator_path), task.tables)
    net = Supernet(task)
    w_opt, a_opt = _Adam(net.weights, s.learning_rate), _Adam(net.arch, s.arch_learning_rate)
    fixed = task.fixed_point

    def probs():
        return [tf.nn.softmax(a) for a in net.arch]

    def soft_cost():
        pk, pf, pm = probs()
        return cost.log_edap(pk, pf, net.multiplier_probs(pm), fixed)

    log_ref = float(soft_cost()[0])  # the uniform architecture (arch weights 0)
    x_all = tf.constant(task.x_train.reshape(len(task.x_train), *task.x_train.shape[1:3], -1))
    y_all = tf.constant(task.y_train.astype(np.int64))

    def step(idx, gumbel, tau, lam, k, arch):
        x, y = tf.gather(x_all, idx), tf.gather(y_all, idx)
        with tf.GradientTape(persistent=True) as tape:
            mix, i = [], 0
            for a, shape in zip(net.arch, net.arch_shapes, strict=True):
                n = shape[0] * shape[1]
                mix.append(tf.nn.softmax((a + tf.reshape(gumbel[i:i + n], shape)) / tau))
                i += n
            ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                y, net.logits(x, mix, k)))
            log_edap = soft_cost()[0]
            loss = ce + lam * tf.exp(log_edap - log_ref)
        w_opt.step(tape.gradient(ce, net.weights))
        if arch:
            a_opt.step(tape.gradient(loss, net.arch))
        return ce

    n = len(task.x_train)
    per_epoch = -(-n // s.batch_size)
    total = s.epochs * per_epoch
    fn = tf.function(step, reduce_retracing=True) if total >= COMPILE_STEPS else step
    warm = int(s.warmup * total)
    n_gumbel = sum(a * b for a, b in net.arch_shapes)
    results = []
    for lam in s.lambdas:
        start = time.perf_counter()
        net.reset()
        w_opt.reset()
        a_opt.reset()
        rng = np.random.default_rng(task.seed)
        k, ce_epoch = 0, []
        for _epoch in range(s.epochs):
            order = rng.permutation(n)
            ce_epoch = []
            for b in range(per_epoch):
                tau = s.tau_start * (s.tau_end / s.tau_start) ** (k / max(1, total - 1))
                gumbel = rng.gumbel(size=n_gumbel).astype(np.float32)
                ce_epoch.append(float(fn(tf.constant(order[b * s.batch_size:(b + 1)
                                                           * s.batch_size]),
                                         tf.constant(gumbel), tf.constant(tau, tf.float32),
                                         tf.constant(float(lam)), tf.constant(k),
                                         k >= warm)))
                k += 1
        kernel, filters, mult = (np.argmax(a.numpy(), axis=1) for a in net.arch)
        log_edap, point_p = soft_cost()
        hard = [tf.one_hot(c, shape[1]) for c, shape in zip((kernel, filters, mult),
                                                            net.arch_shapes, strict=True)]
        _, hard_p = cost.log_edap(hard[0], hard[1], net.multiplier_probs(hard[2]), fixed)
        results.append(LambdaResult(
            float(lam), tuple(int(v) for v in kernel), tuple(int(v) for v in filters),
            tuple(int(v) for v in mult), float(np.mean(ce_epoch)),
            float(np.exp(float(log_edap) - log_ref)), int(np.argmax(hard_p.numpy())),
            time.perf_counter() - start))
    return results
