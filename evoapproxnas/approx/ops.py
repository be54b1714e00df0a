"""Exact product-table kernels on 8-bit activation and N-bit weight codes: ``lut_matmul``,
``lut_conv2d``, ``lut_depthwise_conv2d``; the dequantizing forms the layers use
(``quantized_conv2d``, ``quantized_matmul``, per-tensor or per-channel weight zero points and
scales) and the fused activation quantizer ``quantize_codes``.

Every product ``a * b`` is replaced by ``lut[a, b]`` (``a`` = activation code, ``b`` = weight
code) and the products are summed exactly. Codes are ``uint8`` for ``uint16`` (unsigned) tables
and ``int8`` for ``int16`` (signed) tables, where the two's-complement byte is the table index.
A table of an 8xN multiplier is ``[256, 2**N]`` (N = 2..8; signed: 8x8 only) and its weight
codes must be below ``2**N``: a larger code is a ``UserError`` when the weights are known in
Python (eager tensors, numpy arrays), an ``InvalidArgumentError`` of the op (or of the
fallback's check) inside a graph.

Accumulators: ``int32`` whenever ``K * max|lut| <= 2**31 - 1`` (``max|lut|`` = 65535 unsigned,
32768 signed), i.e. for any K <= 32768 taps per output (a 3x3 conv with up to 3640 input
channels, a dense layer with up to 32768 inputs); beyond that the integer kernels return
``int64``. The result dtype follows from the static K and the table dtype alone. Inside the op,
blocks of at most a few hundred k are summed in int32 registers and flushed, so no
intermediate overflows either.

Backends: ``"op"`` (the C++ custom op, built on first use, see ``build``), ``"tf"`` (pure
TensorFlow gathers, same results, much slower) and ``"auto"`` (the op, or the fallback with
one warning when it cannot be built). The default comes from ``$EVOAPPROXNAS_APPROX_BACKEND``
(``auto`` if unset).

The op runs the AVX-512, AVX2 or generic build of its hot loop, the best the CPU supports, or
the one ``$EVOAPPROXNAS_OP_SIMD`` asks for; ``simd_info()`` says which. Asking for a build the
CPU lacks runs the best one it has, with one ``RuntimeWarning`` saying so; an unknown name is a
``UserError``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from evoapproxnas.approx import build
from evoapproxnas.approx.reference import same_pads
from evoapproxnas.errors import UserError

BACKENDS = ("auto", "op", "tf")
ENV_BACKEND = "EVOAPPROXNAS_APPROX_BACKEND"
_INT32_MAX = 2**31 - 1
_FALLBACK_CHUNK = 1 << 22  # gathered elements per chunk in the pure-TensorFlow path
_op_state: dict[str, object] = {}


# ------------------------------------------------------------------------- validation
WEIGHT_BITS = range(2, 9)
"""Weight operand widths N of the tables the kernels take: ``lut`` is [256, 2**N]."""


def check_table(lut) -> tuple[tf.Tensor, bool]:
    """Validate a product table [256, 2**N] (N-bit weights, N = 2..8; signed: 8 only); return
    it as an int32 tensor and whether it is signed."""
    dtype = lut.dtype if isinstance(lut, (np.ndarray, tf.Tensor, tf.Variable)) else None
    dtype = tf.as_dtype(dtype) if dtype is not None else None
    if dtype not in (tf.uint16, tf.int16):
        raise UserError(
            f"product table must be a uint16 (unsigned) or int16 (signed) array, got "
            f"{getattr(lut, 'dtype', type(lut).__name__)}; load it with "
            "evoapproxnas.multipliers.load_library(...)[name].lut"
        )
    shape = tuple(lut.shape)
    widths = {2**n: n for n in WEIGHT_BITS}
    if len(shape) != 2 or shape[0] != 256 or shape[1] not in widths:
        raise UserError(
            f"product table must have shape (256, 2**N) for N-bit weights, N = 2..8, indexed "
            f"lut[activation, weight], got {shape}"
        )
    if dtype == tf.int16 and shape[1] != 256:
        raise UserError(f"signed product tables must be 8x8 (256, 256), got {shape}")
    return tf.cast(tf.convert_to_tensor(lut), tf.int32), dtype == tf.int16


def table_weight_bits(lut) -> int:
    """The weight width N of a product table ``[256, 2**N]`` (its columns are the N-bit
    weight codes)."""
    return int(lut.shape[1]).bit_length() - 1


def _check_weight_range(w: tf.Tensor, table: tf.Tensor) -> None:
    """``UserError`` for a weight code the table has no column for, when the codes are known
    now (eager); in a graph the op and the fallback refuse them when they run."""
    width = int(table.shape[1])
    if width >= 256 or not tf.executing_eagerly() or not hasattr(w, "numpy"):
        return
    top = int(tf.reduce_max(tf.cast(w, tf.int32))) if tf.size(w) > 0 else 0
    if top >= width:
        n = table_weight_bits(table)
        raise UserError(
            f"weight code {top} does not index the table of an 8x{n} multiplier (shape "
            f"(256, {width})): its weight codes are {n}-bit, 0..{width - 1}; quantize the "
            f"weights to {n} bits (evoapproxnas.approx.quant, bits={n})"
        )


def _codes(value, signed: bool, what: str) -> tf.Tensor:
    """Validate codes against the table kind and return them as uint8 table indices."""
    value = tf.convert_to_tensor(value)
    want = tf.int8 if signed else tf.uint8
    if value.dtype != want:
        kind = "signed (int16)" if signed else "unsigned (uint16)"
        raise UserError(
            f"{what} codes must be {want.name} for a {kind} product table, got "
            f"{value.dtype.name}; quantize with evoapproxnas.approx.quant first"
        )
    return tf.bitcast(value, tf.uint8) if signed else value


def _out_dtype(k: int | None, signed: bool) -> tf.DType:
    bound = 32768 if signed else 65535
    return tf.int32 if k is not None and k * bound <= _INT32_MAX else tf.int64


def _pair(value, what: str) -> tuple[int, int]:
    vals = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(vals) != 2 or min(vals) < 1:
        raise UserError(f"{what} must be a positive int or a pair of them, got {value!r}")
    return vals


def conv_pads(x_shape, kh: int, kw: int, strides, padding: str) -> list[int]:
    """[top, bottom, left, right] padding of a TensorFlow SAME or VALID convolution."""
    mode = str(padding).upper()
    if mode not in ("SAME", "VALID"):
        raise UserError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    h, w = x_shape[1], x_shape[2]
    if h is None or w is None:
        raise UserError("lut convolutions need a static input height and width")
    if mode == "VALID":
        if h < kh or w < kw:
            raise UserError(f"kernel {kh}x{kw} is larger than the input {h}x{w} (VALID)")
        return [0, 0, 0, 0]
    return [*same_pads(h, kh, strides[0]), *same_pads(w, kw, strides[1])]


def _pad_code(pad_code, signed: bool) -> tf.Tensor:
    """The padding code as an int32 scalar table index (a tensor is taken as is)."""
    if isinstance(pad_code, (int, np.integer)):
        lo, hi = (-128, 127) if signed else (0, 255)
        if not lo <= int(pad_code) <= hi:
            raise UserError(f"pad_code must be a code in [{lo}, {hi}], got {pad_code}")
    return tf.bitwise.bitwise_and(tf.cast(pad_code, tf.int32), 0xFF)


def _check_rank(t: tf.Tensor, rank: int, what: str) -> None:
    if t.shape.rank != rank:
        raise UserError(f"{what} must have rank {rank}, got shape {tuple(t.shape)}")


# ------------------------------------------------------------------------- backend
def _resolve_backend(backend: str | None) -> str:
    choice = (backend or os.environ.get(ENV_BACKEND) or "auto").lower()
    if choice not in BACKENDS:
        raise UserError(f"approx backend must be one of {', '.join(BACKENDS)}, got {choice!r}")
    if choice == "tf":
        return "tf"
    module = _op_module(required=choice == "op")
    if module is None:
        return "tf"
    _check_simd_request()
    return "op"


def _check_simd_request() -> None:
    """Refuse an unknown ``$EVOAPPROXNAS_OP_SIMD``; warn once per value when the CPU lacks the
    build it asks for (the op then runs the best build the CPU has)."""
    wanted = os.environ.get(build.ENV_SIMD)
    if _op_state.get("simd_checked", ()) == (wanted,):
        return
    info = build.simd_info()
    _op_state["simd_checked"] = (wanted,)
    if info.fallback:
        warnings.warn(f"evoapproxnas: {info.fallback_message()}", RuntimeWarning, stacklevel=4)


def simd_info() -> build.SimdInfo:
    """Which SIMD build of the hot loop the op runs on this CPU now, and what the CPU supports
    (see ``build.simd_info``)."""
    return build.simd_info()


def _op_module(required: bool):
    if _op_state.get("module") is not None or ("module" in _op_state and not required):
        return _op_state["module"]
    try:
        module = build.load()
    except (build.BuildError, OSError, tf.errors.NotFoundError) as exc:
        if required:
            raise
        warnings.warn(
            f"evoapproxnas: the approximate-multiplication op could not be built ({exc}); "
            "using the pure-TensorFlow fallback, which gives the same results but is far slower",
            RuntimeWarning,
            stacklevel=3,
        )
        module = None
    _op_state["module"] = module
    return module


def op_available() -> bool:
    """True when the C++ op is (or can be) built and loaded."""
    return _op_module(required=False) is not None


# ------------------------------------------------------------------------- public API
def lut_matmul(a, b, lut, *, backend: str | None = None) -> tf.Tensor:
    """``out[m, n] = sum_k lut[a[m, k], b[k, n]]`` for codes ``a`` [M, K] and ``b`` [K, N]."""
    table, signed = check_table(lut)
    a = _codes(a, signed, "activation")
    b = _codes(b, signed, "weight")
    _check_rank(a, 2, "a")
    _check_rank(b, 2, "b")
    _check_weight_range(b, table)
    if a.shape[1] is not None and b.shape[0] is not None and a.shape[1] != b.shape[0]:
        raise UserError(f"inner sizes differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    x = tf.reshape(a, [-1, 1, 1, tf.shape(a)[1]])
    x.set_shape([a.shape[0], 1, 1, a.shape[1]])
    w = tf.reshape(b, [1, 1, tf.shape(b)[0], tf.shape(b)[1]])
    w.set_shape([1, 1, b.shape[0], b.shape[1]])
    out = _conv(x, w, table, signed, (1, 1), [0, 0, 0, 0], tf.constant(0), backend)
    return tf.reshape(out, [tf.shape(a)[0], tf.shape(b)[1]])


def lut_conv2d(
    x, w, lut, strides: int | Sequence[int] = (1, 1), padding: str = "VALID", pad_code=0,
    *, backend: str | None = None,
) -> tf.Tensor:
    """Convolution of NHWC codes ``x`` with HWIO codes ``w``; padded positions read
    ``pad_code``; every product is ``lut[x_code, w_code]``; exact integer sums."""
    table, signed = check_table(lut)
    x = _codes(x, signed, "activation")
    w = _codes(w, signed, "weight")
    _check_rank(x, 4, "x (NHWC)")
    _check_rank(w, 4, "w (HWIO)")
    if x.shape[3] != w.shape[2]:
        raise UserError(f"x has {x.shape[3]} channels but w expects {w.shape[2]}")
    _check_weight_range(w, table)
    strides = _pair(strides, "strides")
    pads = conv_pads(x.shape, w.shape[0], w.shape[1], strides, padding)
    return _conv(x, w, table, signed, strides, pads, _pad_code(pad_code, signed), backend)


def lut_depthwise_conv2d(
    x, w, lut, strides: int | Sequence[int] = (1, 1), padding: str = "VALID", pad_code=0,
    *, backend: str | None = None,
) -> tf.Tensor:
    """Depthwise convolution, ``w`` [kh, kw, C, depth_multiplier]; output channel
    ``c * depth_multiplier + q``; products read from ``lut``; exact integer sums."""
    table, signed = check_table(lut)
    x = _codes(x, signed, "activation")
    w = _codes(w, signed, "weight")
    _check_rank(x, 4, "x (NHWC)")
    _check_rank(w, 4, "w (kh, kw, C, depth_multiplier)")
    if x.shape[3] != w.shape[2]:
        raise UserError(f"x has {x.shape[3]} channels but w expects {w.shape[2]}")
    _check_weight_range(w, table)
    strides = _pair(strides, "strides")
    pads = conv_pads(x.shape, w.shape[0], w.shape[1], strides, padding)
    code = _pad_code(pad_code, signed)
    out_type = _out_dtype(w.shape[0] * w.shape[1], signed)
    if _resolve_backend(backend) == "op":
        return _op_module(True).evo_lut_depthwise_conv2d(
            x, w, table, code, strides=list(strides), pads=pads, out_type=out_type
        )
    return _tf_depthwise(x, w, table, strides, pads, code, out_type)


def quantize_codes(x, scale, zero_point, signed: bool, *, backend: str | None = None):
    """8-bit codes of float ``x`` (uint8, or int8 when ``signed``), one fused pass with the op;
    the same values as ``quant.to_codes(quant.quantize(x, scale, zero_point, signed))``."""
    x = tf.convert_to_tensor(x, tf.float32)
    scale = tf.cast(scale, tf.float32)
    zero_point = tf.cast(zero_point, tf.float32)
    if _resolve_backend(backend) == "op":
        codes = _op_module(True).evo_quantize_codes(x, scale, zero_point, is_signed=signed)
        return tf.bitcast(codes, tf.int8) if signed else codes
    from evoapproxnas.approx import quant

    return quant.to_codes(quant.quantize(x, scale, zero_point, signed), signed)


def quantized_conv2d(
    x, w, lut, strides, padding, a_zero, w_zero, scale, *, backend: str | None = None
) -> tf.Tensor:
    """``scale * sum_k (lut[a, w] - w_zero*a - a_zero*w + a_zero*w_zero)`` (float32): the
    dequantized approximate convolution of asymmetric codes; padded positions take ``a_zero``.

    ``w_zero`` and ``scale`` are scalars (per-tensor weights) or hold one value per output
    channel (per-channel weights; any shape with that many elements). Signed tables use zero
    points 0. The offset terms are exact integers."""
    table, signed = check_table(lut)
    x = _codes(x, signed, "activation")
    w = _codes(w, signed, "weight")
    _check_rank(x, 4, "x (NHWC)")
    _check_rank(w, 4, "w (HWIO)")
    _check_weight_range(w, table)
    strides = _pair(strides, "strides")
    pads = conv_pads(x.shape, w.shape[0], w.shape[1], strides, padding)
    kh, kw, cin, n = (int(d) for d in w.shape)
    k = kh * kw * cin
    a_zero = tf.cast(a_zero, tf.int32)
    w_zero = _per_channel(tf.cast(w_zero, tf.int32), n, "w_zero")
    scale = _per_channel(tf.cast(scale, tf.float32), n, "scale")
    if w_zero.shape.rank != scale.shape.rank:  # one per channel, the other shared: both [n]
        w_zero, scale = tf.broadcast_to(w_zero, [n]), tf.broadcast_to(scale, [n])
    if k <= 32768 and _resolve_backend(backend) == "op":
        return _op_module(True).evo_lut_conv2d_dequant(
            x, w, table, a_zero, w_zero, scale, tf.zeros([n], tf.float32),
            strides=list(strides), pads=pads,
        )
    sums = _conv(x, w, table, signed, strides, pads, _pad_code(a_zero, signed), backend)
    f64 = tf.float64
    acc = tf.cast(sums, f64)
    if not signed:  # exact offsets: window sums of activation codes, column sums of weights
        centred = tf.reduce_sum(tf.cast(x, f64) - tf.cast(a_zero, f64), -1, keepdims=True)
        window = tf.nn.conv2d(tf.pad(centred, [[0, 0], pads[:2], pads[2:], [0, 0]]),
                              tf.ones([kh, kw, 1, 1], f64), strides, "VALID")
        za, zw = tf.cast(a_zero, f64), tf.cast(w_zero, f64)
        rows = window + k * za
        cols = tf.reduce_sum(tf.cast(w, f64), axis=[0, 1, 2])
        acc = acc - zw * rows - za * cols + k * za * zw
    return tf.cast(acc * tf.cast(scale, f64), tf.float32)


def _per_channel(value: tf.Tensor, n: int, what: str) -> tf.Tensor:
    """A scalar as is; one value per output channel as a vector [n]; anything else refused."""
    if value.shape.rank == 0:
        return value
    size = value.shape.num_elements()
    if size == 1:
        return tf.reshape(value, [])
    if size != n:
        raise UserError(f"{what} must be a scalar or hold one value per output channel "
                        f"({n}), got shape {tuple(value.shape)}")
    return tf.reshape(value, [n])


def quantized_matmul(a, b, lut, a_zero, w_zero, scale, *, backend: str | None = None):
    """``scale * sum_k (lut[a, b] - w_zero*a - a_zero*b + a_zero*w_zero)`` for [M, K] x [K, N];
    ``w_zero`` and ``scale`` scalars or one per output column (as in ``quantized_conv2d``)."""
    a = tf.convert_to_tensor(a)
    b = tf.convert_to_tensor(b)
    _check_rank(a, 2, "a")
    _check_rank(b, 2, "b")
    x = tf.reshape(a, [-1, 1, 1, a.shape[1]])
    w = tf.reshape(b, [1, 1, *b.shape])
    out = quantized_conv2d(x, w, lut, 1, "VALID", a_zero, w_zero, scale, backend=backend)
    return tf.reshape(out, [-1, b.shape[1]])


def _conv(x, w, table, signed, strides, pads, code, backend) -> tf.Tensor:
    k = None if None in tuple(w.shape[:3]) else int(np.prod(w.shape[:3]))
    out_type = _out_dtype(k, signed)
    if _resolve_backend(backend) == "op":
        return _op_module(True).evo_lut_conv2d(
            x, w, table, code, strides=list(strides), pads=pads, out_type=out_type
        )
    return _tf_conv(x, w, table, strides, pads, code, out_type)


# ------------------------------------------------------------------------- fallback
def _tf_pad(x: tf.Tensor, pads: list[int], code: int) -> tf.Tensor:
    if not any(pads):
        return x
    return tf.pad(x, [[0, 0], pads[:2], pads[2:], [0, 0]], constant_values=tf.cast(code, tf.uint8))


def _check_weight_codes(w, table) -> None:
    """The op refuses weight codes beyond the table's columns; so does the fallback."""
    width = int(table.shape[1])
    if width < 256:
        tf.debugging.assert_less(tf.cast(w, tf.int32), width, message=(
            f"weight codes must index a table of {width} weight codes"))


def _tf_conv(x, w, table, strides, pads, code, out_type) -> tf.Tensor:
    _check_weight_codes(w, table)
    kh, kw, cin, n = (int(d) for d in w.shape)
    xp = _tf_pad(x, pads, code)
    patches = tf.image.extract_patches(
        xp, sizes=[1, kh, kw, 1], strides=[1, *strides, 1], rates=[1, 1, 1, 1], padding="VALID"
    )
    out_shape = tf.shape(patches)[:3]
    k = kh * kw * cin
    rows = tf.reshape(tf.cast(patches, tf.int32) * int(table.shape[1]), [-1, k])
    cols = tf.reshape(tf.cast(w, tf.int32), [k, n])
    flat = tf.reshape(table, [-1])
    chunk = max(1, _FALLBACK_CHUNK // max(1, k * n))
    m = tf.shape(rows)[0]
    padded = tf.pad(rows, [[0, (-m) % chunk], [0, 0]])
    blocks = tf.reshape(padded, [-1, chunk, k])

    def one(block):
        prods = tf.gather(flat, block[:, :, None] + cols[None])
        return tf.reduce_sum(tf.cast(prods, out_type), axis=1)

    out = tf.map_fn(one, blocks, fn_output_signature=tf.TensorSpec([chunk, n], out_type))
    out = tf.reshape(out, [-1, n])[:m]
    return tf.reshape(out, tf.concat([out_shape, [n]], 0))


def _tf_depthwise(x, w, table, strides, pads, code, out_type) -> tf.Tensor:
    _check_weight_codes(w, table)
    kh, kw, c, dm = (int(d) for d in w.shape)
    xp = tf.cast(_tf_pad(x, pads, code), tf.int32) * int(table.shape[1])
    hp, wp = xp.shape[1], xp.shape[2]
    ho, wo = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
    flat = tf.reshape(table, [-1])
    wi = tf.cast(w, tf.int32)
    out = None
    for i in range(kh):
        for j in range(kw):
            xs = xp[:, i : i + strides[0] * (ho - 1) + 1 : strides[0],
                    j : j + strides[1] * (wo - 1) + 1 : strides[1]]
            idx = xs[..., :, None] + wi[i, j][None, None, None]
            part = tf.cast(tf.gather(flat, idx), out_type)
            out = part if out is None else out + part
    return tf.reshape(out, tf.concat([tf.shape(out)[:3], [c * dm]], 0))
