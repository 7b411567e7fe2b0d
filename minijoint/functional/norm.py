r"""Batch normalization (Ioffe & Szegedy 2015) as one op with the fused backward.

x is (N, C) or (N, C, H, W); the statistics are per channel C, over every other axis:
M = N (2-D) or M = N·H·W (4-D) values each. The SNN folds time into the batch
((T, N, C, H, W) -> (T·N, C, H, W), docs/method.md §3), so its BN statistics are over (T·N, H, W),
and the ANN and SNN keep separate BN layers (docs/method.md §6).
"""
from __future__ import annotations

from ..backend import get_array_module, parallel_map, parallel_slices
from ..function import Function
from ..tensor import Tensor

__all__ = ["batch_norm"]


class BatchNormOp(Function):
    r"""y = γ · x̂ + β,  x̂ = (x − μ) / σ,  σ = √(v + ε), per channel.

    **Training**: μ, v are the batch mean and (biased) variance over the M values of each
    channel; the running estimates are updated *in place*,
    ``running_mean ← (1 − m)·running_mean + m·μ`` and
    ``running_var ← (1 − m)·running_var + m·v·M/(M − 1)`` (unbiased, as PyTorch).
    Backward (μ and σ depend on x; with ḡβ = Σ gy and ḡγ = Σ gy·x̂ over the M values):

        gx = (γ/σ) · (gy − mean(gy) − x̂ · mean(gy·x̂)) = (γ/σ) · (gy − ḡβ/M − x̂ · ḡγ/M)

    **Eval**: μ, v are the running estimates, constants, so y is affine in x and
    gx = (γ/σ) · gy. Shapes: x (N, C) or (N, C, H, W); γ, β, running_* (C,); y like x.

    Threads (:func:`~minijoint.backend.using_threads`): the elementwise passes are shared out
    by groups of channels; each sum over the M values runs whole, on one thread, so every
    thread count adds in the same order and gives the same bits.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        xp = get_array_module(x)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (C,) broadcast against x
        M = x.size // x.shape[1]
        x_hat, y = xp.empty_like(x), xp.empty_like(x)     # y holds (x − μ)² first
        if training:
            mu = x.mean(axis=axes, keepdims=True)

            def center(cs):  # x̂ ← x − μ, y ← (x − μ)², for channels cs
                xp.subtract(x[:, cs], mu[:, cs], out=x_hat[:, cs])
                xp.square(x_hat[:, cs], out=y[:, cs])
            parallel_slices(xp, center, x.shape[1])
            var = y.mean(axis=axes, keepdims=True)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mu.reshape(-1)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * M / (M - 1)) * var.reshape(-1)
        else:
            mu = running_mean.astype(x.dtype, copy=False).reshape(bshape)
            var = running_var.astype(x.dtype, copy=False).reshape(bshape)
            parallel_slices(xp, lambda cs: xp.subtract(x[:, cs], mu[:, cs], out=x_hat[:, cs]),
                            x.shape[1])
        inv_std = 1 / xp.sqrt(var + eps)

        def scale(cs):  # x̂ = (x − μ)·(1/σ), y = γ·x̂ + β, for channels cs
            x_hat[:, cs] *= inv_std[:, cs]
            if gamma is None:
                y[:, cs] = x_hat[:, cs]
            else:
                xp.multiply(x_hat[:, cs], gamma.reshape(bshape)[:, cs], out=y[:, cs])
            if beta is not None:
                y[:, cs] += beta.reshape(bshape)[:, cs]
        parallel_slices(xp, scale, x.shape[1])
        ctx.x_hat, ctx.inv_std, ctx.gamma = x_hat, inv_std, gamma
        ctx.axes, ctx.bshape, ctx.M, ctx.training = axes, bshape, M, training
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        x_hat, inv_std, gamma = ctx.x_hat, ctx.inv_std, ctx.gamma
        axes, bshape, M = ctx.axes, ctx.bshape, ctx.M
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        sums = need_x and ctx.training
        gy_x_hat = None
        if need_gamma or sums:
            gy_x_hat = xp.empty_like(gy)
            parallel_slices(xp, lambda cs: xp.multiply(gy[:, cs], x_hat[:, cs],
                                                       out=gy_x_hat[:, cs]), gy.shape[1])
        # ḡβ = Σ gy and ḡγ = Σ gy·x̂: two whole-array sums, run side by side
        g_beta, g_gamma = parallel_map(xp, lambda a: None if a is None else a.sum(axis=axes),
                                       [gy if (need_beta or sums) else None, gy_x_hat])
        gx = None
        if need_x:
            scale = inv_std if gamma is None else gamma.reshape(bshape) * inv_std
            gx = xp.empty_like(gy)

            def input_grad(cs):  # gx for channels cs
                if ctx.training:
                    xp.multiply(x_hat[:, cs], -g_gamma.reshape(bshape)[:, cs] / M, out=gx[:, cs])
                    gx[:, cs] += gy[:, cs]
                    gx[:, cs] -= g_beta.reshape(bshape)[:, cs] / M
                    gx[:, cs] *= scale[:, cs]
                else:
                    xp.multiply(gy[:, cs], scale[:, cs], out=gx[:, cs])
            parallel_slices(xp, input_grad, gy.shape[1])
        return (gx, g_gamma if need_gamma else None, g_beta if need_beta else None)


def batch_norm(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1,
               eps=1e-5) -> Tensor:
    r"""Batch normalization over every axis but C, see :class:`BatchNormOp`.

    x (N, C) or (N, C, H, W) Tensor; gamma, beta (C,) Tensors or None (no affine);
    running_mean, running_var (C,) raw arrays updated in place when ``training`` (or None
    in training mode: no running estimate kept); eval mode (``training=False``) needs them.
    """
    xs = tuple(x.shape)
    if len(xs) not in (2, 4):
        raise ValueError(f"batch_norm: x must be 2-D (N, C) or 4-D (N, C, H, W), got shape {xs}")
    C = xs[1]
    for name, a in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and tuple(a.shape) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape (C,) = ({C},) for x with "
                             f"C = {C} channels (x shape {xs}), got {tuple(a.shape)}")
    for name, a in (("gamma", gamma), ("beta", beta)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"batch_norm: {name} has dtype {a.dtype} but x has {x.dtype}")
    if isinstance(running_mean, Tensor) or isinstance(running_var, Tensor):
        raise TypeError("batch_norm: running_mean / running_var must be raw arrays "
                        "(module buffers), not Tensors")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                         "running_var, got None")
    if training and x.size // C < 2:
        raise ValueError(f"batch_norm: training needs more than one value per channel to "
                         f"estimate a variance, got x of shape {xs}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    if eps <= 0:
        raise ValueError(f"batch_norm: eps must be positive, got {eps}")
    return BatchNormOp.apply(x, gamma, beta, running_mean=running_mean,
                           running_var=running_var, training=training, momentum=momentum,
                           eps=eps)
