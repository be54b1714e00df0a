"""The Keras layers of the learned evaluator's networks (TensorFlow: import this module only
where tensors are). Each is registered as serializable, so ``.keras`` files load by name."""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "evoapproxnas.learned"


@keras.saving.register_keras_serializable(package=PACKAGE)
class BroadcastConcat(keras.layers.Layer):
    """``[rows (B, L, F), table (B, G)] -> (B, L, F + G)``: the table beside every row."""

    def call(self, inputs):
        rows, table = inputs
        tiled = ops.repeat(ops.expand_dims(table, 1), ops.shape(rows)[1], axis=1)
        return ops.concatenate([rows, tiled], axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedLogSumExp(keras.layers.Layer):
    """``[values (B, L, K), mask (B, L)] -> (B, K)``: log of the sum over the real rows of
    exp(values), i.e. the log of a network's total from its layers' logs."""

    def call(self, inputs):
        values, mask = inputs
        big = ops.where(ops.expand_dims(mask, -1) > 0, values, ops.full_like(values, -1e30))
        return ops.logsumexp(big, axis=1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedPool(keras.layers.Layer):
    """``[rows (B, L, H), mask (B, L)] -> (B, 2H)``: mean and maximum over the real rows."""

    def call(self, inputs):
        rows, mask = inputs
        m = ops.expand_dims(mask, -1)
        mean = ops.sum(rows * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)
        top = ops.max(ops.where(m > 0, rows, ops.full_like(rows, -1e30)), axis=1)
        return ops.concatenate([mean, top], axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Affine(keras.layers.Layer):
    """``offset + scale * x`` with fixed per-column constants (targets' mean and spread)."""

    def __init__(self, offset, scale, **kwargs):
        super().__init__(**kwargs)
        self.offset = [float(v) for v in offset]
        self.scale = [float(v) for v in scale]

    def call(self, x):
        return ops.convert_to_tensor(self.offset, dtype=x.dtype) \
            + ops.convert_to_tensor(self.scale, dtype=x.dtype) * x

    def get_config(self):
        return {**super().get_config(), "offset": self.offset, "scale": self.scale}
