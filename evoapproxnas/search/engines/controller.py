"""The REINFORCE controller's policy: an autoregressive GRU over categorical decisions, and
Adam, in numpy (no TensorFlow).

The policy emits one decision after another (``sizes[t]`` options at step ``t``). A step's
input is the embedding of the previous decision's choice (a start vector at step 0; one
embedding table per decision size) plus a learned embedding of the step; a GRU cell
updates the hidden state (zero at first) and the softmax head of the step's decision size
(shared by the steps of that size) gives its choice probabilities.

Why numpy and not Keras: a checkpoint must resume a killed run exactly. Plain arrays (the
weights, Adam's moments and step count, a ``numpy.random.Generator``) pickle with the
engine and give the same bits after loading, on any machine state, with no TensorFlow in
the campaign's main process (it imports none today; a worker pool forks from it) and no
dependence on TensorFlow's kernel choice (oneDNN or Eigen). The network is tiny (a few
thousand weights), so numpy costs nothing in speed. ``loss_and_grads`` is checked against
finite differences in the tests.
"""

from __future__ import annotations

import numpy as np

INIT_SCALE = 0.1
"""Weights start uniform in [-INIT_SCALE, INIT_SCALE] (as NAS controllers do)."""
MAX_GRAD_NORM = 5.0
"""Gradients are scaled down to this global norm before an Adam step."""


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


class GRUPolicy:
    """An autoregressive policy over decisions of ``sizes`` (each at least 2 options).

    ``params`` (a dict of arrays) holds every weight; ``sample`` draws a batch of choice
    sequences; ``loss_and_grads`` gives the REINFORCE loss of a batch (advantage-weighted
    log-probabilities plus an entropy bonus) and its gradient by backpropagation through
    time.
    """

    def __init__(self, sizes, hidden_units: int, embedding_units: int,
                 rng: np.random.Generator) -> None:
        self.sizes = [int(n) for n in sizes]
        if any(n < 2 for n in self.sizes):
            raise ValueError("GRUPolicy: every decision needs at least two options")
        h, e, steps = int(hidden_units), int(embedding_units), len(self.sizes)
        shapes = {"start": (e,), "pos": (steps, e), "Wzr": (e, 2 * h), "Uzr": (h, 2 * h),
                  "bzr": (2 * h,), "Wh": (e, h), "Uh": (h, h), "bh": (h,)}
        for n in sorted(set(self.sizes)):
            shapes.update({f"emb{n}": (n, e), f"V{n}": (h, n), f"c{n}": (n,)})
        self.params = {name: rng.uniform(-INIT_SCALE, INIT_SCALE, shape)
                       for name, shape in shapes.items()}
        self.hidden_units = h

    def _forward(self, batch: int, actions: np.ndarray | None, rng):
        """Run the steps; draws the actions with ``rng`` when ``actions`` is None.
        Returns the actions and each step's cache."""
        p, h_units = self.params, self.hidden_units
        h = np.zeros((batch, h_units))
        steps = []
        chosen = np.zeros((batch, len(self.sizes)), dtype=np.int64)
        for t, n in enumerate(self.sizes):
            if t == 0:
                x = np.broadcast_to(p["start"], (batch, p["start"].size))
            else:
                x = p[f"emb{self.sizes[t - 1]}"][chosen[:, t - 1]]
            x = x + p["pos"][t]
            zr = _sigmoid(x @ p["Wzr"] + h @ p["Uzr"] + p["bzr"])
            z, r = zr[:, :h_units], zr[:, h_units:]
            hh = np.tanh(x @ p["Wh"] + (r * h) @ p["Uh"] + p["bh"])
            new = (1.0 - z) * h + z * hh
            logits = new @ p[f"V{n}"] + p[f"c{n}"]
            logits = logits - logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            probs = np.exp(logp)
            if actions is None:
                u = rng.random(batch)
                a = np.minimum((np.cumsum(probs, axis=1) < u[:, None]).sum(axis=1), n - 1)
            else:
                a = np.asarray(actions[:, t], dtype=np.int64)
            chosen[:, t] = a
            steps.append({"x": x, "h": h, "zr": zr, "hh": hh, "new": new, "probs": probs,
                          "logp": logp})
            h = new
        return chosen, steps

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """``batch`` choice sequences, shape ``(batch, len(sizes))``."""
        return self._forward(batch, None, rng)[0]

    def log_probs(self, actions: np.ndarray) -> np.ndarray:
        """Log-probability of each sequence of ``actions`` (shape ``(batch,)``)."""
        actions = np.asarray(actions, dtype=np.int64)
        _, steps = self._forward(len(actions), actions, None)
        rows = np.arange(len(actions))
        return sum(s["logp"][rows, actions[:, t]] for t, s in enumerate(steps))

    def loss_and_grads(self, actions: np.ndarray, advantages: np.ndarray,
                       entropy_weight: float) -> tuple[float, dict[str, np.ndarray]]:
        """``loss = -mean(A * log pi(actions)) - entropy_weight * mean(sum_t H_t)`` and
        its gradient with respect to every parameter."""
        actions = np.asarray(actions, dtype=np.int64)
        adv = np.asarray(advantages, dtype=float)
        batch = len(actions)
        _, steps = self._forward(batch, actions, None)
        p, h_units = self.params, self.hidden_units
        grads = {name: np.zeros_like(value) for name, value in p.items()}
        rows = np.arange(batch)
        loss = 0.0
        dh_next = np.zeros((batch, h_units))
        for t in range(len(self.sizes) - 1, -1, -1):
            n, s = self.sizes[t], steps[t]
            probs, logp = s["probs"], s["logp"]
            entropy = -(probs * logp).sum(axis=1)
            loss += float(-(adv * logp[rows, actions[:, t]]).mean()
                          - entropy_weight * entropy.mean())
            onehot = np.zeros_like(probs)
            onehot[rows, actions[:, t]] = 1.0
            dlogits = (adv[:, None] * (probs - onehot)
                       + entropy_weight * probs * (logp + entropy[:, None])) / batch
            grads[f"V{n}"] += s["new"].T @ dlogits
            grads[f"c{n}"] += dlogits.sum(axis=0)
            dnew = dlogits @ p[f"V{n}"].T + dh_next
            h, zr, hh, x = s["h"], s["zr"], s["hh"], s["x"]
            z, r = zr[:, :h_units], zr[:, h_units:]
            dz = dnew * (hh - h)
            dh = dnew * (1.0 - z)
            dah = dnew * z * (1.0 - hh * hh)
            grads["Wh"] += x.T @ dah
            grads["Uh"] += (r * h).T @ dah
            grads["bh"] += dah.sum(axis=0)
            drh = dah @ p["Uh"].T
            dr = drh * h
            dh += drh * r
            dx = dah @ p["Wh"].T
            dazr = np.concatenate([dz, dr], axis=1) * zr * (1.0 - zr)
            grads["Wzr"] += x.T @ dazr
            grads["Uzr"] += h.T @ dazr
            grads["bzr"] += dazr.sum(axis=0)
            dh += dazr @ p["Uzr"].T
            dx += dazr @ p["Wzr"].T
            grads["pos"][t] += dx.sum(axis=0)
            if t == 0:
                grads["start"] += dx.sum(axis=0)
            else:
                np.add.at(grads[f"emb{self.sizes[t - 1]}"], actions[:, t - 1], dx)
            dh_next = dh
        return loss, grads


class Adam:
    """Adam (Kingma & Ba) on a dict of numpy arrays, updated in place; its state (moments,
    step count) is plain arrays, so it pickles exactly."""

    def __init__(self, params: dict[str, np.ndarray], learning_rate: float,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.learning_rate, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> float:
        """One update of ``params`` (gradients clipped to ``MAX_GRAD_NORM`` first); returns
        the gradient's global norm before clipping."""
        norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
        scale = MAX_GRAD_NORM / norm if norm > MAX_GRAD_NORM else 1.0
        self.steps += 1
        b1, b2 = self.beta1, self.beta2
        for k in sorted(params):
            g = grads[k] * scale
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1 ** self.steps)
            v_hat = self.v[k] / (1 - b2 ** self.steps)
            params[k] -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
        return norm
