"""The differentiable co-search engine (``search.engine = "dance"``), after DANCE (Choi et
al., DAC 2021): a supernet over the layer-list space is trained once per ``dance.lambdas``
value with the loss ``cross-entropy + lambda * EDAP / EDAP_0``, the EDAP coming from the
learned hardware evaluator (``hardware.evaluator_path``) made differentiable in TensorFlow on
the expected (soft) architecture; each lambda's derived network (argmax of every decision)
is one candidate, which the campaign then trains through its multipliers' tables, prices and
archives like any other (docs/dance.md).

Integration with the campaign loop (no hook in ``search/campaign.py``): the engine speaks
ask/tell. The first ``ask()`` runs the whole differentiable search (in a spawned process, so
the campaign's main process stays free of TensorFlow) and returns the derived candidates;
``tell()`` records their objectives. Later generations ask the same candidates again, which
the campaign's cache answers without training: ``search.generations = 1`` is the natural
setting. The engine is plain picklable state (the results included), so the checkpoint
after generation 1 keeps the search; a run killed during the search repeats it on resume
(same seed, same result).

This module holds what needs no TensorFlow: the ``[dance]`` settings, the per-layer option
tables the soft architecture is priced from (``option_tables``), and the engine;
``dance_supernet`` trains the supernet.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from evoapproxnas.errors import UserError
from evoapproxnas.search.engines.dance_task import LambdaResult, OptionTables, SupernetTask
from evoapproxnas.search.engines.registry import register_engine

ACCELERATORS = ("generated", "fixed")
OPS = ("conv", "stride2", "skip")
"""``dance.ops``: what a supernet layer may be: a stride-1 convolution (always), a stride-2
convolution, or skipped (the derived network drops the layer)."""
MULTIPLIER_PATHS = ("noise", "tables")
"""``dance.multiplier_path``: how the multiplier choice reaches the cross-entropy."""
"""``dance.accelerator``: the hardware generation network's accelerator (co-search), or the
preset's fixed accelerator (the generator bypassed; the comparison of the DANCE paper)."""


@dataclass(frozen=True)
class DanceConfig:
    """``[dance]``: the differentiable co-search (``search.engine = "dance"``; the layer-list
    space, the ASIC model and a learned evaluator in ``hardware.evaluator_path``;
    docs/dance.md)."""

    lambdas: tuple = (0.0, 0.3, 1.0, 3.0)
    """Weights of the hardware term (EDAP relative to that of the initial, uniform
    architecture), one supernet search each; each gives one derived candidate (>= 0)."""
    layers: int = 4
    """Layers of the supernet, within space.min_layers .. space.max_layers: the most a
    derived network has (with "skip" in dance.ops it may have fewer, never fewer than
    space.min_layers)."""
    pool_after: tuple = (0, 1)
    """Layers (0-based) followed by the 2x2 max-pooling (needs space.pooling = true when not
    empty); these layers are never skipped."""
    ops: tuple = ("conv", "stride2", "skip")
    """What each layer may be: "conv" (stride 1, always there), "stride2" (a stride-2
    convolution; needs 2 in space.strides) and "skip" (the layer is dropped: possible for
    layers space.min_layers.. that are not in dance.pool_after, so a derived network keeps
    space.min_layers to dance.layers layers)."""
    multiplier_path: str = "tables"
    """How the multiplier choice reaches the cross-entropy: "tables" (each layer's output
    is the Gumbel-softmax mix of the layer run through every candidate multiplier's product
    table, straight-through gradient; one convolution per multiplier per layer) or "noise"
    (Gaussian noise scaled by the multipliers' relative RMS error; one convolution)."""
    epochs: int = 1
    """Passes of each supernet over its training images (1..1000)."""
    train_samples: int = 3000
    """Training images the supernets see (the first of the campaign's training split)."""
    batch_size: int = 64
    """Images per supernet step."""
    learning_rate: float = 0.003
    """Adam's step for the supernet's weights."""
    arch_learning_rate: float = 0.03
    """Adam's step for the architecture weights (one step per batch, on the same batch:
    single-level optimisation)."""
    warmup: float = 0.25
    """Share of the steps (0 to below 1) that train the supernet's weights only, before the
    architecture weights move."""
    tau_start: float = 5.0
    """Gumbel-softmax temperature at the first step (> 0)."""
    tau_end: float = 0.5
    """Temperature at the last step (> 0); it decays geometrically in between."""
    accelerator: str = "generated"
    """"generated": the hardware generation network chooses the accelerator (its softmax
    weighs the cost estimate at every grid point); "fixed": the preset's accelerator (a
    grid point of the evaluator) prices every architecture."""

    def __post_init__(self) -> None:
        def need(cond: bool, key: str, value, allowed: str) -> None:
            if not cond:
                raise UserError(f"dance.{key} = {value!r} is not allowed; {allowed}")

        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        need(bool(self.lambdas) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and 0 <= v <= 1e6 for v in self.lambdas), "lambdas", list(self.lambdas),
             "give numbers from 0 to 1e6, e.g. [0.0, 0.3, 1.0]")
        need(integer(self.layers) and 1 <= self.layers <= 64, "layers", self.layers,
             "use an integer from 1 to 64")
        need(all(integer(v) for v in self.pool_after)
             and len(set(self.pool_after)) == len(self.pool_after), "pool_after",
             list(self.pool_after), "give distinct layer indices (integers from 0)")
        if any(not 0 <= v < self.layers for v in self.pool_after):
            raise UserError(f"dance.pool_after = {list(self.pool_after)} does not fit dance.layers"
                            f" = {self.layers}: give layer indices from 0 to {self.layers - 1} "
                            "or more layers")
        for key, low, high in (("epochs", 1, 1000), ("train_samples", 1, 10**7),
                               ("batch_size", 1, 65536)):
            value = getattr(self, key)
            need(integer(value) and low <= value <= high, key, value,
                 f"use an integer from {low} to {high}")
        for key in ("learning_rate", "arch_learning_rate"):
            need(0 < getattr(self, key) <= 10, key, getattr(self, key), "use a number in (0, 10]")
        need(isinstance(self.warmup, (int, float)) and 0 <= self.warmup < 1, "warmup",
             self.warmup, "use a number from 0 to below 1")
        for key in ("tau_start", "tau_end"):
            need(0 < getattr(self, key) <= 100, key, getattr(self, key),
                 "use a number in (0, 100]")
        need(self.accelerator in ACCELERATORS, "accelerator", self.accelerator,
             f"use one of {', '.join(ACCELERATORS)}")
        need(all(v in OPS for v in self.ops) and "conv" in self.ops
             and len(set(self.ops)) == len(self.ops), "ops", list(self.ops),
             f"give distinct names of {', '.join(OPS)}, \"conv\" among them")
        need(self.multiplier_path in MULTIPLIER_PATHS, "multiplier_path", self.multiplier_path,
             f"use one of {', '.join(MULTIPLIER_PATHS)}")

    @property
    def op_names(self) -> tuple:
        """``dance.ops`` in the supernet's order: conv, stride2, skip (those given)."""
        return tuple(o for o in OPS if o in self.ops)

    def conv_strides(self) -> tuple:
        """The strides of the convolution options: (1,) or (1, 2)."""
        return (1, 2) if "stride2" in self.ops else (1,)

    def skippable(self, min_layers: int) -> list[bool]:
        """Per layer: may it be skipped (layers min_layers.. outside ``pool_after``)."""
        return ["skip" in self.ops and i >= min_layers and i not in self.pool_after
                for i in range(self.layers)]

    def check_campaign(self, c) -> None:
        """``UserError`` (one line) when a campaign with ``search.engine = "dance"`` lacks
        what the co-search needs (called by the config's validation)."""
        if c.search.engine != "dance":
            return
        where = f"{c.source}: search.engine = 'dance'"
        space = c.space
        checks = (
            (c.search.mode == "generational", "needs search.mode = 'generational'"),
            (space.kind == "layers", "searches the layer-list space: set space.kind = 'layers'"),
            (c.hardware.model == "asic", "prices with the learned ASIC evaluator: set "
                                         "hardware.model = 'asic'"),
            (bool(c.hardware.evaluator_path), "needs a learned evaluator: set "
                                              "hardware.evaluator_path"),
            (space.min_layers <= self.layers <= space.max_layers,
             f"dance.layers = {self.layers} must be within space.min_layers .. "
             f"space.max_layers ({space.min_layers}..{space.max_layers})"),
            (1 in tuple(space.strides), "needs stride 1 in space.strides"),
            ("stride2" not in self.ops or 2 in tuple(space.strides),
             "dance.ops has \"stride2\", which needs 2 in space.strides (or leave it out)"),
            (space.pooling or not self.pool_after, "dance.pool_after needs "
                                                   "space.pooling = true (or give [])"),
        )
        for ok, why in checks:
            if not ok:
                raise UserError(f"{where} {why}")


# ---- the options the soft architecture is priced from (numpy) ----------------------------
def relative_rms_error(multiplier) -> float:
    """sqrt(mean (lut - exact)^2) / sqrt(mean exact^2) over all operand pairs: the
    multiplier's error relative to the products' size (the supernet's noise proxy)."""
    from evoapproxnas.multipliers.metrics import error_table, exact_products

    err = error_table(multiplier.lut, multiplier.signed, multiplier.weight_bits)
    exact = exact_products(multiplier.signed, multiplier.weight_bits).astype(np.float64)
    return float(np.sqrt(np.mean(err.astype(np.float64) ** 2) / np.mean(exact ** 2)))


def halved(hw: tuple, n: int) -> tuple:
    """The map size after ``n`` stride-2 steps (stride-2 convolutions or 2x2 poolings,
    "same" padding): each halves, rounding up, unless the map is smaller than 2x2, where it
    keeps stride 1 (``cgp.primitives.effective_strides``)."""
    h, w = hw
    for _ in range(n):
        if min(h, w) >= 2:
            h, w = -(-h // 2), -(-w // 2)
    return h, w


def option_tables(space, settings: DanceConfig, choice) -> OptionTables:
    """The ``OptionTables`` of a ``LayerSpace`` for the supernet of ``settings``; ``choice``
    resolves multiplier genes (``MultiplierChoice``; gene ``None``: the exact one)."""
    from evoapproxnas.hardware import layers as L
    from evoapproxnas.hardware.learned import encoding as E
    from evoapproxnas.multipliers.metrics import error_table

    spec = space.spec
    h, w, c0 = space.input_shape
    kernels, filters = tuple(spec.kernel_sizes), tuple(spec.filters)
    mults = [choice.resolve(g) for g in range(spec.n_multipliers)]
    strides = settings.conv_strides()
    out = OptionTables(kernels, filters, spec.n_multipliers, spec.multipliers == "shared",
                       input_channels=int(c0), n_classes=int(space.n_classes),
                       pool_after=tuple(settings.pool_after), ops=settings.op_names,
                       strides=strides, skippable=settings.skippable(spec.min_layers))
    out.noise = np.array([relative_rms_error(m) for m in mults])
    out.multipliers = [(str(m.name), str(m.library)) for m in mults]
    out.exact = [not np.any(error_table(m.lut, m.signed, m.weight_bits)) for m in mults]

    def encode(layers):
        table = E.NetworkTable.from_layers([[layer] for layer in layers])
        macs = np.prod(table.rows[:, 1:8].astype(np.float64), axis=1)
        f = table.figures
        figs = np.stack([f[:, 0], f[:, 1] / 1000.0, f[:, 2] / 8.0], axis=1)
        return E.layer_features(table), macs, figs, table.rows

    pools = 0
    for i in range(settings.layers):
        out.input_hw.append(halved((h, w), pools))  # the supernet's own maps (stride 1)
        # halvings before layer i: the poolings before it and the stride-2 layers, if any
        n_h = pools + (i if 2 in strides else 0) + 1
        out.halvings.append(n_h)
        prev = (int(c0),) if i == 0 else filters
        sizes = [halved((h, w), n) for n in range(n_h)]
        layers = [L.conv_layer(*hw, p, f, k, s if min(hw) >= 2 else 1, "same", 1, m)
                  for k in kernels for f in filters for m in mults for s in strides
                  for p in prev for hw in sizes]  # a small map keeps stride 1 (decode)
        feats, macs, figs, rows = encode(layers)
        shape = (len(kernels), len(filters), len(mults), len(strides), len(prev), n_h)
        out.layer_rows.append(rows.reshape(*shape, -1))
        out.layer_features.append(feats.reshape(*shape, -1))
        out.layer_macs.append(macs.reshape(shape))
        out.layer_figures.append(figs.reshape(*shape, 3))
        pools += int(i in settings.pool_after)
    feats, macs, figs, rows = encode([L.dense_layer(f, space.n_classes, choice.resolve(None))
                                      for f in filters])
    out.head_features, out.head_macs, out.head_figures, out.head_rows = feats, macs, figs, rows
    return out


def derived_genome(space, settings: DanceConfig, kernel, filters, multiplier,
                   ops=None) -> np.ndarray:
    """The layer-space candidate of per-layer option indices (``multiplier``: one index per
    layer, or one for a shared-multiplier space; ``ops``: indices into
    ``settings.op_names``, default all "conv"): the layers not skipped, in order, each with
    its stride, pooling after the layers of ``dance.pool_after``; inactive layers' genes 0."""
    spec = space.spec
    names = settings.op_names
    ops = [0] * settings.layers if ops is None else [int(o) for o in ops]
    kept = [i for i in range(settings.layers) if names[ops[i]] != "skip"]
    genes = np.zeros(space.n_var, dtype=np.int64)
    genes[0] = len(kept) - spec.min_layers
    per = spec.per_layer
    for slot, i in enumerate(kept):
        stride = tuple(spec.strides).index(2 if names[ops[i]] == "stride2" else 1)
        values = {"kernel": int(kernel[i]), "filters": int(filters[i]), "stride": stride,
                  "pool": int(i in settings.pool_after)}
        if spec.multipliers == "per_layer":
            values["multiplier"] = int(multiplier[i])
        for j, gene in enumerate(per):
            genes[1 + slot * len(per) + j] = values[gene]
    if spec.multipliers == "shared":
        genes[-1] = int(multiplier[0])
    if not spec.min_layers <= len(kept) <= spec.max_layers:
        raise ValueError(f"{len(kept)} layers kept, outside space.min_layers .. max_layers")
    return space.validate(genes)


def _run_in_process(task: SupernetTask) -> list[LambdaResult]:
    from evoapproxnas.search.engines.dance_supernet import search_all

    return search_all(task)


@register_engine("dance")
class DanceEngine:
    """Differentiable co-search (module docstring). ``options(cfg)`` gives it the campaign's
    settings; ``spawn=False`` runs the supernet in this process (tests)."""

    spawn = True

    def __init__(self, space, n_obj: int, pop_size: int, seed: int,
                 settings: DanceConfig | None = None, campaign=None) -> None:
        self.space, self.n_obj, self.pop_size, self.seed = space, n_obj, pop_size, seed
        self.settings = settings or DanceConfig()
        self.campaign = campaign
        self.results: list[LambdaResult] = []
        self.candidates: list[np.ndarray] = []
        self.search_seconds = 0.0
        self.told: list[np.ndarray] = []

    @classmethod
    def options(cls, cfg) -> dict:
        """Constructor arguments from a campaign config (``engines.make_engine``)."""
        return {"settings": cfg.dance, "campaign": cfg}

    def task(self) -> SupernetTask:
        """The supernet task of this campaign (its data, tables and evaluator)."""
        from evoapproxnas.data import load_dataset
        from evoapproxnas.hardware.learned.evaluator import load_evaluator
        from evoapproxnas.multipliers import MultiplierChoice, load_library

        cfg = self.campaign
        if cfg is None:
            raise RuntimeError("DanceEngine needs the campaign config (options(cfg))")
        library = load_library(cfg.multipliers.library)  # as search.problem resolves them
        names = list(cfg.multipliers.allowed)
        allowed = list(library) if not names or names == ["all"] else [library[n] for n in names]
        choice = MultiplierChoice.coerce(allowed, library=cfg.multipliers.library)
        tables = option_tables(self.space, self.settings, choice)
        evaluator = load_evaluator(cfg.hardware.evaluator_path)
        config = evaluator.check_settings(cfg.hardware.preset, cfg.hardware.overrides)
        point = None
        if self.settings.accelerator == "fixed":
            point = evaluator.grid.index(config["dataflow"], config["pe_y"], config["pe_x"],
                                         config["glb_kib"])
        kwargs = dict(cfg.data.synthetic) if cfg.data.name == "synthetic" else {}
        data = load_dataset(cfg.data.name, cfg.data.dir or None,  # as search.problem.load_data
                            val_fraction=cfg.data.val_fraction, seed=cfg.search.seed, **kwargs)
        n = min(self.settings.train_samples, len(data.x_train))
        return SupernetTask(self.settings, tables, str(cfg.hardware.evaluator_path), point,
                            np.asarray(data.x_train[:n], np.float32),
                            np.asarray(data.y_train[:n]), int(self.seed))

    def search(self) -> None:
        """Run the differentiable search of every lambda (once)."""
        task = self.task()
        start = time.perf_counter()
        if self.spawn:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
                self.results = ex.submit(_run_in_process, task).result()
        else:
            self.results = _run_in_process(task)
        self.search_seconds = time.perf_counter() - start
        self.candidates = [derived_genome(self.space, self.settings, r.kernel, r.filters,
                                          r.multiplier, r.ops or None) for r in self.results]

    def ask(self) -> list[np.ndarray]:
        """The derived candidates, one per lambda (the search runs on the first call)."""
        if not self.candidates:
            self.search()
        return [c.copy() for c in self.candidates]

    def tell(self, F: np.ndarray, cv: np.ndarray) -> None:
        """Keeps the objective rows (nothing to learn: the search is over)."""
        self.told.append(np.asarray(F, dtype=float))

    def report(self, _records) -> str:
        """A note for the generation line: the search's size and time."""
        return (f", dance: {len(self.results)} lambda(s) searched in "
                f"{self.search_seconds:.0f} s")
