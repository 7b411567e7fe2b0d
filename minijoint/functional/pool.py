r"""Pooling: average, max and global average over spatial windows of (N, C, H, W) input.

Shapes and notation as in :mod:`minijoint.functional.conv` (KH, KW window; SH, SW stride,
default = the window; PH, PW padding; OH = ⌊(H + 2·PH − KH) / SH⌋ + 1, likewise OW).

Every pool is a loop over the KH·KW window positions, each reading one strided slice of
the (padded) input, an (N, C, OH, OW) block, as ``im2col`` does; the backward adds the
gradient blocks back into the same slices (distinct elements per ``+=``: CuPy-safe).

Fast paths: without padding the slices are views of x (no padded copy); with
non-overlapping windows (stride ≥ window, e.g. the usual 2×2 pool) the backward *assigns*
each block instead of accumulating, into an uninitialized buffer when the windows tile the
input exactly. (Reshaping x to (N, C, OH, KH, OW, KW) and reducing over the two small
window axes computes the same pool but measured 3–7× slower in NumPy, (128, 16, 32, 32), 2×2.)
"""
from __future__ import annotations

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor
from .binary import binary_empty, binary_owner, seal_binary
from .windows import _check_geometry, _int_pair, _out_size

__all__ = ["avg_pool2d", "max_pool2d", "global_avg_pool2d"]


def _window(i, j, SH, SW, OH, OW):
    """Index of the (N, C, OH, OW) block that window position (i, j) reads."""
    return (slice(None), slice(None), slice(i, i + SH * (OH - 1) + 1, SH),
            slice(j, j + SW * (OW - 1) + 1, SW))


def _pad(x, PH, PW, fill):
    """x padded with ``fill`` in a single allocated buffer (x itself when no padding)."""
    if PH == 0 and PW == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    buf = xp.full((N, C, H + 2 * PH, W + 2 * PW), fill, dtype=x.dtype)
    buf[:, :, PH:PH + H, PW:PW + W] = x
    return buf


def _fold(parts, x_shape, geometry, dtype, xp):
    """gx (N, C, H, W) = Σ_k (block k of the padded input ← parts(k)), cropped; parts(k) is
    the (N, C, OH, OW) gradient of window position k = i·KW + j."""
    KH, KW, SH, SW, PH, PW = geometry
    N, C, H, W = x_shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW)
    disjoint = SH >= KH and SW >= KW  # no input element lies in two windows
    tiles = (SH, SW) == (KH, KW) and (OH * KH, OW * KW) == (H + 2 * PH, W + 2 * PW)
    gx_pad = (xp.empty if tiles else xp.zeros)((N, C, H + 2 * PH, W + 2 * PW), dtype=dtype)
    for k in range(KH * KW):
        block = _window(k // KW, k % KW, SH, SW, OH, OW)
        if disjoint:
            gx_pad[block] = parts(k)
        else:
            gx_pad[block] += parts(k)
    return gx_pad[:, :, PH:PH + H, PW:PW + W]


class AvgPool2dOp(Function):
    r"""y[n, c, oh, ow] = (1 / (KH·KW)) · Σ_{i,j} x_pad[n, c, SH·oh + i, SW·ow + j].

    Zero padding *counts* in the average (the divisor is always KH·KW, PyTorch's default
    ``count_include_pad=True``), so a window half in the padding averages its real
    values with zeros. Backward: each input in a window receives gy / (KH·KW); an input
    in several overlapping windows receives the sum. (N, C, H, W) -> (N, C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        (KH, KW), (SH, SW), (PH, PW) = kernel, stride, padding
        ctx.x_shape, ctx.geometry = x.shape, (KH, KW, SH, SW, PH, PW)
        OH, OW = _out_size(x.shape[2], x.shape[3], KH, KW, SH, SW, PH, PW)
        x_pad = _pad(x, PH, PW, 0)
        y = x_pad[_window(0, 0, SH, SW, OH, OW)].copy()
        for k in range(1, KH * KW):
            y += x_pad[_window(k // KW, k % KW, SH, SW, OH, OW)]
        y /= KH * KW
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        KH, KW = ctx.geometry[:2]
        g = gy / (KH * KW)
        return _fold(lambda k: g, ctx.x_shape, ctx.geometry, gy.dtype, xp)


class MaxPool2dOp(Function):
    r"""y[n, c, oh, ow] = max_{i,j} x_pad[n, c, SH·oh + i, SW·ow + j], padding with −∞.

    Backward: the whole gy of a window goes to its argmax, ``gx = Σ_windows gy·1[x = argmax]``
    (an input that is the argmax of several overlapping windows receives the sum).
    **Ties**: the argmax is the *first* maximal element in row-major window order (i, then
    j), as PyTorch's CPU kernel picks; the other tied elements receive nothing.
    (N, C, H, W) -> (N, C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        xp = get_array_module(x)
        (KH, KW), (SH, SW), (PH, PW) = kernel, stride, padding
        ctx.x_shape, ctx.geometry = x.shape, (KH, KW, SH, SW, PH, PW)
        OH, OW = _out_size(x.shape[2], x.shape[3], KH, KW, SH, SW, PH, PW)
        x_pad = _pad(x, PH, PW, -xp.inf)
        # every window holds a real value (max_pool2d checks the padding), so the max of
        # spikes is a spike: a binary x (functional.binary) gives a binary y
        first = x_pad[_window(0, 0, SH, SW, OH, OW)]
        binary = binary_owner(x) is not None
        y = binary_empty(xp, first.shape, x.dtype) if binary else xp.empty(first.shape, x.dtype)
        y[...] = first
        track = ctx.needs_input_grad[0]  # the argmax is only for the backward
        idx = xp.zeros(y.shape, dtype=xp.int8 if KH * KW <= 127 else xp.int32) if track else None
        for k in range(1, KH * KW):
            s = x_pad[_window(k // KW, k % KW, SH, SW, OH, OW)]
            if not track:
                xp.maximum(y, s, out=y)
                continue
            # idx ← k where s beats the maximum so far (strict: a later equal value keeps
            # the first). k grows, so "max(idx, k·1[s > y])" sets exactly those: arithmetic,
            # which is several times faster than a masked copy on a random mask.
            xp.maximum(idx, (s > y) * idx.dtype.type(k), out=idx)
            xp.maximum(y, s, out=y)
        ctx.idx = idx
        return seal_binary(y)

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        idx = ctx.idx
        return _fold(lambda k: gy * (idx == k), ctx.x_shape, ctx.geometry, gy.dtype, xp)


class GlobalAvgPool2dOp(Function):
    r"""y[n, c] = (1 / (H·W)) · Σ_{h,w} x[n, c, h, w]   (N, C, H, W) -> (N, C).

    Backward: gx[n, c, h, w] = gy[n, c] / (H·W). Used before every branch head (docs/method.md §4).
    """

    @staticmethod
    def forward(ctx, x):
        ctx.x_shape = x.shape
        return x.mean(axis=(2, 3))

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        N, C, H, W = ctx.x_shape
        gx = xp.empty(ctx.x_shape, dtype=gy.dtype)
        gx[...] = (gy / (H * W))[:, :, None, None]
        return gx


def _settings(op, x, kernel_size, stride, padding):
    kernel = _int_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else _int_pair(stride, "stride", op)
    padding = _int_pair(padding, "padding", op)
    _check_geometry(op, tuple(x.shape), *kernel, *stride, *padding)
    return dict(kernel=kernel, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling (zero padding counted in the average), see :class:`AvgPool2dOp`.
    ``kernel_size``, ``stride`` (default: ``kernel_size``), ``padding``: int or pair."""
    return AvgPool2dOp.apply(x, **_settings("avg_pool2d", x, kernel_size, stride, padding))


def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling (padding with −∞; gradient to each window's first argmax), see
    :class:`MaxPool2dOp`. ``padding`` may be at most half the window, so that every window
    holds at least one real value."""
    s = _settings("max_pool2d", x, kernel_size, stride, padding)
    (KH, KW), (PH, PW) = s["kernel"], s["padding"]
    if PH > KH // 2 or PW > KW // 2:
        raise ValueError(f"max_pool2d: padding {(PH, PW)} must be at most half the window "
                         f"{(KH, KW)}, i.e. ≤ {(KH // 2, KW // 2)}, else a window could "
                         "hold only padding")
    return MaxPool2dOp.apply(x, **s)


def global_avg_pool2d(x) -> Tensor:
    """Mean over H and W: (N, C, H, W) -> (N, C), see :class:`GlobalAvgPool2dOp`."""
    if len(x.shape) != 4:
        raise ValueError(f"global_avg_pool2d: x must be 4-D (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    return GlobalAvgPool2dOp.apply(x)
