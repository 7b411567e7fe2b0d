r"""Matrix products: ``matmul`` (batched, broadcasting) and the fully connected ``linear``.

Notation: ``M × K`` times ``K × P``; leading (batch) axes broadcast as in NumPy.
``linear`` is the classifier of every branch (docs/method.md §4): ``W`` is (out, in) as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor, as_tensor
from .elementwise import same_float_dtype, unbroadcast

__all__ = ["matmul", "linear"]


def _swap(a):
    """Transpose the last two axes (a batch of matrices → a batch of their transposes)."""
    return a.swapaxes(-1, -2)


class MatMulOp(Function):
    r"""y = a @ b.

    a: (..., M, K), b: (..., K, P), y: (broadcast(...), M, P).
    ḡa = unbroadcast(gy @ bᵀ), ḡb = unbroadcast(aᵀ @ gy), where ᵀ swaps the last two axes
    and unbroadcast sums over the batch axes that broadcasting created.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a @ b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.a, ctx.b
        ga = unbroadcast(gy @ _swap(b), a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(_swap(a) @ gy, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class LinearOp(Function):
    r"""y = x Wᵀ + b  (one op: a fully connected layer).

    x: (..., in), W: (out, in), b: (out,) or absent, y: (..., out).
    With the leading axes of x and gy flattened to rows (x₂: (R, in), gy₂: (R, out)):
    ḡx = gy W,   ḡW = gy₂ᵀ x₂,   ḡb = Σ_rows gy₂.
    """

    @staticmethod
    def forward(ctx, x, W, b):
        ctx.x, ctx.W = x, W
        y = x @ W.T
        return y if b is None else y + b

    @staticmethod
    def backward(ctx, gy):
        x, W = ctx.x, ctx.W
        gy2 = gy.reshape(-1, W.shape[0])
        gx = gy @ W if ctx.needs_input_grad[0] else None
        gW = gy2.T @ x.reshape(-1, W.shape[1]) if ctx.needs_input_grad[1] else None
        gb = gy2.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gW, gb


def matmul(a, b) -> Tensor:
    """Matrix product of 2-D or batched (≥2-D, broadcasting batch axes) tensors."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: both inputs must be at least 2-D (..., M, K) @ (..., K, P), "
                         f"got shapes {a.shape} and {b.shape}; reshape a vector to (1, K) or (K, 1)")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner sizes differ: a {a.shape} has {a.shape[-1]} columns, "
                         f"b {b.shape} has {b.shape[-2]} rows")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch axes {a.shape[:-2]} and {b.shape[:-2]} do not broadcast "
                         f"(shapes {a.shape} and {b.shape})") from None
    same_float_dtype("matmul", a=a, b=b)
    return MatMulOp.apply(a, b)


def linear(x, W, b=None) -> Tensor:
    """Fully connected layer y = x Wᵀ + b for x (..., in), W (out, in), b (out,) or None."""
    x, W = as_tensor(x), as_tensor(W)
    b = None if b is None else as_tensor(b)
    if W.ndim != 2:
        raise ValueError(f"linear: W must be 2-D (out, in), got shape {W.shape}")
    if x.ndim < 1 or x.shape[-1] != W.shape[1]:
        raise ValueError(f"linear: x must end in in_features = {W.shape[1]} (W is {W.shape}), "
                         f"got shape {x.shape}")
    if b is not None and b.shape != (W.shape[0],):
        raise ValueError(f"linear: b must have shape ({W.shape[0]},) to match W {W.shape}, "
                         f"got {b.shape}")
    same_float_dtype("linear", x=x, W=W, b=b)
    return LinearOp.apply(x, W, b)
