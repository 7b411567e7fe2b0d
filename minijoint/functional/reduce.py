r"""Reductions: sum, mean, max over some axes (or all of them).

A reduction drops (or, with ``keepdims``, keeps as size 1) the reduced axes; its backward
first puts them back as size-1 axes, then broadcasts ``gy`` over them.

Notation: ``x`` has shape ``S``; ``R`` is the set of reduced axes; ``n = ∏_{a∈R} S[a]``.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor, as_tensor

__all__ = ["sum", "mean", "max"]


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, int or tuple of ints, negatives allowed) as a sorted tuple of
    non-negative axes; None means every axis. Raises ValueError naming ``op``."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a {ndim}-D input")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def _kept_shape(shape, axes) -> tuple:
    """``shape`` with every reduced axis set to 1 (the keepdims shape)."""
    return tuple(1 if a in axes else n for a, n in enumerate(shape))


class SumOp(Function):
    r"""y = Σ_{a∈R} x.   ḡx = gy broadcast back over the reduced axes.

    x: S;  y: S without R (or with size-1 axes at R when keepdims).
    """

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        xp = get_array_module(x)
        ctx.shape, ctx.axes = x.shape, axes
        return xp.asarray(x.sum(axis=axes, keepdims=keepdims))  # asarray: a 0-d array, not a scalar

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        g = gy.reshape(_kept_shape(ctx.shape, ctx.axes))
        return xp.broadcast_to(g, ctx.shape).copy()  # copy: broadcast views are read-only


class MeanOp(Function):
    r"""y = (1/n) Σ_{a∈R} x.   ḡx = gy / n broadcast back over the reduced axes."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        xp = get_array_module(x)
        ctx.shape, ctx.axes = x.shape, axes
        ctx.n = 1
        for a in axes:
            ctx.n *= x.shape[a]
        return xp.asarray(x.mean(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        g = gy.reshape(_kept_shape(ctx.shape, ctx.axes)) / ctx.n
        return xp.broadcast_to(g, ctx.shape).copy()


class MaxOp(Function):
    r"""y = max_{a∈R} x.   ḡx = gy · 1[x = y] / (number of maxima), broadcast over R.

    Ties: when several elements share the maximum, ``gy`` is split **evenly** among them
    (a valid subgradient; the gradients still sum to ``gy``). With distinct values this
    is the ordinary gradient: everything goes to the one arg-max.
    """

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        xp = get_array_module(x)
        y = x.max(axis=axes, keepdims=True)
        ctx.shape, ctx.axes = x.shape, axes
        mask = (x == y).astype(x.dtype)
        ctx.weight = mask / mask.sum(axis=axes, keepdims=True)  # 1/(number of maxima) at each
        if not keepdims:
            y = y.reshape(tuple(n for a, n in enumerate(x.shape) if a not in axes))
        return xp.asarray(y)

    @staticmethod
    def backward(ctx, gy):
        return ctx.weight * gy.reshape(_kept_shape(ctx.shape, ctx.axes))


def _reduce(op: str, fn, x, axis, keepdims) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim, op)
    if op == "max" and any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"max: cannot take the maximum over an empty axis (shape {x.shape})")
    return fn.apply(x, axes=axes, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple of ints, or None for all axes)."""
    return _reduce("sum", SumOp, x, axis, keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (int, tuple of ints, or None for all axes)."""
    return _reduce("mean", MeanOp, x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; the gradient goes to the maxima (ties share it evenly)."""
    return _reduce("max", MaxOp, x, axis, keepdims)
