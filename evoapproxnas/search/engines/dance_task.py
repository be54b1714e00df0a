"""The records the differentiable co-search sends to its supernet process and back
(``dance`` builds them, ``dance_supernet`` reads them); numpy only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OptionTables:
    """The supernet's decisions and, per layer, the evaluator's raw inputs of every option
    combination. Layer ``i``'s row (when the layer is not skipped) depends on its kernel
    ``k``, filters ``f``, multiplier ``m``, stride ``s`` (index into ``strides``), the filters
    ``p`` of the previous layer not skipped (the input channels for layer 0, one option) and
    the number ``h`` of stride-2 steps (stride-2 layers and poolings) before it, which sets
    its input size (``dance.halved``); arrays are indexed ``[k, f, m, s, p, h]``. The
    classifier head (exact multiplier) depends on the last kept layer's filters only."""

    kernels: tuple
    filters: tuple
    n_multipliers: int
    shared_multiplier: bool
    ops: tuple = ("conv",)
    """The op decision's options (``DanceConfig.op_names``): conv, then stride2, skip."""
    strides: tuple = (1,)
    """The convolution options' strides (the first ``len(strides)`` ops)."""
    skippable: list = field(default_factory=list)
    """Per layer: may it be skipped."""
    halvings: list = field(default_factory=list)
    """Per layer: nH, the number of possible stride-2 step counts before it (0..nH-1)."""
    layer_features: list = field(default_factory=list)
    """Per layer: float32 [nK, nF, nM, nS, nP, nH, len(LAYER_FEATURES)], unstandardised."""
    layer_macs: list = field(default_factory=list)
    """Per layer: float64 [nK, nF, nM, nS, nP, nH] multiply-accumulates."""
    layer_figures: list = field(default_factory=list)
    """Per layer: float64 [..., 3] power ratio, area / 1000, weight bits / 8."""
    head_features: np.ndarray | None = None
    """float32 [nF, len(LAYER_FEATURES)]."""
    layer_rows: list = field(default_factory=list)
    """Per layer: int64 [nK, nF, nM, nP, len(ROW_COLUMNS)], the rows themselves (for the
    evaluator's pair features, which depend on the accelerator)."""
    head_rows: np.ndarray | None = None
    head_macs: np.ndarray | None = None
    head_figures: np.ndarray | None = None
    input_hw: list = field(default_factory=list)
    """Per layer: (height, width) of its input in the supernet (poolings only: the
    supernet keeps stride-2 layers' maps at full size)."""
    input_channels: int = 1
    n_classes: int = 10
    pool_after: tuple = ()
    noise: np.ndarray | None = None
    """float64 [nM]: each multiplier's relative RMS product error (the accuracy proxy)."""
    multipliers: list = field(default_factory=list)
    """[(name, library)] of every multiplier option (the "tables" path)."""
    exact: list = field(default_factory=list)
    """Per multiplier: is its table exact (the "tables" path runs it as a float convolution)."""



@dataclass(frozen=True)
class SupernetTask:
    """Everything one differentiable search needs, picklable (sent to a spawned process)."""

    settings: object
    """The ``[dance]`` settings (``dance.DanceConfig``)."""
    tables: OptionTables
    evaluator_path: str
    fixed_point: int | None
    """The grid point pricing every architecture (``accelerator = "fixed"``), else None."""
    x_train: np.ndarray
    y_train: np.ndarray
    seed: int


@dataclass(frozen=True)
class LambdaResult:
    """One lambda's search: the derived per-layer option indices and what it ended at."""

    lam: float
    kernel: tuple
    filters: tuple
    multiplier: tuple
    loss: float
    """Mean cross-entropy of the last epoch (soft architecture)."""
    edap_ratio: float
    """Expected EDAP / EDAP of the initial architecture at the end (evaluator's estimate)."""
    point: int
    """The generation network's grid point for the derived network (or the fixed one)."""
    seconds: float
    ops: tuple = ()
    """Per layer: the derived op (index into ``OptionTables.ops``); empty: all conv."""
    step_seconds: float = 0.0
    """Mean seconds per supernet step (the compiled steps, the first left out)."""
