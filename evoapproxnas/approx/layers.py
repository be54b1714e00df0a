"""Keras 3 layers whose multiplications go through an approximate 8xN multiplier's table.

``ApproxConv2D``, ``ApproxDepthwiseConv2D`` and ``ApproxDense`` subclass their Keras
counterparts (same kernel and bias weights, same config keys) and add ``multiplier``,
``library``, ``approx_training`` and ``weight_quantization``. Each adds ONE non-trainable
weight, ``input_range`` (3 floats: EMA of the input's min and max, and the number of updates),
so ``trainable params == the Keras counterpart's`` and ``layer.count_params() == counterpart +
3``.

- ``training=True``: fake-quantized exact layer (fast float path, straight-through gradient);
  the input range is updated (first batch: its min/max; then EMA with ``RANGE_MOMENTUM``).
- ``training=False``: the product-table emulation on 8-bit codes through the custom op, with
  the frozen input range, so an image's output does not depend on its batch.
- ``approx_training=True``: the training forward uses the table, the gradient is the exact
  fake-quantized layer's (straight-through); the float forward is not computed.
Unsigned tables use asymmetric codes with exact zero-point terms: 8-bit activations and
weights of the multiplier's width N (``Multiplier.weight_bits``; codes 0..2**N-1, so an 8x4
multiplier's weights take 16 levels); signed tables (8x8 only) use symmetric int8 codes.
Weights are quantized from their own min and max, per tensor (``weight_quantization=
"per_tensor"``, the default) or per output channel (``"per_channel"``: one scale and zero
point per output channel, ``c * depth_multiplier + q`` for the depthwise layer). The fake-
quantized training path, the table path and training through the tables all use the same
N-bit weights; swapping the multiplier for one of another width (``set_multiplier``) changes N.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from evoapproxnas.approx import fixedpoint, ops, quant
from evoapproxnas.approx.schemes import DEFAULT_WEIGHT_QUANTIZATION, check_weight_quantization
from evoapproxnas.errors import UserError, closest_names

DEFAULT_MULTIPLIER = "mul8u_1JFF"
DEFAULT_LIBRARY = "evoapproxlib8u"
RANGE_MOMENTUM = 0.95
UNCALIBRATED_RANGE = (-6.0, 6.0)  # used only before any training step
PACKAGE = "evoapproxnas"


def resolve_multiplier(multiplier, library: str | None) -> tuple[str, str]:
    """(name, library) from a name (+ library) or a ``Multiplier`` object."""
    if hasattr(multiplier, "lut") and hasattr(multiplier, "name"):
        return str(multiplier.name), str(library or multiplier.library)
    if not isinstance(multiplier, str) or not multiplier:
        raise UserError(
            f"multiplier must be a multiplier name or a Multiplier object, got {multiplier!r}"
        )
    return multiplier, str(library or DEFAULT_LIBRARY)


def load_table(library: str, name: str) -> tuple[np.ndarray, bool]:
    """The product table and signedness of multiplier ``name`` in ``library``."""
    from evoapproxnas.multipliers import load_library

    mult = load_library(library)[name]
    return np.asarray(mult.lut), bool(mult.signed)


class _ApproxMixin:
    """Multiplier bookkeeping, input-range state and the shared quantized arithmetic."""

    _CHANNEL_AXES: tuple[int, ...] = (-1,)
    """Kernel axes that index the output channel (per-channel weight quantization)."""

    def _setup(self, multiplier, library, approx_training, weight_quantization,
               activation_bits=quant.BITS, activation_frac_bits=None,
               weight_frac_bits=None) -> None:
        name, lib = resolve_multiplier(multiplier, library)
        load_table(lib, name)  # fail now, with the library's message, on an unknown name
        self.multiplier = name
        self.library = lib
        self.approx_training = bool(approx_training)
        self.weight_quantization = check_weight_quantization(
            weight_quantization, f"{type(self).__name__}: weight_quantization")
        what = type(self).__name__
        self.activation_bits = fixedpoint.check_bits(activation_bits, f"{what}: activation_bits")
        self.activation_frac_bits = fixedpoint.check_frac_bits(
            activation_frac_bits, self.activation_bits, f"{what}: activation_frac_bits")
        self.weight_frac_bits = weight_frac_bits
        self._check_fixed_point()
        self.supports_jit = False  # the custom op has no XLA kernel

    def _check_fixed_point(self) -> None:
        """Narrow activations and fixed point need an unsigned table; fixed-point weights
        are per tensor and have at most the multiplier's N fractional bits."""
        what = type(self).__name__
        narrow = self.activation_bits != quant.BITS or self.activation_frac_bits is not None \
            or self.weight_frac_bits is not None
        if narrow and load_table(self.library, self.multiplier)[1]:
            raise UserError(f"{what}: activation_bits < 8 and fixed point need an unsigned "
                            f"multiplier, not the signed {self.multiplier}")
        if self.weight_frac_bits is not None:
            self.weight_frac_bits = fixedpoint.check_frac_bits(
                self.weight_frac_bits, self.weight_bits,
                f"{what}: weight_frac_bits (multiplier {self.multiplier}, "
                f"{self.weight_bits}-bit weights)")
            if self.weight_quantization != "per_tensor":
                raise UserError(f"{what}: fixed-point weights (weight_frac_bits) are per "
                                "tensor; use weight_quantization='per_tensor'")

    @property
    def weight_bits(self) -> int:
        """Weight width N of the current multiplier: the kernel is quantized to N-bit codes."""
        lut, signed = load_table(self.library, self.multiplier)
        return quant.BITS if signed else ops.table_weight_bits(lut)

    def build(self, input_shape):
        super().build(input_shape)  # the Keras layer's kernel and bias
        self.input_range = self.add_weight(
            name="input_range", shape=(3,), initializer="zeros", trainable=False
        )

    def call(self, inputs, training=None):
        return self._finish(self._forward(inputs, self.kernel, training))

    def get_config(self):
        config = super().get_config()
        config.update(
            multiplier=self.multiplier, library=self.library, approx_training=self.approx_training,
            weight_quantization=self.weight_quantization,
        )
        if self.activation_bits != quant.BITS or self.activation_frac_bits is not None \
                or self.weight_frac_bits is not None:  # older configs stay as they were
            config.update(activation_bits=self.activation_bits,
                          activation_frac_bits=self.activation_frac_bits,
                          weight_frac_bits=self.weight_frac_bits)
        return config

    def _input_params(self, x, training: bool, signed: bool):
        state = self.input_range
        if training:
            lo_b, hi_b = tf.reduce_min(x), tf.reduce_max(x)
            first = state[2] <= 0.0
            m = RANGE_MOMENTUM
            lo = tf.where(first, lo_b, m * state[0] + (1.0 - m) * lo_b)
            hi = tf.where(first, hi_b, m * state[1] + (1.0 - m) * hi_b)
            state.assign(tf.stack([lo, hi, state[2] + 1.0]))
        else:
            calibrated = state[2] > 0.0
            lo = tf.where(calibrated, state[0], UNCALIBRATED_RANGE[0])
            hi = tf.where(calibrated, state[1], UNCALIBRATED_RANGE[1])
        if self.activation_frac_bits is not None:  # fixed point: the range is only observed
            scale, zero = fixedpoint.activation_fixed_params(self.activation_bits,
                                                             self.activation_frac_bits)
            return tf.constant(scale, tf.float32), tf.constant(zero, tf.float32)
        return quant.range_params(lo, hi, signed, self.activation_bits)

    def _weight_params(self, kernel, signed: bool, bits: int):
        """(scale, zero point) of the kernel's ``bits``-bit codes: scalars per tensor, or per
        output channel shaped to broadcast against the kernel."""
        if self.weight_frac_bits is not None:
            scale, zero = fixedpoint.weight_fixed_params(bits, self.weight_frac_bits)
            return tf.constant(scale, tf.float32), tf.constant(zero, tf.float32)
        axes = self._CHANNEL_AXES if self.weight_quantization == "per_channel" else None
        return quant.weight_params(kernel, signed, bits, axes)

    def _forward(self, x, kernel, training) -> tf.Tensor:
        training = bool(training)
        x = tf.cast(x, tf.float32)
        kernel = tf.cast(kernel, tf.float32)
        lut, signed = load_table(self.library, self.multiplier)
        bits = self.weight_bits
        self._check_fixed_point()  # set_multiplier may have changed N
        sa, za = self._input_params(x, training, signed)
        sw, zw = self._weight_params(kernel, signed, bits)
        if training:
            xq = quant.fake_quant(x, sa, za, signed, self.activation_bits)
            wq = quant.fake_quant(kernel, sw, zw, signed, bits)
            if not self.approx_training:
                return self._float_op(xq, wq)
            table_out = self._table_op(x, kernel, lut, signed, bits, sa, za, sw, zw)
            return self._straight_through(xq, wq, table_out)
        return self._table_op(x, kernel, lut, signed, bits, sa, za, sw, zw)

    def _straight_through(self, xq, wq, table_out) -> tf.Tensor:
        """``table_out`` forward, the exact layer's gradient at ``(xq, wq)`` backward.

        The float forward is never computed: the backward pass calls the exact layer's
        gradient kernels directly (``_float_grads``), so a training step through the tables
        costs the table forward plus an ordinary backward pass.
        """

        @tf.custom_gradient
        def forward(xq, wq, table_out):
            def grad(dy):
                dx, dw = self._float_grads(xq, wq, dy)
                return dx, dw, tf.zeros_like(table_out)

            return tf.identity(table_out), grad

        return forward(xq, wq, tf.stop_gradient(table_out))

    def _table_op(self, x, kernel, lut, signed, bits, sa, za, sw, zw) -> tf.Tensor:
        x, kernel = tf.stop_gradient(x), tf.stop_gradient(kernel)
        qa = ops.quantize_codes(x, sa, za, signed)
        if self.activation_bits < quant.BITS:  # clip(., 0, 255) then min = clip(., 0, top)
            qa = tf.minimum(qa, tf.constant(2**self.activation_bits - 1, qa.dtype))
        qw = quant.to_codes(quant.quantize(kernel, sw, zw, signed, bits), signed)
        if sw.shape.rank:  # per channel: one value per output channel, in output order
            sw, zw = tf.reshape(sw, [-1]), tf.reshape(zw, [-1])
        return self._lut_op(qa, qw, lut, tf.cast(za, tf.int32), tf.cast(zw, tf.int32), sa * sw)

    def _finish(self, y):
        if self.use_bias:
            y = y + self._quantized_bias()
        return self.activation(y) if self.activation is not None else y


    def _quantized_bias(self):
        """The bias; with fixed-point weights, in their format (Lu et al. quantize weights
        and biases alike), straight-through."""
        if self.weight_frac_bits is None:
            return self.bias
        bits = self.weight_bits
        step = 2.0 ** -self.weight_frac_bits
        half = float(2 ** (bits - 1))
        bias = tf.cast(self.bias, tf.float32)
        q = tf.clip_by_value(tf.round(bias / step), -half, half - 1.0) * step
        return bias + tf.stop_gradient(q - bias)


class _SavesRange:
    """One variable layout for all three layers' saved state: ``"0"`` kernel, ``"1"`` bias (only
    with ``use_bias``), then ``input_range`` (``.keras`` and ``.weights.h5`` alike).

    Keras 3's ``Conv2D`` and ``Dense`` override ``save_own_variables``/``load_own_variables``
    to write kernel and bias only (their quantization layouts), while their loading checks
    that the file holds as many entries as the layer has variables. Left to them, the
    ``input_range`` would be dropped (or collide with a quantization entry) and a load would
    fail with "expected 3 variables, but received 2". So the layout is written here in full,
    independent of what the Keras counterpart stores.
    """

    def _saved_variables(self) -> list:
        if not self.built:
            return []
        kernel = getattr(self, "_kernel", None)  # Conv2D/Dense: the variable behind .kernel
        saved = [self.kernel if kernel is None else kernel]
        if self.use_bias:
            saved.append(self.bias)
        saved.append(self.input_range)
        return saved

    def save_own_variables(self, store):
        for i, variable in enumerate(self._saved_variables()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        saved = self._saved_variables()
        n = len(store.keys()) if store is not None else 0
        if n != len(saved):
            if not saved:
                what = "is not built, so it has no variables"
            else:
                what = f"expected {len(saved)} variables ({[v.name for v in saved]})"
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) {what}, but received {n} during "
                "loading (an approximate layer saves kernel, bias if used, and input_range)"
            )
        for i, variable in enumerate(saved):
            variable.assign(store[str(i)])


def _check_conv_options(layer, what: str) -> None:
    if layer.data_format != "channels_last":
        raise UserError(f"{what} supports data_format='channels_last' only")
    if tuple(layer.dilation_rate) != (1, 1):
        raise UserError(f"{what} supports dilation_rate=(1, 1) only")
    if getattr(layer, "groups", 1) != 1:
        raise UserError(f"{what} supports groups=1 only")


@keras.saving.register_keras_serializable(package=PACKAGE)
class ApproxConv2D(_SavesRange, _ApproxMixin, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` (NHWC) whose products come from an approximate multiplier.

    ``weight_quantization``: ``"per_tensor"`` (default) or ``"per_channel"`` (one scale and
    zero point per filter); weights have the multiplier's width N (``weight_bits``).
    """

    _CHANNEL_AXES = (3,)  # HWIO: output channel o

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None,
                 use_bias=True, *, multiplier=DEFAULT_MULTIPLIER, library=None,
                 approx_training=False, weight_quantization=DEFAULT_WEIGHT_QUANTIZATION,
                 activation_bits=quant.BITS, activation_frac_bits=None, weight_frac_bits=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         activation=activation, use_bias=use_bias, **kwargs)
        _check_conv_options(self, "ApproxConv2D")
        self._setup(multiplier, library, approx_training, weight_quantization,
                    activation_bits, activation_frac_bits, weight_frac_bits)

    def _float_op(self, x, w):
        return tf.nn.conv2d(x, w, self.strides, self.padding.upper())

    def _float_grads(self, x, w, dy):
        strides, padding = [1, *self.strides, 1], self.padding.upper()
        dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=w, out_backprop=dy,
                                            strides=strides, padding=padding)
        dw = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(w), out_backprop=dy,
                                             strides=strides, padding=padding)
        return dx, dw

    def _lut_op(self, qa, qw, lut, za, zw, scale):
        return ops.quantized_conv2d(qa, qw, lut, self.strides, self.padding, za, zw, scale)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ApproxDepthwiseConv2D(_SavesRange, _ApproxMixin, keras.layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` (NHWC) with approximate multiplications.

    Per-channel weights have one scale and zero point per output channel ``c * dm + q`` (input
    channel ``c``, depth multiplier index ``q``).
    """

    _CHANNEL_AXES = (2, 3)  # [kh, kw, C, dm]: output channel c * dm + q

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 activation=None, use_bias=True, *, multiplier=DEFAULT_MULTIPLIER,
                 library=None, approx_training=False,
                 weight_quantization=DEFAULT_WEIGHT_QUANTIZATION, activation_bits=quant.BITS,
                 activation_frac_bits=None, weight_frac_bits=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, **kwargs)
        _check_conv_options(self, "ApproxDepthwiseConv2D")
        self._setup(multiplier, library, approx_training, weight_quantization,
                    activation_bits, activation_frac_bits, weight_frac_bits)

    def _float_op(self, x, w):
        return tf.nn.depthwise_conv2d(x, w, (1, *self.strides, 1), self.padding.upper())

    def _float_grads(self, x, w, dy):
        strides, padding = [1, *self.strides, 1], self.padding.upper()
        dx = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
            input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=strides, padding=padding)
        dw = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=strides, padding=padding)
        return dx, dw

    def _lut_op(self, qa, qw, lut, za, zw, scale):
        sums = ops.lut_depthwise_conv2d(qa, qw, lut, self.strides, self.padding, za)
        f64 = tf.float64
        acc = tf.cast(sums, f64)
        if qa.dtype == tf.uint8:  # exact zero-point terms, as in ops.quantized_conv2d
            kh, kw, c, dm = qw.shape
            za64, zw64 = tf.cast(za, f64), tf.cast(zw, f64)
            centred = tf.cast(qa, f64) - za64
            if self.padding == "same":
                pads = ops.conv_pads(qa.shape, kh, kw, self.strides, "same")
                centred = tf.pad(centred, [[0, 0], pads[:2], pads[2:], [0, 0]])
            rows = tf.nn.depthwise_conv2d(centred, tf.ones([kh, kw, c, 1], f64),
                                          (1, *self.strides, 1), "VALID") + kh * kw * za64
            rows = tf.repeat(rows, dm, axis=-1) if dm > 1 else rows
            cols = tf.reshape(tf.reduce_sum(tf.cast(qw, f64), axis=[0, 1]), [c * dm])
            acc = acc - zw64 * rows - za64 * cols + kh * kw * za64 * zw64
        return tf.cast(acc * tf.cast(scale, f64), tf.float32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ApproxDense(_SavesRange, _ApproxMixin, keras.layers.Dense):
    """``keras.layers.Dense`` with approximate multiplications (inputs of any rank >= 2);
    per-channel weights have one scale and zero point per unit."""

    _CHANNEL_AXES = (1,)  # [K, units]

    def __init__(self, units, activation=None, use_bias=True, *, multiplier=DEFAULT_MULTIPLIER,
                 library=None, approx_training=False,
                 weight_quantization=DEFAULT_WEIGHT_QUANTIZATION, activation_bits=quant.BITS,
                 activation_frac_bits=None, weight_frac_bits=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self._setup(multiplier, library, approx_training, weight_quantization,
                    activation_bits, activation_frac_bits, weight_frac_bits)

    def _float_op(self, x, w):
        return tf.tensordot(x, w, [[x.shape.rank - 1], [0]])

    def _float_grads(self, x, w, dy):
        rows_x = tf.reshape(x, [-1, w.shape[0]])
        rows_dy = tf.reshape(dy, [-1, w.shape[1]])
        dx = tf.reshape(tf.matmul(rows_dy, w, transpose_b=True), tf.shape(x))
        dw = tf.matmul(rows_x, rows_dy, transpose_a=True)
        return dx, dw

    def _lut_op(self, qa, qw, lut, za, zw, scale):
        out = ops.quantized_matmul(tf.reshape(qa, [-1, qa.shape[-1]]), qw, lut, za, zw, scale)
        return tf.reshape(out, tf.concat([tf.shape(qa)[:-1], [self.units]], 0))


APPROX_LAYERS = (ApproxConv2D, ApproxDepthwiseConv2D, ApproxDense)


def approx_layers(model) -> list:
    """Every approximate layer of a model (nested models included), in layer order."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, APPROX_LAYERS):
            found.append(layer)
        stack.extend(reversed(getattr(layer, "layers", []) or []))
    return found


def set_multiplier(layer_or_model, multiplier, library: str | None = None) -> None:
    """Swap the multiplier of one approximate layer or of a model's approximate layers.

    For a model, ``multiplier`` is one multiplier for all of them or a mapping
    ``layer name -> multiplier``. Weights and learned input ranges are kept (no retraining);
    a model's compiled predict/evaluate/train functions are dropped so the new tables are used.
    """
    layers = approx_layers(layer_or_model)
    if not layers:
        raise UserError(f"{getattr(layer_or_model, 'name', layer_or_model)!r} has no Approx layers")
    if isinstance(multiplier, Mapping):
        by_name = {layer.name: layer for layer in layers}
        for name in multiplier:
            if name not in by_name:
                raise UserError(f"no Approx layer named {name!r}{closest_names(name, by_name)}")
        plan = [(by_name[name], mult) for name, mult in multiplier.items()]
    else:
        plan = [(layer, multiplier) for layer in layers]
    resolved = []
    for layer, mult in plan:
        name, lib = resolve_multiplier(mult, library or layer.library)
        load_table(lib, name)
        resolved.append((layer, name, lib))
    for layer, name, lib in resolved:
        layer.multiplier, layer.library = name, lib
    for attr in ("predict_function", "test_function", "train_function"):
        if hasattr(layer_or_model, attr):
            setattr(layer_or_model, attr, None)
