r"""2-D convolution as matrix products on ``im2col`` columns: ``conv2d`` and its op.

Notation and the col layout: :mod:`minijoint.functional.windows`. With ``W₂`` = W as
(OC, C·KH·KW) and ``gy₂`` = gy with OC moved first, (OC, N·OH·OW), each product of a
convolution is a GEMM on col:

    forward   y   = W₂ · col          (OC, C·KH·KW) @ (C·KH·KW, N·OH·OW)
    backward  gWᵀ = col · gy₂ᵀ        (C·KH·KW, N·OH·OW) @ (N·OH·OW, OC)
              gx  = col2im(W₂ᵀ · gy₂), or for stride 1 a transposed convolution (Conv2dOp)

y and gx come out channel-first and are transposed back to (N, ·, ·, ·): copies of arrays
C·KH·KW times smaller than col. (gWᵀ rather than gW = gy₂ · colᵀ: the same sums, measured
1.5–2× faster for OC = 16, 32.) A per-sample layout (N, C·KH·KW, OH·OW) avoids those
transposes but turns each product into N small GEMMs, which measured about 10% slower.

On NumPy the batch is processed in blocks of samples (the columns of col), to keep each
block's col in the CPU cache, and the blocks are shared out among the threads of
:func:`minijoint.threads.using_threads`. The blocks do not depend on the number of threads,
each is the same GEMM on every thread count and the sums over blocks (gW, gb) are added in
block order: every thread count gives the same bits (tests/test_threads.py). On more than
one thread gW is computed in the background (:func:`minijoint.threads.in_background`): the
autodiff engine needs it only when its backward reaches W, after every earlier layer.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..threads import in_background, parallel_map
from ..function import Function
from ..tensor import Tensor
from .binary import PackedBits, binary_owner, pack_bits
from .windows import (_THREADED_COL_BYTES, _blocks, _channel_first, _check_geometry,
                      _col2im_cn, _col2im_planes, _copy_rows, _im2col, _im2col_rows, _int_pair,
                      _out_size, _planes_fit, _whole_rows_pay, col2im, im2col)

__all__ = ["im2col", "col2im", "conv2d"]


def _product(A, x, KH, KW, SH, SW, PH, PW, dtype):
    """A (M, C·KH·KW) times the col of a block x (B, C, H, W): (M, B, OH, OW), the windows
    of the block as GEMM columns. Stride 1 on wide rows runs over whole padded rows
    (``_im2col_rows``) and drops the KW − 1 extra columns per row from the product."""
    M, (OH, OW) = A.shape[0], _out_size(x.shape[2], x.shape[3], KH, KW, SH, SW, PH, PW)
    if SH == SW == 1 and _whole_rows_pay(KW, OW):
        x_cn = _channel_first(x, KH, KW, SH, SW, PH, PW, dtype)
        return (A @ _im2col_rows(x_cn, KH, KW, OH)).reshape(M, -1, OH, x_cn.shape[3])[..., :OW]
    return (A @ _im2col(x, KH, KW, SH, SW, PH, PW, dtype)).reshape(M, -1, OH, OW)


class Conv2dOp(Function):
    r"""y[n, o, oh, ow] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, SH·oh + i, SW·ow + j] + b[o].

    Shapes: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> y (N, OC, OH, OW).
    Forward: ``y₂ = W₂ · col`` with ``W₂ = W.reshape(OC, C·KH·KW)`` and ``col = im2col(x)``.
    Backward, with ``gy₂`` = gy as (OC, N·OH·OW):

        gb = Σ_{n,oh,ow} gy           gWᵀ = col · gy₂ᵀ          gcol = W₂ᵀ · gy₂,  gx = col2im(gcol)

    For stride 1 (and PH < KH, PW < KW) gx is computed instead as the equivalent transposed
    convolution, a stride-1 convolution of gy padded by (KH−1−PH, KW−1−PW) with the kernel
    flipped in space and its channel axes swapped:
    ``gx[n, c, h, w] = Σ_{o,i,j} gy_pad[n, o, h + i, w + j] · W[o, c, KH−1−i, KW−1−j]``.
    It reads gy's small col instead of writing and re-reading the large gcol and measured
    about 1.5× faster than GEMM + col2im for (128, 16, 32, 32) ⊛ (16, 16, 3, 3).

    Memory and speed (NumPy): blocks of samples whose col fits the CPU cache
    (``_COL_BLOCK_BYTES``) run on the threads; each block copies its samples of x (or gy)
    channel-first and padded, then builds its col from that copy while it is in the cache.
    gW and gb are sums over samples; blocking changes nothing but the order of their
    additions. col is *not* kept for the backward (it is C·KH·KW times the size of x):
    the backward recomputes it from x, which measured faster (1.2–1.5×) than keeping one
    large col. A binary x (spikes, :mod:`minijoint.functional.binary`) is kept in 1 bit per
    value. gx is skipped when x needs no gradient (the network's input), col when W needs none.
    """

    @staticmethod
    def forward(ctx, x, W, b, stride, padding):
        xp = get_array_module(x)
        (N, C, H, Wd), (OC, _, KH, KW) = x.shape, W.shape
        (SH, SW), (PH, PW) = stride, padding
        OH, OW = _out_size(H, Wd, KH, KW, SH, SW, PH, PW)
        W2 = W.reshape(OC, -1)
        y = xp.empty((N, OC, OH, OW), dtype=x.dtype)

        def block(s):  # y[s] = W₂ · col, transposed to (B, OC, OH, OW)
            y2 = _product(W2, x[s], KH, KW, SH, SW, PH, PW, x.dtype).transpose(1, 0, 2, 3)
            if b is None:
                _copy_rows(y[s], y2)
            else:  # add the bias while transposing: one pass
                xp.add(y2, b.reshape(1, OC, 1, 1), out=y[s])
        sample_col_bytes = C * KH * KW * OH * OW * x.itemsize
        parallel_map(xp, block, _blocks(xp, N, sample_col_bytes),
                     worth=N * sample_col_bytes >= _THREADED_COL_BYTES)
        # a binary input (spikes) is kept in 1 bit per value, shared with the op that made it
        ctx.x = x if binary_owner(x) is None else pack_bits(x)
        ctx.W, ctx.geometry = W, (KH, KW, SH, SW, PH, PW)
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        x, W, (need_x, need_W, need_b) = ctx.x, ctx.W, ctx.needs_input_grad
        KH, KW, SH, SW, PH, PW = ctx.geometry
        (N, C, H, Wd), (_, OC, OH, OW) = x.shape, gy.shape
        blocks = _blocks(xp, N, C * KH * KW * OH * OW * gy.itemsize)
        worth = N * C * KH * KW * OH * OW * gy.itemsize >= _THREADED_COL_BYTES

        def gy2(s):   # gy₂ of a block: (OC, B·OH·OW)
            return _channel_first(gy[s], 1, 1, 1, 1, 0, 0, gy.dtype).reshape(OC, -1)

        gx = None
        if need_x:
            gx = xp.empty(x.shape, dtype=gy.dtype)
            if SH == 1 and SW == 1 and PH < KH and PW < KW:  # gx as a transposed convolution
                W_t = xp.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)

                def gx_block(s):
                    _copy_rows(gx[s], _product(W_t, gy[s], KH, KW, 1, 1, KH - 1 - PH,
                                               KW - 1 - PW, gy.dtype).transpose(1, 0, 2, 3))
            else:
                W2, by_runs = W.reshape(OC, -1), _planes_fit(H, Wd, KH, KW, SH, SW, PH, PW)

                def gx_block(s):   # gx = col2im(gcol), gcol = W₂ᵀ · gy₂
                    gcol = W2.T @ gy2(s)
                    if by_runs:    # as runs of the phase planes, straight into gx
                        _col2im_planes(gcol, gx[s], KH, KW, SH, SW, PH, PW)
                    else:
                        gx_cn = _col2im_cn(gcol, C, s.stop - s.start, H, Wd, KH, KW, SH, SW,
                                           PH, PW)
                        _copy_rows(gx[s], gx_cn.transpose(1, 0, 2, 3))
            parallel_map(xp, gx_block, blocks, worth=worth)

        gW = None
        if need_W:
            x = x.unpack() if isinstance(x, PackedBits) else x  # uint8: cast by _im2col

            def gWt_term(s):  # a block's term of gWᵀ = col · gy₂ᵀ
                return _im2col(x[s], KH, KW, SH, SW, PH, PW, gy.dtype) @ gy2(s).T

            def total(terms):  # the sum over samples, in block order
                gWt = xp.zeros((C * KH * KW, OC), dtype=gy.dtype)
                for term in terms:
                    gWt += term
                return xp.ascontiguousarray(gWt.T).reshape(W.shape)
            # gW is needed only when the backward reaches W (after every earlier layer's
            # backward): on more than one thread it is computed meanwhile, in the background
            gW = in_background(xp, gWt_term, blocks, total, W.shape, gy.dtype, worth=worth,
                               holds=gy.nbytes + x.nbytes)

        gb = None
        if need_b:
            gb = xp.zeros(OC, dtype=gy.dtype)
            for s in blocks:
                gb += gy2(s).sum(axis=1)
        return gx, gW, gb


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
