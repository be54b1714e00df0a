"""The DANCE supernet and its differentiable hardware cost, in TensorFlow (imported only here;
the engine, ``dance``, runs this in a spawned process).

**Supernet.** ``dance.layers`` convolution layers (2x2 max-pooling after
``dance.pool_after``), then global average pooling and a dense classifier. Every layer
mixes its candidate ops with Gumbel-softmax weights (temperature decaying from
``tau_start`` to ``tau_end``): the kernel sizes share one convolution whose kernel is the
weighted sum of each size's own kernel zero-padded to the largest (a convolution is linear
in its kernel, so this is the mixture of the ops' outputs at the cost of one convolution);
the filter counts mix as a soft channel mask (``sum_j w_j [channel < f_j]``); the op
(``dance.ops``) mixes the layer's output ``y``, its stride-2 version at full size (every
second row and column, repeated over the 2x2 block: the supernet keeps one map size) and,
for a skippable layer, its input. The multiplier choice (``dance.multiplier_path``):
"tables" mixes the outputs of the convolution run through every multiplier's product table
(``ApproxConv2D``'s training arithmetic, straight-through gradient; one convolution per
multiplier), "noise" adds Gaussian noise of standard deviation ``sum_m w_m r_m`` to the
batch-normalised (unit-variance) output, ``r_m`` the multiplier's relative RMS product
error (``dance.relative_rms_error``; one convolution). The derived network is trained
through the real tables by the campaign afterwards.

**Cost.** The learned evaluator's two networks, re-run here in TensorFlow from their saved
weights (the numpy evaluator is the reference the tests compare against), read the
*expected* architecture: every layer row's features are their expectation, given the layer
is kept, under the architecture probabilities (``softmax(alpha)``, no Gumbel noise) over
the option tables of ``dance.option_tables`` (exact: a row depends on its layer's choices,
the previous kept layer's filters and the stride-2 steps before it; ``SoftCost.structure``),
each row counted with its keep probability, the network summary from the expected MACs. The
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
        self.tables = tables
        self.pool = [int(i in tables.pool_after) for i in range(len(self.feats))]
        self.halvings = list(tables.halvings)
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

    def structure(self, pf, po):
        """The soft network's layout: per layer its keep probability (not skipped), the
        stride probabilities given it is kept [nS], and the joint probability [nP, nH] of
        the previous kept layer's filter count and of the number of stride-2 steps before it
        (exact: a sum over which earlier layer is the previous kept one, each with the
        distribution of the stride-2 steps before it); and the head's filter probabilities
        (those of the last kept layer). ``po``: per-layer op probabilities (None: conv)."""
        t = self.tables
        n, n_s = len(self.feats), len(t.strides)
        if po is None:
            po = tf.one_hot(tf.zeros([n], tf.int32), len(t.ops))
        keep = tf.reduce_sum(po[:, :n_s], 1)
        skip = po[:, t.ops.index("skip")] if "skip" in t.ops else tf.zeros([n])
        size = sum(self.pool) + n + 2

        def shift(d, k):
            return d if k == 0 else tf.concat([tf.zeros([k]), d[:size - k]], 0)

        def through(d, j):  # stride-2 steps after kept layer j's convolution (unnormalised)
            out = d * po[j, 0]
            return out + shift(d, 1) * po[j, 1] if n_s == 2 else out

        dist = [tf.one_hot(0, size)]  # stride-2 steps at the input of every layer
        for j in range(n - 1):
            dist.append(shift(through(dist[j], j) + dist[j] * skip[j], self.pool[j]))
        strides, joint = [], []
        for i in range(n):
            strides.append(tf.math.divide_no_nan(po[i, :n_s], keep[i]))
            if i == 0:
                joint.append(tf.one_hot([0], self.halvings[0]))
                continue
            q, run = 0.0, 1.0
            for j in range(i - 1, -1, -1):
                steps = shift(through(dist[j], j), sum(self.pool[j:i]))
                q = q + run * pf[j][:, None] * steps[None, :self.halvings[i]]
                run = run * skip[j]
            joint.append(q)
        last, run = 0.0, 1.0
        for j in range(n - 1, -1, -1):
            last = last + run * keep[j] * pf[j]
            run = run * skip[j]
        return keep, strides, joint, last

    def _weights(self, i, pk, pf, pm, layout):
        _, strides, joint, _ = layout
        return tf.einsum("k,f,m,s,ph->kfmsph", pk[i], pf[i], pm[i], strides[i], joint[i])

    def expected_pairs(self, pk, pf, pm, po=None, layout=None):
        """[points, layers + 1, F]: the expected pair features of every row at every point
        (given the layer is kept; ``None`` for an evaluator without them)."""
        if self.pairs is None:
            return None
        layout = layout or self.structure(pf, po)
        out = [tf.einsum("kfmsph,kfmsphyx->yx", self._weights(i, pk, pf, pm, layout), table)
               for i, table in enumerate(self.pairs)]
        out.append(tf.einsum("f,fyx->yx", layout[3], self.head_pairs))
        return tf.stack(out, 1)

    def expected(self, pk, pf, pm, po=None, layout=None):
        """Standardised rows [layers + 1, F] (each layer's expected features given it is
        kept), network summary [Fn] and row weights [layers + 1] (the keep probabilities;
        the head's 1) of the architecture of per-layer probabilities ``pk`` (kernels),
        ``pf`` (filters), ``pm`` (multipliers), ``po`` (ops; None: all conv)."""
        layout = layout or self.structure(pf, po)
        keep, _, _, last = layout
        rows, macs, figm = [], [], []
        for i in range(len(self.feats)):
            weight = self._weights(i, pk, pf, pm, layout)
            rows.append(tf.einsum("kfmsph,kfmsphx->x", weight, self.feats[i]))
            macs.append(keep[i] * tf.reduce_sum(weight * self.macs[i]))
            figm.append(keep[i] * tf.einsum("kfmsph,kfmsphx->x", weight, self.figm[i]))
        rows.append(tf.linalg.matvec(self.head_feats, last, transpose_a=True))
        macs.append(tf.reduce_sum(last * self.head_macs))
        figm.append(tf.linalg.matvec(self.head_figm, last, transpose_a=True))
        total = tf.add_n(macs)
        row_w = tf.concat([keep, [1.0]], 0)
        raw = tf.concat([[tf.math.log(total) / np.log(2.0)], tf.add_n(figm) / total,
                         [tf.reduce_sum(row_w) / 10.0]], 0)
        return tf.stack(rows), (raw - self.n_mean) / self.n_std, row_w

    def log_costs(self, rows, net, pairs=None, row_w=None):
        """[points, 3]: log latency_cycles, energy_pj, area_um2 at every grid point
        (``pairs``: ``expected_pairs``, for an evaluator trained with them; ``row_w``: the
        rows' weights, each row's cycles and energy counted that many times)."""
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
        if row_w is not None:
            per = per + tf.math.log(tf.maximum(row_w, 1e-30))[None, :, None]
        totals = tf.reduce_logsumexp(per, axis=1)
        k = tf.shape(self.cfg)[0]
        a = tf.concat([self.cfg, tf.tile(net[None], [k, 1])], 1)
        for i in range(2):
            a = tf.nn.relu(a @ w[f"area_mlp_{i}/kernel"] + w[f"area_mlp_{i}/bias"])
        area = (a @ w["area_out/kernel"] + w["area_out/bias"]) * self.area_t[1] + self.area_t[0]
        return tf.concat([totals, area], 1)

    def point_probs(self, rows, net, row_w=None):
        """[points]: the generation network's probability of every grid point (the product
        of its three heads' softmaxes, in grid order). With row weights, the mean over rows
        is weighted and the max is over ``weight * h`` (h >= 0 after the ReLU: exact for
        weights 0 or 1)."""
        w = self.w
        h = rows
        for i in range(2):
            h = tf.nn.relu(h @ w[f"gen_layer_mlp_{i}/kernel"] + w[f"gen_layer_mlp_{i}/bias"])
        if row_w is None:
            row_w = tf.ones([tf.shape(h)[0]])
        mean = tf.linalg.matvec(h, row_w, transpose_a=True) / tf.reduce_sum(row_w)
        z = tf.concat([mean, tf.reduce_max(h * row_w[:, None], 0), net], 0)[None]
        for i in range(2):
            z = tf.nn.relu(z @ w[f"gen_mlp_{i}/kernel"] + w[f"gen_mlp_{i}/bias"])
        f, a, g = (tf.nn.softmax(z @ w[f"head_{n}/kernel"] + w[f"head_{n}/bias"])[0]
                   for n in ("dataflow", "array", "glb"))
        return tf.reshape(f[:, None, None] * a[None, :, None] * g[None, None, :], [-1])

    def log_edap(self, pk, pf, pm, po, fixed_point: int | None):
        """log of the expected EDAP (generated accelerator) or of the EDAP at
        ``fixed_point``, and the grid-point probabilities."""
        layout = self.structure(pf, po)
        rows, net, row_w = self.expected(pk, pf, pm, layout=layout)
        pairs = self.expected_pairs(pk, pf, pm, layout=layout)
        log_edap = tf.reduce_sum(self.log_costs(rows, net, pairs, row_w), 1)
        if fixed_point is not None:
            return log_edap[fixed_point], tf.one_hot(fixed_point, tf.shape(log_edap)[0])
        probs = self.point_probs(rows, net, row_w)
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
                            (n_m, t.n_multipliers), (n_layers, len(t.ops))]
        self.arch = [tf.Variable(tf.zeros(shape)) for shape in self.arch_shapes]
        skippable = list(t.skippable) or [False] * n_layers
        self.skip_col = t.ops.index("skip") if "skip" in t.ops else None
        mask = np.zeros(self.arch_shapes[3], np.float32)
        if self.skip_col is not None:  # the layers that may not skip
            mask[[not v for v in skippable], self.skip_col] = -1e9
        self.arch_masks = [0.0, 0.0, 0.0, tf.constant(mask)]
        self.channel_masks = tf.constant(
            (np.arange(fmax)[None, :] < np.asarray(t.filters)[:, None]).astype(np.float32))
        self.noise = tf.constant(t.noise, tf.float32)
        self.pools = [i in t.pool_after and min(t.input_hw[i]) >= 2 for i in range(n_layers)]
        self.approx: list[list] = []  # "tables": per layer, one approximate conv per multiplier
        if s.multiplier_path == "tables":
            from evoapproxnas.approx.layers import ApproxConv2D

            for i in range(n_layers):
                cin = t.input_channels if i == 0 else fmax
                row = []
                for (name, library), exact in zip(t.multipliers, t.exact, strict=True):
                    layer = ApproxConv2D(fmax, kmax, padding="same", use_bias=False,
                                         multiplier=name, library=library,
                                         approx_training=not exact)
                    layer.build((None, *t.input_hw[i], cin))
                    row.append(layer)
                self.approx.append(row)

    def reset(self) -> None:
        for var, value in zip(self.weights, self.init, strict=True):
            var.assign(value)
        for var in self.arch:
            var.assign(tf.zeros_like(var))
        for row in self.approx:
            for layer in row:
                layer.input_range.assign(tf.zeros([3]))

    def probs(self):
        """The architecture probabilities (kernels, filters, multipliers, ops)."""
        return [tf.nn.softmax(a + m) for a, m in zip(self.arch, self.arch_masks, strict=True)]

    def derived(self):
        """The argmax of every decision (skip only where allowed)."""
        return [np.argmax((a + m).numpy(), axis=1)
                for a, m in zip(self.arch, self.arch_masks, strict=True)]

    def multiplier_probs(self, pm):
        n = self.settings.layers
        return tf.repeat(pm, n, axis=0) if self.tables.shared_multiplier else pm

    def conv(self, i, x, kernel, wm):
        """Layer ``i``'s mixed-kernel convolution of ``x``, its multiplier choice mixed
        with weights ``wm`` ("tables": each multiplier's approximate layer, training mode,
        straight-through; "noise": the exact float convolution)."""
        if not self.approx:
            return tf.nn.conv2d(x, kernel, 1, "SAME")
        return tf.add_n([wm[m] * layer._forward(x, kernel, True)
                         for m, layer in enumerate(self.approx[i])])

    @staticmethod
    def stride2(y):
        """A stride-2 layer at full size: the output at every second row and column,
        repeated over its 2x2 block (maps smaller than 2x2 keep stride 1)."""
        h, w = int(y.shape[1]), int(y.shape[2])
        if min(h, w) < 2:
            return y
        z = tf.repeat(tf.repeat(y[:, ::2, ::2], 2, axis=1), 2, axis=2)
        return z[:, :h, :w]

    def logits(self, x, mix, step):
        """Class scores of images ``x`` with per-layer op weights ``mix = (wk, wf, wm, wo)``."""
        wk, wf, wm, wo = mix
        wm = self.multiplier_probs(wm)
        n_s = len(self.tables.strides)
        for i in range(self.settings.layers):
            kernel = tf.einsum("k,kabcd->abcd", wk[i], self.weights[2 * i] * self.kmasks[i])
            y = self.conv(i, x, kernel, wm[i])
            mean, var = tf.nn.moments(y, [0, 1, 2])  # batch normalisation, no affine
            y = (y - mean) * tf.math.rsqrt(var + 1e-5) + self.weights[2 * i + 1]
            if not self.approx:
                sigma = tf.reduce_sum(wm[i] * self.noise)
                eps = tf.random.stateless_normal(tf.shape(y),
                                                 tf.stack([self.seed, step * 64 + i]))
                y = y + sigma * eps  # unit-variance outputs: noise of std sigma
            y = tf.nn.relu(y) * tf.linalg.matvec(self.channel_masks, wf[i], transpose_a=True)
            out = wo[i, 0] * y
            if n_s == 2:
                out = out + wo[i, 1] * self.stride2(y)
            if self.skip_col is not None and self.tables.skippable[i]:
                out = out + wo[i, self.skip_col] * x
            if self.pools[i]:
                out = tf.nn.max_pool2d(out, 2, 2, "SAME")
            x = out
        head_w, head_b = self.weights[-2], self.weights[-1]
        return tf.reduce_mean(x, [1, 2]) @ head_w + head_b


def search_all(task: SupernetTask) -> list[LambdaResult]:
    """Train one supernet per ``dance.lambdas`` value; their derived choices."""
    s = task.settings
    cost = SoftCost(load_evaluator(task.evaluator_path), task.tables)
    net = Supernet(task)
    w_opt, a_opt = _Adam(net.weights, s.learning_rate), _Adam(net.arch, s.arch_learning_rate)
    fixed = task.fixed_point

    def soft_cost():
        pk, pf, pm, po = net.probs()
        return cost.log_edap(pk, pf, net.multiplier_probs(pm), po, fixed)

    log_ref = float(soft_cost()[0])  # the uniform architecture (arch weights 0)
    x_all = tf.constant(task.x_train.reshape(len(task.x_train), *task.x_train.shape[1:3], -1))
    y_all = tf.constant(task.y_train.astype(np.int64))

    def step(idx, gumbel, tau, lam, k, arch):
        x, y = tf.gather(x_all, idx), tf.gather(y_all, idx)
        with tf.GradientTape(persistent=True) as tape:
            mix, i = [], 0
            for a, m, shape in zip(net.arch, net.arch_masks, net.arch_shapes, strict=True):
                n = shape[0] * shape[1]
                mix.append(tf.nn.softmax((a + tf.reshape(gumbel[i:i + n], shape)) / tau + m))
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
        k, ce_epoch, times = 0, [], []
        for _epoch in range(s.epochs):
            order = rng.permutation(n)
            ce_epoch = []
            for b in range(per_epoch):
                tau = s.tau_start * (s.tau_end / s.tau_start) ** (k / max(1, total - 1))
                gumbel = rng.gumbel(size=n_gumbel).astype(np.float32)
                t0 = time.perf_counter()
                ce_epoch.append(float(fn(tf.constant(order[b * s.batch_size:(b + 1)
                                                           * s.batch_size]),
                                         tf.constant(gumbel), tf.constant(tau, tf.float32),
                                         tf.constant(float(lam)), tf.constant(k),
                                         k >= warm)))
                times.append(time.perf_counter() - t0)
                k += 1
        kernel, filters, mult, ops = net.derived()
        log_edap, point_p = soft_cost()
        hard = [tf.one_hot(c, shape[1]) for c, shape in zip((kernel, filters, mult, ops),
                                                            net.arch_shapes, strict=True)]
        _, hard_p = cost.log_edap(hard[0], hard[1], net.multiplier_probs(hard[2]), hard[3],
                                  fixed)
        results.append(LambdaResult(
            float(lam), tuple(int(v) for v in kernel), tuple(int(v) for v in filters),
            tuple(int(v) for v in mult), float(np.mean(ce_epoch)),
            float(np.exp(float(log_edap) - log_ref)), int(np.argmax(hard_p.numpy())),
            time.perf_counter() - start, tuple(int(v) for v in ops),
            float(np.mean(times[1:] if len(times) > 2 else times))))
    return results
