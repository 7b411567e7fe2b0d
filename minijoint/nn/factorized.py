r"""Weight-factorized layers (paper Section 4.3, Eqs. 11–13) and their separate-weights twins.

An ANN and an SNN layer share the singular vectors of their weight and keep their own
singular values (Eq. 13)::

    W_ANN = U · diag(σ_ANN) · Vh,      W_SNN = U · diag(σ_SNN) · Vh

with a thin SVD, ``r = min(C, OC)``: U (OC, r), Vh (r, C). A convolution has one SVD per
kernel position (4.3.2, "the same SVD in every entry of the kernel"): U (KH, KW, OC, r),
Vh (KH, KW, r, C), σ (KH, KW, r). The weight (OC, C, KH, KW) is *permuted* to
(KH, KW, OC, C) before the SVD and permuted back after the rebuild — never reshaped, which
would mix the kernel axes into the channel axes (the released code does that, docs/method.md §6).

Every twin layer (:class:`TwinLayer`) is called as ``layer(x, path)`` with path "ann" or
"snn". U and Vh receive the sum of both paths' gradients; each σ only its own path's.
No orthogonality or positivity constraint is imposed (neither paper nor code has one).
Biases are not factorized: each path has its own bias, zeros at init, as ``nn.Linear``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .. import backend
from .. import functional as F
from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor, as_tensor
from . import init
from .layers import _int_pair_at_least, _positive_int
from .module import Module, Parameter

__all__ = ["RebuildWeight", "rebuild_weight", "TwinLayer", "FactorizedLinear",
           "FactorizedConv2d", "SeparateLinear", "SeparateConv2d", "twin_linear",
           "twin_conv2d", "ParameterCount", "count_parameters", "singular_values",
           "singular_value_drift", "PATHS"]

PATHS = ("ann", "snn")


class RebuildWeight(Function):
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
    W (*B, OC, C) (see :class:`RebuildWeight`)."""
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
    return RebuildWeight.apply(U, sigma, Vh)


def _thin_svd(W):
    """Parameters (U, Vh, σ_ANN, σ_SNN) of the per-position thin SVD of W (*B, OC, C),
    computed on the host in float64 and cast back to W's dtype and backend."""
    U, s, Vh = np.linalg.svd(backend.to_host(W).astype(np.float64), full_matrices=False)
    on = lambda a: Parameter(backend.to_device(a, dtype=W.dtype))  # noqa: E731
    return on(U), on(Vh), on(s), on(s)


class TwinLayer(Module):
    r"""A layer with an ANN path and an SNN path: the interface the joint networks use.

    * ``layer(x, path)`` / ``forward(x, path)``: path is "ann" or "snn";
    * ``weight(path)``: that path's weight as a Tensor (a rebuilt one when factorized);
    * ``bias(path)``: that path's bias Tensor, or None;
    * ``wft``: True for weight-factorized layers, False for separate weights;
    * ``geometry()``: (C, OC, KH, KW), with KH = KW = 1 for a linear layer.
    """

    wft = False

    def _init_bias(self, bias: bool, n: int) -> None:
        self.bias_ann = Parameter(init.zeros(n)) if bias else None
        self.bias_snn = Parameter(init.zeros(n)) if bias else None

    def _check_path(self, path):
        if path not in PATHS:
            raise ValueError(f"{type(self).__name__}: path must be 'ann' or 'snn', got {path!r}")
        return path

    def bias(self, path):
        return self.bias_ann if self._check_path(path) == "ann" else self.bias_snn

    def weight(self, path) -> Tensor:
        raise NotImplementedError

    def geometry(self) -> tuple:
        raise NotImplementedError


class _TwinLinear(TwinLayer):
    """y = x · W_pathᵀ + b_path.   x (..., in) → (..., out)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        name = type(self).__name__
        self.in_features = _positive_int(name, "in_features", in_features)
        self.out_features = _positive_int(name, "out_features", out_features)

    def _kaiming(self, rng):
        return init.kaiming_normal((self.out_features, self.in_features),
                                   fan_in=self.in_features, rng=rng)

    def forward(self, x, path):
        W = self.weight(path)
        if len(x.shape) == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__}: expected input (..., {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        return F.linear(x, W, self.bias(path))

    def geometry(self):
        return self.in_features, self.out_features, 1, 1

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias_ann is not None}"


class _TwinConv2d(TwinLayer):
    """y = conv2d(x, W_path, b_path).   x (N, C, H, W) → (N, OC, OH, OW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding):
        super().__init__()
        name = type(self).__name__
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _int_pair_at_least(name, "kernel_size", kernel_size, 1)
        self.stride = _int_pair_at_least(name, "stride", stride, 1)
        self.padding = _int_pair_at_least(name, "padding", padding, 0)

    def _kaiming(self, rng):
        KH, KW = self.kernel_size
        return init.kaiming_normal((self.out_channels, self.in_channels, KH, KW),
                                   fan_in=self.in_channels * KH * KW, rng=rng)

    def forward(self, x, path):
        W = self.weight(path)
        name, shape = type(self).__name__, tuple(x.shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{name}: expected input (N, {self.in_channels}, H, W), "
                             f"got shape {shape}")
        (KH, KW), (PH, PW) = self.kernel_size, self.padding
        if shape[2] + 2 * PH < KH or shape[3] + 2 * PW < KW:
            raise ValueError(f"{name}: kernel {KH}×{KW} is larger than the padded input "
                             f"{shape[2] + 2 * PH}×{shape[3] + 2 * PW} (input {shape[2]}×"
                             f"{shape[3]}, padding {self.padding})")
        return F.conv2d(x, W, self.bias(path), stride=self.stride, padding=self.padding)

    def geometry(self):
        return (self.in_channels, self.out_channels) + self.kernel_size

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"bias={self.bias_ann is not None}")


class _Factorized:
    """Shared by both factorized layers: ``sigma(path)`` picks that path's singular values."""

    wft = True

    def sigma(self, path) -> Parameter:
        return self.sigma_ann if self._check_path(path) == "ann" else self.sigma_snn


class FactorizedLinear(_Factorized, _TwinLinear):
    r"""Linear layer with W_path = U · diag(σ_path) · Vh (Eq. 13).

    U (OC, r), Vh (r, C), sigma_ann, sigma_snn (r,), r = min(C, OC); bias_ann, bias_snn (OC,)
    or None. Init: W ~ Kaiming normal (fan_in = C), thin SVD, σ_ANN = σ_SNN = σ.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None):
        super().__init__(in_features, out_features)
        self.U, self.Vh, self.sigma_ann, self.sigma_snn = _thin_svd(self._kaiming(rng))
        self._init_bias(bias, self.out_features)

    def weight(self, path) -> Tensor:
        """W_path (OC, C)."""
        return rebuild_weight(self.U, self.sigma(path), self.Vh)


class FactorizedConv2d(_Factorized, _TwinConv2d):
    r"""Convolution with one factorization per kernel position (4.3.2):
    W_path[:, :, i, j] = U[i, j] · diag(σ_path[i, j]) · Vh[i, j].

    U (KH, KW, OC, r), Vh (KH, KW, r, C), sigma_ann, sigma_snn (KH, KW, r); bias_ann,
    bias_snn (OC,) or None. Init: W (OC, C, KH, KW) ~ Kaiming normal (fan_in = C·KH·KW),
    permuted to (KH, KW, OC, C), thin SVD per position, σ_ANN = σ_SNN = σ.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = False, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        W = self._kaiming(rng)
        W = get_array_module(W).transpose(W, (2, 3, 0, 1))      # (KH, KW, OC, C)
        self.U, self.Vh, self.sigma_ann, self.sigma_snn = _thin_svd(W)
        self._init_bias(bias, self.out_channels)

    def weight(self, path) -> Tensor:
        """W_path (OC, C, KH, KW): the rebuilt (KH, KW, OC, C) permuted back."""
        W = rebuild_weight(self.U, self.sigma(path), self.Vh)
        return F.transpose(W, (2, 3, 0, 1))


class _Separate:
    """Shared by both separate-weights layers (the WFT-off baseline of Table 4)."""

    wft = False

    def _init_weights(self, W) -> None:
        self.W_ann, self.W_snn = Parameter(W), Parameter(W)  # two copies of one draw

    def weight(self, path) -> Tensor:
        return self.W_ann if self._check_path(path) == "ann" else self.W_snn


class SeparateLinear(_Separate, _TwinLinear):
    """Linear layer with its own W_ann, W_snn (OC, C), both the same Kaiming draw at init,
    and bias_ann, bias_snn (OC,) or None. Same interface as :class:`FactorizedLinear`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None):
        super().__init__(in_features, out_features)
        self._init_weights(self._kaiming(rng))
        self._init_bias(bias, self.out_features)


class SeparateConv2d(_Separate, _TwinConv2d):
    """Convolution with its own W_ann, W_snn (OC, C, KH, KW), both the same Kaiming draw at
    init. Same interface as :class:`FactorizedConv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = False, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self._init_weights(self._kaiming(rng))
        self._init_bias(bias, self.out_channels)


def _choose(fn, wft, factorized, separate):
    if not isinstance(wft, (bool, np.bool_)):
        raise TypeError(f"{fn}: wft must be True or False, got {wft!r}")
    return factorized if wft else separate


def twin_linear(in_features, out_features, bias=True, wft=True, rng=None) -> TwinLayer:
    """A :class:`FactorizedLinear` (``wft=True``) or a :class:`SeparateLinear`."""
    cls = _choose("twin_linear", wft, FactorizedLinear, SeparateLinear)
    return cls(in_features, out_features, bias=bias, rng=rng)


def twin_conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False,
                wft=True, rng=None) -> TwinLayer:
    """A :class:`FactorizedConv2d` (``wft=True``) or a :class:`SeparateConv2d`."""
    cls = _choose("twin_conv2d", wft, FactorizedConv2d, SeparateConv2d)
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
               bias=bias, rng=rng)


@dataclass(frozen=True)
class ParameterCount:
    r"""Weight counts of twin layers, three ways side by side (Section 4.3.1), P = KH·KW:

    * ``factorized``: thin SVD (ours), ``(r·(C + OC) + 2r)·P``;
    * ``separate``: W_ANN and W_SNN, ``2·OC·C·P``;
    * ``paper``: the paper's full-SVD formula, ``(C² + OC² + 2r)·P``;
    * ``held``: the weight scalars the layers actually hold (``factorized`` for WFT layers,
      ``separate`` for separate ones);
    * ``bias``: bias scalars of both paths, kept out of the counts above (never factorized);
    * ``layers``: how many twin layers were counted.
    """

    factorized: int = 0
    separate: int = 0
    paper: int = 0
    held: int = 0
    bias: int = 0
    layers: int = 0

    def __add__(self, other: "ParameterCount") -> "ParameterCount":
        return ParameterCount(*(getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)))


def _count_layer(layer: TwinLayer) -> ParameterCount:
    C, OC, KH, KW = layer.geometry()
    P, r = KH * KW, min(C, OC)
    weights = [layer.U, layer.Vh, layer.sigma_ann, layer.sigma_snn] if layer.wft \
        else [layer.W_ann, layer.W_snn]
    biases = [b for b in (layer.bias_ann, layer.bias_snn) if b is not None]
    return ParameterCount(factorized=(r * (C + OC) + 2 * r) * P, separate=2 * OC * C * P,
                          paper=(C * C + OC * OC + 2 * r) * P,
                          held=sum(int(w.size) for w in weights),
                          bias=sum(int(b.size) for b in biases), layers=1)


def count_parameters(module: Module) -> ParameterCount:
    """:class:`ParameterCount` of one twin layer, or summed over every twin layer inside a
    module (other layers — BatchNorm, plain Conv2d — are not counted)."""
    if not isinstance(module, Module):
        raise TypeError(f"count_parameters: expected a Module, got {type(module).__name__}")
    total = ParameterCount()
    for _, m in module.named_modules():
        if isinstance(m, TwinLayer):
            total = total + _count_layer(m)
    return total


def singular_values(model: Module) -> dict:
    """{layer name: (sigma_ann, sigma_snn)} as NumPy copies, for every factorized layer in
    ``model`` (shape (r,) for linear, (KH, KW, r) for conv). A lone layer is named by its
    class."""
    if not isinstance(model, Module):
        raise TypeError(f"singular_values: expected a Module, got {type(model).__name__}")
    return {(name or type(m).__name__): (m.sigma_ann.numpy(), m.sigma_snn.numpy())
            for name, m in model.named_modules() if isinstance(m, _Factorized)}


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
