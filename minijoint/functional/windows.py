r"""Sliding windows as matrix columns: ``im2col`` and its adjoint ``col2im``.

Notation (used in every shape below, and in :mod:`minijoint.functional.conv`)::

    N          batch size (the SNN folds time into it: T·N, docs/method.md §3)
    C, OC      input and output channels
    H, W       input height and width
    KH, KW     kernel height and width
    SH, SW     stride along H and W
    PH, PW     zero padding added on each side of H and W
    OH, OW     output size:  OH = ⌊(H + 2·PH − KH) / SH⌋ + 1,  OW = ⌊(W + 2·PW − KW) / SW⌋ + 1
    Hp, Wp     padded size:  Hp = H + 2·PH,  Wp = W + 2·PW

The col layout is ``(C·KH·KW, N·OH·OW)``: row ``(c, i, j)`` (C-major, then kernel row i,
then kernel column j), column ``(n, oh, ow)``, and

    col[(c, i, j), (n, oh, ow)] = x_pad[n, c, SH·oh + i, SW·ow + j].

The rows are ordered exactly as ``W.reshape(OC, C·KH·KW)``, so a convolution is one GEMM
``W₂ · col`` (see :class:`~minijoint.functional.conv.Conv2dOp`). The columns are samples, so
the batch can be cut into blocks of samples, each with its own smaller col.

How col is built, from a block of samples x (B, C, H, W) (:func:`_im2col`):

* in general, x is first copied ONCE, channel-first and zero-padded,
  ``x_cn (C, B, Hp, Wp)`` (:func:`_channel_first`); then for each of the KH·KW kernel
  positions one strided slice of it, a (C, B, OH, OW) block, is copied into the col rows of
  that position (:func:`_im2col_cn`). No per-pixel loop, no fancy-index gather, no
  scatter: ``col2im`` adds the same slices back, and each ``+=`` touches distinct
  elements, so the code runs unchanged (and race-free) on CuPy;
* a 1×1 kernel without padding reads every SH-th row and SW-th column and nothing else:
  :func:`_channel_first` copies just those, and that (C, B, OH, OW) array IS the col;
* where the output is the size of one of x's phases (OH = H / SH and OW = W / SW; for
  stride 1 that is KH = 2·PH + 1, KW = 2·PW + 1: every 3×3 layer with padding 1 and the
  transposed convolution of their gx; for stride 2 every 3×3 layer with padding 1 on even
  maps), whole planes are copied instead of window rows (:func:`_im2col_planes`). x is
  split into its SH·SW phases (every SH-th row and SW-th column, from row p and column q;
  stride 1: x itself), each phase's planes are laid end to end, and a row (c, i, j) of col
  is then ONE contiguous run of them, shifted by whole rows and columns; the few values
  that run reads across a plane's or a row's edge (where the padding should be) are set to
  zero afterwards. A strided gx adds its gcol back by the same runs (:func:`_col2im_planes`);
* a product with a stride-1 col on wide maps may instead copy whole PADDED rows
  (:func:`_im2col_rows`): one run per (c, i, j, b), no values to zero, at the price of
  KW − 1 extra output columns per row that the caller drops. Not the col above (it has
  extra columns), so only for a product whose columns are outputs (y, and gx's transposed
  convolution), never for gW, which sums over the columns.

The copies with short rows (a window row is OW values: 4 to 32 in a CIFAR network) go
through :func:`_copy_rows`, which moves each row as one value of a row-sized "void" type.
"""
from __future__ import annotations

import operator

import numpy as np

from ..backend import get_array_module
from ..threads import parallel_slices
from ..tensor import Tensor

__all__ = ["im2col", "col2im"]


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


def _copy_rows(dst, src):
    """``dst[...] = src`` (same shape), copied a row at a time, where a row is the trailing
    axes that form one contiguous run of memory in both arrays.

    Why: NumPy copies a strided array with an inner loop over the values of each row and pays
    that loop's overhead once per row, which dominates for rows of 4 to 32 floats. Viewed as
    arrays of ONE value per row, of a "void" type as long as the row
    (``np.dtype((np.void, row_bytes))``), the arrays are copied with a memcpy per row and the
    inner loop runs over many rows: a kernel position of im2col 3.4× faster on 4×4 maps and
    1.7× on 8×8 (``benchmarks/bench_ops.py``). The bytes move unchanged, so the values keep
    their bits. Different dtypes (a cast), no contiguous row, or CuPy arrays: a plain
    assignment.
    """
    if (get_array_module(dst) is not np or dst.dtype != src.dtype or dst.shape != src.shape
            or dst.size == 0):
        dst[...] = src
        return
    k, row_bytes = dst.ndim, dst.itemsize
    while k > 0 and dst.strides[k - 1] == row_bytes and src.strides[k - 1] == row_bytes:
        row_bytes *= dst.shape[k - 1]
        k -= 1
    if k == dst.ndim or k == 0:   # no contiguous row, or both wholly contiguous
        dst[...] = src
        return
    row = np.dtype((np.void, row_bytes))

    def as_rows(a):   # merging axes that are contiguous is a view: the copy lands in dst
        return np.asarray(a).reshape(a.shape[:k] + (-1,)).view(row)[..., 0]
    as_rows(dst)[...] = as_rows(src)


def _channel_first(x, KH, KW, SH, SW, PH, PW, dtype):
    """x (N, C, H, W) -> x_cn (C, N, Hp, Wp): channel-first with a zero border, in ``dtype``,
    written in one pass (x may be a binary input's uint8 copy: the copy casts it). The
    threads copy a group of channels each (a copy's bits do not depend on the cut). A 1×1
    kernel without padding: (C, N, OH, OW), only the rows and columns its windows read."""
    xp = get_array_module(x)
    if KH == KW == 1 and PH == PW == 0:
        x = x[:, :, ::SH, ::SW]
    N, C, H, W = x.shape
    x_cn = xp.empty((C, N, H + 2 * PH, W + 2 * PW), dtype=dtype)

    def copy(cs):
        _copy_rows(x_cn[cs, :, PH:PH + H, PW:PW + W], x[:, cs].transpose(1, 0, 2, 3))
        if PH or PW:  # the border only: the inside was just written
            x_cn[cs, :, :PH], x_cn[cs, :, PH + H:] = 0, 0
            x_cn[cs, :, PH:PH + H, :PW], x_cn[cs, :, PH:PH + H, PW + W:] = 0, 0
    parallel_slices(xp, copy, C, worth=x_cn.nbytes >= 2 * 2**20)   # a hand-off costs ~0.1 ms
    return x_cn


def _im2col_cn(x_cn, KH, KW, SH, SW, OH, OW):
    """col (C·KH·KW, B·OH·OW) of x_cn (C, B, ·, ·), a block of :func:`_channel_first`'s output."""
    xp = get_array_module(x_cn)
    C, B = x_cn.shape[:2]
    if KH == KW == 1 and x_cn.shape[2:] == (OH, OW):  # 1×1: x_cn holds the windows already
        return x_cn.reshape(C, B * OH * OW)
    col = xp.empty((C, KH, KW, B, OH, OW), dtype=x_cn.dtype)
    for i in range(KH):
        for j in range(KW):
            _copy_rows(col[:, i, j],
                       x_cn[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW])
    return col.reshape(C * KH * KW, B * OH * OW)


def _phases(K, P, S):
    """The K kernel offsets along one axis as (phase, shift) pairs: the padded index
    ``S·o + k`` is the unpadded index ``S·(o + shift) + phase``, 0 <= phase < S."""
    return [((k - P) % S, (k - P) // S) for k in range(K)]


def _planes_fit(H, W, KH, KW, SH, SW, PH, PW) -> bool:
    """Whether :func:`_im2col_planes` builds this geometry's col: H and W cut into whole
    phases and the output is the size of a phase (OH = H / SH, OW = W / SW: for stride 1
    KH = 2·PH + 1 and KW = 2·PW + 1; for stride 2 every 3×3 layer with padding 1 on even
    maps). Not a 1×1 kernel: its col is one phase as it is (:func:`_channel_first`)."""
    return ((KH, KW) != (1, 1) and H % SH == 0 and W % SW == 0
            and _out_size(H, W, KH, KW, SH, SW, PH, PW) == (H // SH, W // SW))


def _plane_layout(H, W, KH, KW, SH, SW, PH, PW):
    """Where :func:`_im2col_planes` puts things: the (phase, shift) pairs of the kernel rows
    and columns, OH, OW, and how many zeros are kept before (``front``) and after
    (``back``) the block's phase planes, enough for every shifted run to stay inside."""
    rows, cols = _phases(KH, PH, SH), _phases(KW, PW, SW)
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW)
    shifts = [di * OW + dj for _, di in rows for _, dj in cols]
    return rows, cols, OH, OW, max(0, -min(shifts)), max(0, max(shifts))


def _zero_outside(block, di, dj):
    """Zero the windows of ``block (..., B, OH, OW)`` (one kernel offset, shifted by (di, dj)
    in its phase) that lie on the padding: the first −di (di < 0) or last di rows of each
    sample, the first −dj or last dj columns. A run over the shifted phase planes read the
    neighbouring sample's rows or the neighbouring row's values there."""
    OH, OW = block.shape[-2:]   # (a shift can exceed the plane: padding wider than the map)
    if di < 0:
        block[..., :-di, :] = 0
    elif di > 0:
        block[..., max(OH - di, 0):, :] = 0
    if dj < 0:
        block[..., :-dj] = 0
    elif dj > 0:
        block[..., max(OW - dj, 0):] = 0


def _im2col_planes(x, KH, KW, SH, SW, PH, PW, dtype):
    """col (C·KH·KW, B·OH·OW) of x (B, C, H, W) where :func:`_planes_fit`: ONE contiguous
    copy per row (c, i, j) of col.

    x is split into its SH·SW phases, ``x[b, c, SH·r + p, SW·w + q]`` for phase (p, q), each
    a plane of OH × OW values per sample (stride 1: the one phase is x). Kernel offset
    (i, j) reads phase (p, q) shifted by (di, dj) (:func:`_phases`):

        col[(c, i, j), (b, oh, ow)] = x_pad[b, c, SH·oh + i, SW·ow + j] = phase_pq[c, b, oh + di, ow + dj]

    With each phase's planes laid end to end, ``flat[p, q, c, front + (b·OH + r)·OW + w]``,
    row (c, i, j) of col is ONE contiguous run of B·OH·OW values of ``flat[p, q, c]``,
    starting at ``front + di·OW + dj``. Where oh + di or ow + dj falls outside the plane
    the window lies on the padding, but the run read the neighbouring sample's row or the
    neighbouring row's value (or the zeros around the block): those rows and columns of
    col are zeroed right after the copy, while they are in the cache (:func:`_zero_outside`).

    The split: the phase's columns first (``x[..., q::SW]``, one long strided loop, which
    NumPy runs much faster than many short ones), then its rows into ``flat``, a memcpy per
    row (:func:`_copy_rows`). With :func:`_col2im_planes` for their gx, the stride-2 3×3
    layers of the CIFAR ResNet-18 ran forward + backward 1.2–1.45× faster than on window
    rows (``benchmarks/compare_trees.py``, float32, one thread).
    """
    xp = get_array_module(x)
    B, C, H, W = x.shape
    rows, cols, OH, OW, front, back = _plane_layout(H, W, KH, KW, SH, SW, PH, PW)
    n = B * OH * OW   # one phase of the block, per channel
    flat = xp.empty((SH, SW, C, front + n + back), dtype=dtype)

    def copy(cs):   # each phase of these channels into the middle; zeros around it
        for q in range(SW):
            xq = x[:, cs] if SW == 1 else x[:, cs, :, q::SW].astype(dtype)
            for p in range(SH):
                _copy_rows(flat[p, q, cs, front:front + n].reshape(-1, B, OH, OW),
                           xq[:, :, p::SH].transpose(1, 0, 2, 3))
                flat[p, q, cs, :front], flat[p, q, cs, front + n:] = 0, 0
    parallel_slices(xp, copy, C, worth=flat.nbytes >= 2 * 2**20)
    col = xp.empty((C, KH, KW, B, OH, OW), dtype=dtype)
    for i, (p, di) in enumerate(rows):
        for j, (q, dj) in enumerate(cols):
            start = front + di * OW + dj   # (a reshape of contiguous axes: a view)
            col[:, i, j].reshape(C, n)[...] = flat[p, q, :, start:start + n]
            _zero_outside(col[:, i, j], di, dj)
    return col.reshape(C * KH * KW, n)


def _col2im_planes(gcol, out, KH, KW, SH, SW, PH, PW):
    """``out (B, C, H, W) = col2im(gcol)`` where :func:`_planes_fit`, by the runs of
    :func:`_im2col_planes` in reverse: each row (c, i, j) of gcol (C·KH·KW, B·OH·OW) is
    added as ONE contiguous run into its zero-initialized phase planes, then the phases are
    interleaved into ``out``. gcol's windows on the padding are zeroed first (in place:
    gcol is used up). The values are added in the same (i, j) order as :func:`_col2im_cn`,
    starting from +0.0 (a running sum that starts at +0.0 is never −0.0, so adding a zeroed
    value changes no bit): the same result, bit for bit."""
    xp = get_array_module(gcol)
    B, C, H, W = out.shape
    rows, cols, OH, OW, front, back = _plane_layout(H, W, KH, KW, SH, SW, PH, PW)
    n = B * OH * OW
    gcol = gcol.reshape(C, KH, KW, B, OH, OW)
    acc = xp.zeros((SH, SW, C, front + n + back), dtype=gcol.dtype)
    for i, (p, di) in enumerate(rows):
        for j, (q, dj) in enumerate(cols):
            _zero_outside(gcol[:, i, j], di, dj)
            start = front + di * OW + dj
            acc[p, q, :, start:start + n] += gcol[:, i, j].reshape(C, n)
    xq = out if SW == 1 else xp.empty((B, C, H, OW), dtype=gcol.dtype)
    for q in range(SW):   # rows into the phase's columns, then those columns into out
        for p in range(SH):
            _copy_rows(xq[:, :, p::SH], acc[p, q, :, front:front + n]
                       .reshape(C, B, OH, OW).transpose(1, 0, 2, 3))
        if SW > 1:
            out[..., q::SW] = xq


def _im2col_rows(x_cn, KH, KW, OH):
    """Stride-1 im2col over whole padded rows: col (C·KH·KW, B·OH·Wp) of x_cn (C, B, Hp, Wp),

        col[(c, i, j), (b, oh, w)] = x_cn[c, b, oh + i, j + w]   for w in [0, Wp),

    read from the flattened plane as ``plane[(oh + i)·Wp + j + w]``, so each (c, i, j, b) is
    ONE contiguous run of OH·Wp values (:func:`_im2col_cn` copies OH runs of OW). The columns
    w ≥ OW = Wp − KW + 1 are not windows (they run into the next row): a product with this
    col computes KW − 1 extra output columns per row, which the caller drops.
    """
    xp = get_array_module(x_cn)
    C, B, Hp, Wp = x_cn.shape
    planes = x_cn.reshape(C, B, Hp * Wp)
    col = xp.empty((C, KH, KW, B, OH * Wp), dtype=x_cn.dtype)
    for i in range(KH):
        for j in range(KW):
            start = i * Wp + j
            n = min(OH * Wp, Hp * Wp - start)  # the last row's run stops at the plane's end:
            col[:, i, j, :, :n] = planes[:, :, start:start + n]
            col[:, i, j, :, n:] = 0            # what it misses are dropped columns
    return col.reshape(C * KH * KW, B * OH * Wp)


def _whole_rows_pay(KW, OW) -> bool:
    """Whether a stride-1 product should run over whole rows (:func:`_im2col_rows`) rather
    than an exact col: its contiguous copies and its products measured faster once the
    KW − 1 extra columns per row of OW are less than 1/8 of the product (OW > 16 for 3×3:
    the 32×32 maps of a CIFAR network). For 3×3 layers with padding 1 (forward,
    (128, C, H, H) ⊛ (C, C, 3, 3), float32, one thread, interleaved runs) whole rows were
    1.2–1.3× faster than :func:`_im2col_planes` on 32×32 maps when the planes made one run
    per sample. With the planes laid end to end (one run per row of col) whole rows were
    still 1.06× faster on 32×32 (1.36× for the 3-channel stem), and the planes 1.07–1.12×
    faster on 16×16 (``benchmarks/compare_trees.py``, the 16×16 layer forward + backward).
    Never for KW = 1.
    """
    return 1 < KW and 8 * (KW - 1) < OW


def _im2col(x, KH, KW, SH, SW, PH, PW, dtype):
    """col (C·KH·KW, B·OH·OW) of a block of samples x (B, C, H, W), in ``dtype`` (x may be
    a binary input's uint8 copy: the copies cast it). Every path builds the same col."""
    if _planes_fit(*x.shape[2:], KH, KW, SH, SW, PH, PW):
        return _im2col_planes(x, KH, KW, SH, SW, PH, PW, dtype)
    OH, OW = _out_size(x.shape[2], x.shape[3], KH, KW, SH, SW, PH, PW)
    return _im2col_cn(_channel_first(x, KH, KW, SH, SW, PH, PW, dtype), KH, KW, SH, SW, OH, OW)


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
    return _im2col(x, KH, KW, SH, SW, PH, PW, x.dtype)


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
# An op whose whole col is smaller than this runs its blocks on the calling thread: handing
# them to the pool cost more than it saved for the digits network (8×8 maps, col <= 5 MB).
_THREADED_COL_BYTES = 8 * 2**20


def _blocks(xp, N, sample_col_bytes):
    """Slices of the batch axis, each holding samples whose col fits ``_COL_BLOCK_BYTES``.
    They never depend on the number of threads: the threads share out the same blocks."""
    B = N if xp is not np else max(1, _COL_BLOCK_BYTES // sample_col_bytes)
    return [slice(n0, min(n0 + B, N)) for n0 in range(0, N, B)]
