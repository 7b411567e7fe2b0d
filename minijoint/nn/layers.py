r"""The standard layers: each holds its parameters and calls one function of
:mod:`minijoint.functional`, where the arithmetic and the gradients live.

Notation: N batch, C input channels, OC output channels, H×W input size, KH×KW kernel,
OH×OW output size, ``in``/``out`` features of a linear layer.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "Identity", "Flatten",
           "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"]


def _positive_int(layer: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {v!r}")
    return int(v)


def _int_pair_at_least(layer: str, name: str, v, minimum: int) -> tuple:
    """A layer's ``v`` (an int or an (h, w) pair of ints, each ≥ ``minimum``) as a pair of
    ints; a ValueError naming the layer otherwise."""
    pair = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= minimum
        for n in pair)
    if not ok:
        raise ValueError(f"{layer}: {name} must be an integer ≥ {minimum} or a pair of them, "
                         f"got {v!r}")
    return int(pair[0]), int(pair[1])


def _check_input(layer: Module, x, ndim: int, axis: int, size: int, layout: str) -> None:
    shape = tuple(x.shape)
    if len(shape) != ndim or shape[axis] != size:
        raise ValueError(f"{layer!r}: expected input {layout} with {size} at axis {axis}, "
                         f"got shape {shape}")


class Linear(Module):
    r"""y = x Wᵀ + b.

    W (out, in) ~ Kaiming normal, std √(2/in); b (out,) zeros (None when ``bias=False``).
    Input (..., in) → output (..., out).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None):
        super().__init__()
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self.W = Parameter(init.kaiming_normal((self.out_features, self.in_features),
                                               fan_in=self.in_features, rng=rng))
        self.b = Parameter(init.zeros(self.out_features)) if bias else None

    def forward(self, x):
        """x (..., in) → (..., out)."""
        if len(x.shape) == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input (..., {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        return F.linear(x, self.W, self.b)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.b is not None}"


class Conv2d(Module):
    r"""2-D cross-correlation: y[n, o] = Σ_c W[o, c] ⋆ x[n, c] + b[o].

    W (OC, C, KH, KW) ~ Kaiming normal with fan_in = C·KH·KW; b (OC,) zeros.
    Input (N, C, H, W) → output (N, OC, OH, OW), OH = (H + 2·PH − KH) // SH + 1
    (likewise OW).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng=None):
        super().__init__()
        self.in_channels = _positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = _int_pair_at_least("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = _int_pair_at_least("Conv2d", "stride", stride, 1)
        self.padding = _int_pair_at_least("Conv2d", "padding", padding, 0)
        KH, KW = self.kernel_size
        fan_in = self.in_channels * KH * KW
        self.W = Parameter(init.kaiming_normal((self.out_channels, self.in_channels, KH, KW),
                                               fan_in=fan_in, rng=rng))
        self.b = Parameter(init.zeros(self.out_channels)) if bias else None

    def forward(self, x):
        """x (N, C, H, W) → (N, OC, OH, OW)."""
        _check_input(self, x, 4, 1, self.in_channels, "(N, C, H, W)")
        return F.conv2d(x, self.W, self.b, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}")


class _BatchNorm(Module):
    r"""Batch normalization over every axis but the channel axis 1:

        y = γ · (x − μ) / √(σ² + ε) + β

    training: μ, σ² are the batch statistics, and the running estimates move towards them
    (``r ← (1 − momentum)·r + momentum·batch``, unbiased variance); eval: μ, σ² are the
    running estimates. γ (C,) ones and β (C,) zeros are trained; ``running_mean`` (C,)
    zeros and ``running_var`` (C,) ones are buffers.
    """

    _ndim, _layout = 4, "(N, C, H, W)"

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(name, "num_features", num_features)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = Parameter(init.ones(self.num_features))
        self.beta = Parameter(init.zeros(self.num_features))
        self.register_buffer("running_mean", init.zeros(self.num_features))
        self.register_buffer("running_var", init.ones(self.num_features))

    def forward(self, x):
        _check_input(self, x, self._ndim, 1, self.num_features, self._layout)
        return F.batch_norm(x, self.gamma, self.beta, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm2d(_BatchNorm):
    __doc__ = (_BatchNorm.__doc__
               + "\n    Input (N, C, H, W) → output (N, C, H, W); statistics over (N, H, W).\n")
    _ndim, _layout = 4, "(N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + "\n    Input (N, C) → output (N, C); statistics over N.\n"
    _ndim, _layout = 2, "(N, C)"


class ReLU(Module):
    """y = max(x, 0), elementwise; any shape."""

    def forward(self, x):
        return F.relu(x)


class Identity(Module):
    """y = x (e.g. a shortcut that changes nothing)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """(N, d1, d2, ...) → (N, d1·d2·...) (axes from ``start_dim`` on are merged)."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x):
        return F.flatten(x, start_dim=self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _int_pair_at_least(name, "kernel_size", kernel_size, 1)
        self.stride = (self.kernel_size if stride is None
                       else _int_pair_at_least(name, "stride", stride, 1))
        self.padding = _int_pair_at_least(name, "padding", padding, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding must be at most half the kernel size, got "
                             f"padding={self.padding} for kernel_size={self.kernel_size}")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max of x[n, c] over the KH×KW window at (i·SH, j·SW) (after padding).
    Input (N, C, H, W) → output (N, C, OH, OW); ``stride`` defaults to ``kernel_size``."""

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = mean of x[n, c] over the KH×KW window at (i·SH, j·SW) (after padding).
    Input (N, C, H, W) → output (N, C, OH, OW); ``stride`` defaults to ``kernel_size``."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class GlobalAvgPool2d(Module):
    """y[n, c] = mean of x[n, c] over H×W.   Input (N, C, H, W) → output (N, C)."""

    def forward(self, x):
        return F.global_avg_pool2d(x)
