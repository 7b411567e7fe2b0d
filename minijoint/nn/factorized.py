r"""Twin layers with factorized weights (paper Section 4.3, Eqs. 11–13) or separate ones.

An ANN and an SNN layer share the singular vectors of their weight and keep their own
singular values (Eq. 13)::

    W_ANN = U · diag(σ_ANN) · Vh,      W_SNN = U · diag(σ_SNN) · Vh

with a thin SVD, ``r = min(C, OC)``: U (OC, r), Vh (r, C). A convolution has one SVD per
kernel position (4.3.2, "the same SVD in every entry of the kernel"): U (KH, KW, OC, r),
Vh (KH, KW, r, C), σ (KH, KW, r). The weight (OC, C, KH, KW) is *permuted* to
(KH, KW, OC, C) before the SVD and permuted back after the rebuild — never reshaped, which
would mix the kernel axes into the channel axes (the released code does that, docs/method.md §6).

A twin layer (:class:`TwinConv2d`, :class:`TwinLinear`) is called as ``layer(x, path)``
with path "ann" or "snn": it rebuilds W_path, then convolves (or multiplies). U and Vh
receive the sum of both paths' gradients; each σ only its own path's. No orthogonality or
positivity constraint is imposed (neither paper nor code has one). With ``wft=False`` each
path has its own W instead (the baseline of Table 4). Biases are not factorized: each path
has its own bias, zeros at init, as ``nn.Linear``. A layer built for one path only holds
nothing of the other.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor, as_tensor
from . import init
from .layers import _int_pair_at_least, _positive_int
from .module import Module, Parameter

__all__ = ["RebuildWeightOp", "rebuild_weight", "TwinLayer", "TwinLinear", "TwinConv2d",
           "check_paths", "singular_values", "singular_value_drift", "PATHS"]

PATHS = ("ann", "snn")


def check_paths(where: str, paths) -> tuple:
    """``paths`` as a tuple in canonical order ("ann" before "snn"); a clear error otherwise."""
    if isinstance(paths, str):
        paths = (paths,)
    try:
        given = tuple(paths)
    except TypeError:
        raise TypeError(f"{where}: paths must be a tuple of 'ann'/'snn', got {paths!r}") from None
    if not given or any(p not in PATHS for p in given) or len(set(given)) != len(given):
        raise ValueError(f"{where}: paths must be a non-empty tuple of distinct names from "
                         f"{PATHS}, got {paths!r}")
    return tuple(p for p in PATHS if p in given)


class RebuildWeightOp(Function):
    r"""W = U · diag(σ) · Vh at every kernel position (Eqs. 12–13).

    Shapes, with B any batch shape (``()`` for a linear layer, ``(KH, KW)`` for a conv):
    U (*B, OC, r), σ (*B, r), Vh (*B, r, C) → W (*B, OC, C); per position
    ``W[o, c] = Σ_k U[o, k] σ[k] Vh[k, c]``.

    Backward, with G = ∂L/∂W at one position (gy):

        ḡU  = G · Vhᵀ · diag(σ)              (OC, r)
        ḡVh = diag(σ) · Uᵀ · G               (r, C)
        ḡσ  = diag(Uᵀ · G · Vhᵀ),  i.e. ḡσ[k] = Σ_o U[o, k] (G Vhᵀ)[o, k]

    G·Vhᵀ is computed once and serves both ḡU and ḡσ, so the r×r product is never formed.
    """

    @staticmethod
    def forward(ctx, U, sigma, Vh):
        xp = get_array_module(U)
        ctx.U, ctx.sigma, ctx.Vh = U, sigma, Vh
        return xp.matmul(U * sigma[..., None, :], Vh)

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        U, sigma, Vh = ctx.U, ctx.sigma, ctx.Vh
        need_U, need_sigma, need_Vh = ctx.needs_input_grad
        gU = gsigma = gVh = None
        if need_U or need_sigma:
            GVt = xp.matmul(gy, xp.swapaxes(Vh, -1, -2))            # (*B, OC, r)
            gU = GVt * sigma[..., None, :] if need_U else None
            gsigma = (U * GVt).sum(axis=-2) if need_sigma else None
        if need_Vh:
            gVh = sigma[..., :, None] * xp.matmul(xp.swapaxes(U, -1, -2), gy)
        return gU, gsigma, gVh


def rebuild_weight(U, sigma, Vh) -> Tensor:
    r"""W = U · diag(σ) · Vh per position: U (*B, OC, r), σ (*B, r), Vh (*B, r, C) →
    W (*B, OC, C) (see :class:`RebuildWeightOp`)."""
    U, sigma, Vh = as_tensor(U), as_tensor(sigma), as_tensor(Vh)
    if U.ndim < 2 or sigma.ndim != U.ndim - 1 or Vh.ndim != U.ndim:
        raise ValueError(f"rebuild_weight: expected U (*B, OC, r), sigma (*B, r), Vh (*B, r, C), "
                         f"got shapes {U.shape}, {sigma.shape}, {Vh.shape}")
    B, r = U.shape[:-2], U.shape[-1]
    if sigma.shape != (*B, r) or Vh.shape[:-1] != (*B, r):
        raise ValueError(f"rebuild_weight: with U of shape {U.shape} expected sigma {(*B, r)} "
                         f"and Vh {(*B, r, 'C')}, got {sigma.shape} and {Vh.shape}")
    if not U.dtype == sigma.dtype == Vh.dtype:
        raise TypeError(f"rebuild_weight: U, sigma, Vh must share one dtype, got "
                        f"{U.dtype}, {sigma.dtype}, {Vh.dtype}")
    return RebuildWeightOp.apply(U, sigma, Vh)


def _thin_svd(W):
    """(U, σ, Vh) of the per-position thin SVD of W (*B, OC, C), computed on the host in
    float64 and cast back to W's dtype and backend."""
    U, s, Vh = np.linalg.svd(backend.to_host(W).astype(np.float64), full_matrices=False)
    return tuple(backend.to_device(a, dtype=W.dtype) for a in (U, s, Vh))


class TwinLayer(Module):
    r"""The parameters of a twin layer's two paths, "ann" and "snn"; :class:`TwinConv2d`
    and :class:`TwinLinear` add the geometry, the rebuild and the forward.

    In state_dict order: ``wft=True``: U, Vh (shared), sigma_ann, sigma_snn;
    ``wft=False``: W_ann, W_snn; then bias_ann, bias_snn when ``bias``. A path not in
    ``paths`` gets None for its own σ / W / bias (nothing is allocated for it) and
    ``layer(x, path)`` refuses it.
    """

    def _init_parameters(self, W, W_svd, wft, paths, bias: bool, n_out: int) -> None:
        """The parameters from the Kaiming draw W: the thin SVD of W_svd (W laid out as
        (*B, OC, C)) with σ_ANN = σ_SNN = σ, or a copy of W per path; zero biases (n_out,)."""
        name = type(self).__name__
        if not isinstance(wft, (bool, np.bool_)):
            raise TypeError(f"{name}: wft must be True or False, got {wft!r}")
        self.wft, self.paths = bool(wft), check_paths(name, paths)
        per_path = lambda a: [Parameter(a) if p in self.paths else None  # noqa: E731
                              for p in PATHS]
        if self.wft:
            U, sigma, Vh = _thin_svd(W_svd)
            self.U, self.Vh = Parameter(U), Parameter(Vh)
            self.sigma_ann, self.sigma_snn = per_path(sigma)
        else:
            self.W_ann, self.W_snn = per_path(W)               # copies of one draw
        self.bias_ann, self.bias_snn = per_path(init.zeros(n_out)) if bias else (None, None)

    def _check_path(self, path) -> str:
        if path not in PATHS:
            raise ValueError(f"{type(self).__name__}: path must be 'ann' or 'snn', got {path!r}")
        if path not in self.paths:
            raise ValueError(f"{type(self).__name__}: path {path!r} was not built (this layer "
                             f"has paths={self.paths})")
        return path

    def _own(self, kind: str, path):
        """``path``'s own "sigma", "W" or "bias"."""
        return getattr(self, f"{kind}_{self._check_path(path)}")

    def sigma(self, path) -> Parameter:
        """σ_path of a factorized layer."""
        return self._own("sigma", path)

    def bias(self, path):
        """b_path (OC,), or None."""
        return self._own("bias", path)

    def path_parameters(self, path) -> dict:
        """{name: Parameter} that ``path``'s forward reads, in state_dict order:
        U, Vh, sigma_path (or W_path), bias_path."""
        path = self._check_path(path)
        names = ["U", "Vh", f"sigma_{path}"] if self.wft else [f"W_{path}"]
        return {n: getattr(self, n) for n in names + [f"bias_{path}"]
                if getattr(self, n) is not None}

    def extra_repr(self):
        bias = self.bias_ann is not None or self.bias_snn is not None
        return f"wft={self.wft}, paths={self.paths}, bias={bias}"


class TwinLinear(TwinLayer):
    r"""A linear layer with two paths: ``layer(x, path)`` = x · W_pathᵀ + b_path,
    x (..., C) → (..., OC).

    ``wft=True`` (Eq. 13): W_path = U · diag(σ_path) · Vh with U (OC, r), Vh (r, C),
    sigma_ann, sigma_snn (r,), r = min(C, OC). ``wft=False``: W_ann, W_snn (OC, C).
    bias_ann, bias_snn (OC,) when ``bias``. Init: W ~ Kaiming normal (fan_in = C); thin
    SVD, σ_ANN = σ_SNN = σ (both paths rebuild W), or a copy of W per path.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, wft=True,
                 paths=PATHS, rng=None):
        super().__init__()
        self.in_features = _positive_int("TwinLinear", "in_features", in_features)
        self.out_features = _positive_int("TwinLinear", "out_features", out_features)
        W = init.kaiming_normal((self.out_features, self.in_features),
                                fan_in=self.in_features, rng=rng)
        self._init_parameters(W, W, wft, paths, bias, self.out_features)  # SVD of W itself

    def weight(self, path) -> Tensor:
        """W_path (OC, C): rebuilt from U, σ_path, Vh, or the path's own W."""
        if not self.wft:
            return self._own("W", path)
        return rebuild_weight(self.U, self.sigma(path), self.Vh)

    def forward(self, x, path):
        """x (..., C) → (..., OC): rebuild W_path, then multiply."""
        if len(x.shape) == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"TwinLinear: expected input (..., {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        W = self.weight(path)                  # U·diag(σ_path)·Vh, or the path's own W
        return F.linear(x, W, self.bias(path))

    def geometry(self) -> tuple:
        """(C, OC, KH, KW) = (in_features, out_features, 1, 1)."""
        return self.in_features, self.out_features, 1, 1

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, {super().extra_repr()}"


class TwinConv2d(TwinLayer):
    r"""A convolution with two paths: ``layer(x, path)`` = conv2d(x, W_path) + b_path,
    x (N, C, H, W) → (N, OC, OH, OW).

    ``wft=True``: one factorization per kernel position (4.3.2), r = min(C, OC):
    W_path[:, :, i, j] = U[i, j] · diag(σ_path[i, j]) · Vh[i, j] with U (KH, KW, OC, r),
    Vh (KH, KW, r, C), sigma_ann, sigma_snn (KH, KW, r). ``wft=False``: W_ann, W_snn
    (OC, C, KH, KW). bias_ann, bias_snn (OC,) when ``bias``.

    Init: W (OC, C, KH, KW) ~ Kaiming normal (fan_in = C·KH·KW); permuted to
    (KH, KW, OC, C), thin SVD per position, σ_ANN = σ_SNN = σ (both paths rebuild W); or a
    copy of W per path.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = False, wft=True, paths=PATHS, rng=None):
        super().__init__()
        name = "TwinConv2d"
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _int_pair_at_least(name, "kernel_size", kernel_size, 1)
        self.stride = _int_pair_at_least(name, "stride", stride, 1)
        self.padding = _int_pair_at_least(name, "padding", padding, 0)
        (C, OC), (KH, KW) = (self.in_channels, self.out_channels), self.kernel_size
        W = init.kaiming_normal((OC, C, KH, KW), fan_in=C * KH * KW, rng=rng)
        W_svd = get_array_module(W).transpose(W, (2, 3, 0, 1))    # (KH, KW, OC, C)
        self._init_parameters(W, W_svd, wft, paths, bias, OC)

    def weight(self, path) -> Tensor:
        """W_path (OC, C, KH, KW): rebuilt per kernel position as (KH, KW, OC, C) and
        permuted back, or the path's own W."""
        if not self.wft:
            return self._own("W", path)
        return F.transpose(rebuild_weight(self.U, self.sigma(path), self.Vh), (2, 3, 0, 1))

    def forward(self, x, path):
        """x (N, C, H, W) → (N, OC, OH, OW): rebuild W_path, then convolve."""
        self._check_input(x)
        W = self.weight(path)                  # U·diag(σ_path)·Vh per position, or own W
        return F.conv2d(x, W, self.bias(path), stride=self.stride, padding=self.padding)

    def _check_input(self, x) -> None:
        shape, (KH, KW), (PH, PW) = tuple(x.shape), self.kernel_size, self.padding
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"TwinConv2d: expected input (N, {self.in_channels}, H, W), "
                             f"got shape {shape}")
        if shape[2] + 2 * PH < KH or shape[3] + 2 * PW < KW:
            raise ValueError(f"TwinConv2d: kernel {KH}×{KW} is larger than the padded input "
                             f"{shape[2] + 2 * PH}×{shape[3] + 2 * PW} (input {shape[2]}×"
                             f"{shape[3]}, padding {self.padding})")

    def geometry(self) -> tuple:
        """(C, OC, KH, KW)."""
        return (self.in_channels, self.out_channels) + self.kernel_size

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, {super().extra_repr()}")


def singular_values(model: Module) -> dict:
    """{layer name: (sigma_ann, sigma_snn)} as NumPy copies, for every factorized layer of
    both paths in ``model`` (shape (r,) for linear, (KH, KW, r) for conv). A lone layer is
    named by its class."""
    if not isinstance(model, Module):
        raise TypeError(f"singular_values: expected a Module, got {type(model).__name__}")
    return {(name or type(m).__name__): (m.sigma_ann.numpy(), m.sigma_snn.numpy())
            for name, m in model.named_modules()
            if isinstance(m, TwinLayer) and m.wft and m.paths == PATHS}


def singular_value_drift(history) -> dict:
    """{layer name: array (E,)} of mean |σ_ANN − σ_SNN| per epoch, from a list of E
    :func:`singular_values` snapshots (every snapshot must name the same layers)."""
    history = list(history)
    if not history:
        raise ValueError("singular_value_drift: history is empty; expected a list of "
                         "{layer: (sigma_ann, sigma_snn)} snapshots")
    names = list(history[0])
    for e, snap in enumerate(history):
        if sorted(snap) != sorted(names):
            raise ValueError(f"singular_value_drift: epoch {e} has layers {sorted(snap)}, "
                             f"epoch 0 has {sorted(names)}")
    gap = lambda a, b: np.mean(np.abs(np.asarray(a, float) - np.asarray(b, float)))  # noqa: E731
    return {name: np.array([gap(*snap[name]) for snap in history]) for name in names}
