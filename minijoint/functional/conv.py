r"""2-D convolution as a matrix product: ``im2col``, its adjoint ``col2im``, ``conv2d``.

Notation (used in every shape below)::

    N          batch size (the SNN folds time into it: T·N, docs/method.md §3)
    C, OC      input and output channels
    H, W       input height and width
    KH, KW     kernel height and width
    SH, SW     stride along H and W
    PH, PW     zero padding added on each side of H and W
    OH, OW     output size:  OH = ⌊(H + 2·PH − KH) / SH⌋ + 1,  OW = ⌊(W + 2·PW − KW) / SW⌋ + 1

The col layout is ``(C·KH·KW, N·OH·OW)``: row ``(c, i, j)`` (C-major, then kernel row i,
then kernel column j), column ``(n, oh, ow)``, and

    col[(c, i, j), (n, oh, ow)] = x_pad[n, c, SH·oh + i, SW·ow + j].

Why this layout: the rows are ordered exactly as ``W.reshape(OC, C·KH·KW)``, so each of the
three products of a convolution is ONE large GEMM on operands that need no copy:

    forward   y  = W₂ · col          (OC, C·KH·KW) @ (C·KH·KW, N·OH·OW)
    backward  gW = gy₂ · colᵀ        (OC, N·OH·OW) @ (N·OH·OW, C·KH·KW)
              gcol = W₂ᵀ · gy₂       then gx = col2im(gcol)

(``gy₂`` is gy with OC moved first; y and gx come out channel-first and are transposed
back to (N, ·, ·, ·): copies of arrays C·KH·KW times smaller than col.) A per-sample
layout (N, C·KH·KW, OH·OW) avoids those transposes but turns each product into N small
GEMMs, which measured about 10% slower overall. Since the columns of col are samples,
the batch can be cut into blocks of samples, each with its own smaller col: ``conv2d``
does that on NumPy, to keep col in the CPU cache (see :class:`Conv2dOp`).

``im2col`` loops over the KH·KW kernel positions; each copies one strided slice of the
padded input (a (C, N, OH, OW) block) into the col rows of that position. No per-pixel
loop, no fancy-index gather, no scatter: ``col2im`` adds the same slices back, and each
``+=`` touches distinct elements, so the code runs unchanged (and race-free) on CuPy.
"""
from __future__ import annotations

import operator

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor

__all__ = ["im2col", "col2im", "conv2d"]


def _int_pair(v, what: str, op: str) -> tuple[int, int]:
    """``v`` (an int or an (h, w) pair of ints) as a pair of Python ints; a TypeError
    otherwise. The values are checked by :func:`_check_geometry`."""
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    try:
        if len(pair) != 2 or any(isinstance(k, bool) for k in pair):
            raise TypeError
        return operator.index(pair[0]), operator.index(pair[1])
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {v!r}") from None


def _out_size(H, W, KH, KW, SH, SW, PH, PW) -> tuple[int, int]:
    return (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1


def _padded(x_cn, PH: int, PW: int):
    """``x_cn`` (C, N, H, W) zero-padded by (PH, PW): one buffer, written once (no np.pad)."""
    if PH == 0 and PW == 0:
        return x_cn
    xp = get_array_module(x_cn)
    C, N, H, W = x_cn.shape
    buf = xp.zeros((C, N, H + 2 * PH, W + 2 * PW), dtype=x_cn.dtype)
    buf[:, :, PH:PH + H, PW:PW + W] = x_cn
    return buf


def _im2col_cn(x_cn, KH, KW, SH, SW, PH, PW):
    """im2col of an input given channel-first, ``x_cn`` (C, N, H, W) (any strides)."""
    xp = get_array_module(x_cn)
    C, N, H, W = x_cn.shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW)
    x_pad = _padded(x_cn, PH, PW)
    col = xp.empty((C, KH, KW, N, OH, OW), dtype=x_cn.dtype)
    for i in range(KH):
        for j in range(KW):
            col[:, i, j] = x_pad[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]
    return col.reshape(C * KH * KW, N * OH * OW)


def _col2im_cn(col, C, N, H, W, KH, KW, SH, SW, PH, PW):
    """Adjoint of :func:`_im2col_cn`: (C·KH·KW, N·OH·OW) -> (C, N, H, W) (a view)."""
    xp = get_array_module(col)
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW)
    col = col.reshape(C, KH, KW, N, OH, OW)
    gx_pad = xp.zeros((C, N, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            gx_pad[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW] += col[:, i, j]
    return gx_pad[:, :, PH:PH + H, PW:PW + W]


def im2col(x, kernel_size, stride=1, padding=0):
    r"""Unfold the sliding windows of ``x`` into the columns of a matrix.

    x (N, C, H, W) array -> col (C·KH·KW, N·OH·OW) array (layout and notation: module
    docstring), ``col[(c, i, j), (n, oh, ow)] = x_pad[n, c, SH·oh + i, SW·ow + j]``.
    ``kernel_size``, ``stride``, ``padding``: int or pair. Its adjoint is :func:`col2im`.
    A plain array function (a Tensor is read through ``.data``; no graph is recorded).
    """
    x = x.data if isinstance(x, Tensor) else x
    KH, KW = _int_pair(kernel_size, "kernel_size", "im2col")
    SH, SW = _int_pair(stride, "stride", "im2col")
    PH, PW = _int_pair(padding, "padding", "im2col")
    _check_geometry("im2col", x.shape, KH, KW, SH, SW, PH, PW)
    return _im2col_cn(x.transpose(1, 0, 2, 3), KH, KW, SH, SW, PH, PW)


def col2im(col, x_shape, kernel_size, stride=1, padding=0):
    r"""Adjoint of :func:`im2col`: fold col (C·KH·KW, N·OH·OW) back to (N, C, H, W),
    *adding* the entries of overlapping windows and dropping those that fell in the padding.

    Being the adjoint, ``⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩`` for all x, y, which is why the
    gradient of im2col is col2im. A plain array function, like :func:`im2col`.
    """
    col = col.data if isinstance(col, Tensor) else col
    KH, KW = _int_pair(kernel_size, "kernel_size", "col2im")
    SH, SW = _int_pair(stride, "stride", "col2im")
    PH, PW = _int_pair(padding, "padding", "col2im")
    N, C, H, W = _check_geometry("col2im", tuple(x_shape), KH, KW, SH, SW, PH, PW)
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW)
    if col.shape != (C * KH * KW, N * OH * OW):
        raise ValueError(f"col2im: col must have shape (C·KH·KW, N·OH·OW) = "
                         f"{(C * KH * KW, N * OH * OW)}, got {col.shape}")
    xp = get_array_module(col)
    gx_cn = _col2im_cn(col, C, N, H, W, KH, KW, SH, SW, PH, PW)
    return xp.ascontiguousarray(gx_cn.transpose(1, 0, 2, 3))


# NumPy: im2col a block of samples at a time, so that block's col (at most this many bytes)
# is still in the CPU cache when the GEMM reads it. CuPy: the whole batch in one block.
_COL_BLOCK_BYTES = 4 * 2**20


def _blocks(xp, N, sample_col_bytes):
    """Slices of the batch axis, each holding samples whose col fits _COL_BLOCK_BYTES."""
    B = N if xp is not np else max(1, _COL_BLOCK_BYTES // sample_col_bytes)
    return [slice(n0, min(n0 + B, N)) for n0 in range(0, N, B)]


class Conv2dOp(Function):
    r"""y[n, o, oh, ow] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, SH·oh + i, SW·ow + j] + b[o].

    Shapes: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> y (N, OC, OH, OW).
    Forward: ``y₂ = W₂ · col`` with ``W₂ = W.reshape(OC, C·KH·KW)`` and ``col = im2col(x)``.
    Backward, with ``gy₂`` = gy as (OC, N·OH·OW):

        gb = Σ_{n,oh,ow} gy           gW = gy₂ · colᵀ          gcol = W₂ᵀ · gy₂,  gx = col2im(gcol)

    For stride 1 (and PH < KH, PW < KW) gx is computed instead as the equivalent transposed
    convolution, a stride-1 convolution of gy padded by (KH−1−PH, KW−1−PW) with the kernel
    flipped in space and its channel axes swapped:
    ``gx[n, c, h, w] = Σ_{o,i,j} gy_pad[n, o, h + i, w + j] · W[o, c, KH−1−i, KW−1−j]``.
    It reads gy's small col instead of writing and re-reading the large gcol and measured
    about 1.5× faster than GEMM + col2im for (128, 16, 32, 32) ⊛ (16, 16, 3, 3).

    Memory and speed: on NumPy the batch is processed in blocks of samples whose col fits
    the CPU cache (``_COL_BLOCK_BYTES``); every product above is a sum over samples, so
    blocking changes nothing but the order of additions in gW and gb. col is *not* kept
    for the backward (it is C·KH·KW times the size of x): the backward recomputes it block
    by block from x, which measured faster (1.2–1.5×, single-threaded) than keeping one
    large col, the cached blocks being cheaper to write and read than DRAM. gx is skipped
    when x needs no gradient (the network's input), col when W needs none.
    """

    @staticmethod
    def forward(ctx, x, W, b, stride, padding):
        xp = get_array_module(x)
        (N, C, H, Wd), (OC, _, KH, KW) = x.shape, W.shape
        (SH, SW), (PH, PW) = stride, padding
        OH, OW = _out_size(H, Wd, KH, KW, SH, SW, PH, PW)
        W2 = W.reshape(OC, -1)
        y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
        blocks = _blocks(xp, N, C * KH * KW * OH * OW * x.itemsize)
        for s in blocks:
            col = _im2col_cn(x[s].transpose(1, 0, 2, 3), KH, KW, SH, SW, PH, PW)
            y2 = (W2 @ col).reshape(OC, -1, OH, OW).transpose(1, 0, 2, 3)
            if b is None:
                y[s] = y2
            else:  # add the bias while transposing to (N, OC, OH, OW): one pass
                xp.add(y2, b.reshape(1, OC, 1, 1), out=y[s])
        ctx.x, ctx.W, ctx.blocks = x, W, blocks
        ctx.geometry = (KH, KW, SH, SW, PH, PW)
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        x, W, (need_x, need_W, need_b) = ctx.x, ctx.W, ctx.needs_input_grad
        KH, KW, SH, SW, PH, PW = ctx.geometry
        (N, C, H, Wd), (_, OC, OH, OW) = x.shape, gy.shape
        gx = xp.empty(x.shape, dtype=gy.dtype) if need_x else None
        gW = xp.zeros((OC, C * KH * KW), dtype=gy.dtype) if need_W else None
        gb = xp.zeros(OC, dtype=gy.dtype) if need_b else None
        transposed = SH == 1 and SW == 1 and PH < KH and PW < KW  # gx as a transposed conv
        if need_x and transposed:
            W_t = xp.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
        for s in ctx.blocks:
            gy_cn = xp.ascontiguousarray(gy[s].transpose(1, 0, 2, 3))  # (OC, B, OH, OW)
            gy2 = gy_cn.reshape(OC, -1)
            if need_b:
                gb += gy2.sum(axis=1)
            if need_W:
                gW += gy2 @ _im2col_cn(x[s].transpose(1, 0, 2, 3), KH, KW, SH, SW, PH, PW).T
            if need_x and transposed:
                gcol = _im2col_cn(gy_cn, KH, KW, 1, 1, KH - 1 - PH, KW - 1 - PW)
                gx[s] = (W_t @ gcol).reshape(C, -1, H, Wd).transpose(1, 0, 2, 3)
            elif need_x:
                gx_cn = _col2im_cn(W.reshape(OC, -1).T @ gy2, C, gy2.shape[1] // (OH * OW),
                                   H, Wd, KH, KW, SH, SW, PH, PW)
                gx[s] = gx_cn.transpose(1, 0, 2, 3)
        return gx, None if gW is None else gW.reshape(W.shape), gb


def _check_geometry(op, x_shape, KH, KW, SH, SW, PH, PW):
    """Validate a window geometry against x's shape; return (N, C, H, W)."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    if min(KH, KW) < 1:
        raise ValueError(f"{op}: kernel size must be positive, got {(KH, KW)}")
    if min(SH, SW) < 1:
        raise ValueError(f"{op}: stride must be positive, got {(SH, SW)}")
    if min(PH, PW) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {(PH, PW)}")
    N, C, H, W = x_shape
    if KH > H + 2 * PH or KW > W + 2 * PW:
        raise ValueError(f"{op}: kernel {(KH, KW)} is larger than the padded input "
                         f"{(H + 2 * PH, W + 2 * PW)} (input {(H, W)}, padding {(PH, PW)})")
    return N, C, H, W


def conv2d(x, W, b=None, stride=1, padding=0) -> Tensor:
    r"""2-D cross-correlation (as every deep-learning "convolution"), see :class:`Conv2dOp`.

    x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None; ``stride`` and ``padding`` are an
    int or an (H, W) pair. Returns y (N, OC, OH, OW) in x's dtype.
    """
    stride = _int_pair(stride, "stride", "conv2d")
    padding = _int_pair(padding, "padding", "conv2d")
    xs, Ws = tuple(x.shape), tuple(W.shape)
    if len(Ws) != 4:
        raise ValueError(f"conv2d: W must be 4-D (OC, C, KH, KW), got shape {Ws}")
    if len(xs) == 4 and xs[1] != Ws[1]:
        raise ValueError(f"conv2d: x has C = {xs[1]} channels, W expects {Ws[1]} "
                         f"(x shape {xs}, W shape {Ws})")
    _check_geometry("conv2d", xs, Ws[2], Ws[3], *stride, *padding)
    if b is not None and tuple(b.shape) != (Ws[0],):
        raise ValueError(f"conv2d: b must have shape (OC,) = ({Ws[0]},), got {tuple(b.shape)}")
    for name, a in (("W", W), ("b", b)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"conv2d: {name} has dtype {a.dtype} but x has {x.dtype}; "
                            "cast one so they match")
    return Conv2dOp.apply(x, W, b, stride=stride, padding=padding)
