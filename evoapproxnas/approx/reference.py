"""Independent numpy reference of the product-table kernels (slow, int64, for tests)."""

from __future__ import annotations

import numpy as np


def _index(codes: np.ndarray) -> np.ndarray:
    """Table index of 8-bit codes: uint8 as is, int8 as its two's-complement byte."""
    return np.asarray(codes).view(np.uint8).astype(np.intp)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def ref_matmul(a: np.ndarray, b: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """out[m, n] = sum_k lut[a[m, k], b[k, n]] in int64."""
    table = np.asarray(lut).astype(np.int64)
    ia, ib = _index(a), _index(b)
    return table[ia[:, :, None], ib[None, :, :]].sum(axis=1)


def _padded(x: np.ndarray, kh: int, kw: int, strides, padding: str, pad_code: int):
    x = np.asarray(x)
    if padding.upper() == "VALID":
        return x
    pt, pb = same_pads(x.shape[1], kh, strides[0])
    pl, pr = same_pads(x.shape[2], kw, strides[1])
    fill = np.array(pad_code).astype(x.dtype)
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)


def _taps(xp: np.ndarray, kh: int, kw: int, strides):
    ho = (xp.shape[1] - kh) // strides[0] + 1
    wo = (xp.shape[2] - kw) // strides[1] + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i : i + strides[0] * ho : strides[0], j : j + strides[1] * wo : strides[1]]


def ref_conv2d(x, w, lut, strides=(1, 1), padding="VALID", pad_code=0) -> np.ndarray:
    """NHWC x HWIO convolution with every product read from ``lut`` (int64)."""
    table = np.asarray(lut).astype(np.int64)
    kh, kw = w.shape[:2]
    out = None
    for i, j, xs in _taps(_padded(x, kh, kw, strides, padding, pad_code), kh, kw, strides):
        part = table[_index(xs)[..., :, None], _index(w[i, j])].sum(axis=-2)
        out = part if out is None else out + part
    return out


def ref_depthwise_conv2d(x, w, lut, strides=(1, 1), padding="VALID", pad_code=0) -> np.ndarray:
    """Depthwise NHWC convolution, w [kh, kw, C, dm], output channel c*dm + q (int64)."""
    table = np.asarray(lut).astype(np.int64)
    kh, kw, c, dm = w.shape
    out = None
    for i, j, xs in _taps(_padded(x, kh, kw, strides, padding, pad_code), kh, kw, strides):
        part = table[_index(xs)[..., :, None], _index(w[i, j])[None, None, None]]
        part = part.reshape(*part.shape[:3], c * dm)
        out = part if out is None else out + part
    return out
