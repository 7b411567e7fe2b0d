r"""The LIF layer and the time conventions of a spiking network (docs/method.md §3).

A spiking activation has shape (T, N, ...): time first. Three rules:

* **Stateless layers fold time into the batch** (conv, BN, pooling, linear):
  ``(T, N, C, H, W) → (T·N, C, H, W)`` by :func:`fold_time`, back by :func:`unfold_time`;
  :class:`TimeDistributed` does both around its layers. An SNN BatchNorm therefore takes
  its statistics over (T·N, H, W).
* **Direct encoding, stem once**: the analog image enters the first conv at every step,
  so the stem's output is the same for every t. :func:`repeat_time` computes it once and
  broadcasts it over T; its gradient is the sum over t (exact, not an approximation).
* **Readout without firing** (Eq. 3): ``y_net = (1/T)·Σ_t W xᵗ``. Since W is linear, the
  classifier may run per step and :func:`readout` averages (``mode="mean"``, the paper) or
  sums (``mode="sum"``, the released code: logits T times larger) over t.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..backend import get_array_module
from ..function import Function
from ..snn.lif import check_settings, lif
from ..tensor import Tensor, as_tensor
from .module import Module

__all__ = ["LIF", "fold_time", "unfold_time", "repeat_time", "readout",
           "TimeDistributed", "RepeatTime", "Readout"]


class LIF(Module):
    r"""LIF neurons over a whole sequence (Eqs. 1–2; BPTT Eq. 4): (T, N, ...) → spikes (T, N, ...).

    Settings as :func:`minijoint.snn.lif`: ``tau`` ∈ (0, 1), ``v_th`` > 0, ``surrogate``
    (instance, name, or None = Rectangle(a=1)), ``detach_reset``; ``smooth=True`` fires
    P(u_pre) instead of spikes (for finite-difference checks). No parameters.

    ``last_rate``: mean of the last output (the firing rate, a Python float; used for the
    energy estimate of Section 5.4 and for logging). Set ``traces = []`` to collect the
    :class:`~minijoint.snn.LIFTrace` of every backward.
    """

    def __init__(self, tau: float = 0.25, v_th: float = 0.5, surrogate=None,
                 detach_reset: bool = False, smooth: bool = False):
        super().__init__()
        self.surrogate = check_settings("LIF", tau, v_th, surrogate)
        self.tau, self.v_th = float(tau), float(v_th)
        self.detach_reset, self.smooth = bool(detach_reset), bool(smooth)
        self.traces = None
        self._rate = None  # 0-d array on the device: converting to float waits for it

    def forward(self, x):
        y = lif(x, self.tau, self.v_th, self.surrogate, detach_reset=self.detach_reset,
                smooth=self.smooth, traces=self.traces)
        self._rate = y.data.mean()
        return y

    @property
    def last_rate(self):
        """Firing rate of the last forward (mean over all outputs), or None before any."""
        return None if self._rate is None else float(self._rate)

    def extra_repr(self):
        return (f"tau={self.tau}, v_th={self.v_th}, surrogate={self.surrogate!r}, "
                f"detach_reset={self.detach_reset}" + (", smooth=True" if self.smooth else ""))


def _time_steps(where: str, T) -> int:
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ValueError(f"{where}: T must be a positive integer, got T={T!r}")
    return int(T)


def fold_time(x) -> Tensor:
    """(T, N, ...) → (T·N, ...): time folded into the batch for a stateless layer."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"fold_time: x must be (T, N, ...), got shape {tuple(x.shape)}")
    T, N = x.shape[:2]
    return F.reshape(x, (T * N,) + tuple(x.shape[2:]))


def unfold_time(x, T: int) -> Tensor:
    """(T·N, ...) → (T, N, ...), the inverse of :func:`fold_time`."""
    x = as_tensor(x)
    T = _time_steps("unfold_time", T)
    if x.ndim < 1 or x.shape[0] % T:
        raise ValueError(f"unfold_time: x must be (T·N, ...) with T={T} dividing the first "
                         f"axis, got shape {tuple(x.shape)}")
    return F.reshape(x, (T, x.shape[0] // T) + tuple(x.shape[1:]))


class RepeatOverTime(Function):
    r"""y = x broadcast over a new leading time axis: yᵗ = x for t = 1..T.

    x (N, ...) → y (T, N, ...), a read-only broadcast view (no copy).
    ḡx = Σ_t gyᵗ (the gradient of a value used at every step is the sum over steps).
    """

    @staticmethod
    def forward(ctx, x, T):
        xp = get_array_module(x)
        return xp.broadcast_to(x, (T,) + x.shape)

    @staticmethod
    def backward(ctx, gy):
        return gy.sum(axis=0)


def repeat_time(x, T: int) -> Tensor:
    """(N, ...) → (T, N, ...): the stem output, computed once, fed to every time step."""
    T = _time_steps("repeat_time", T)
    return RepeatOverTime.apply(x, T=T)


def readout(x, mode: str = "mean") -> Tensor:
    r"""Integrate over time (Eq. 3): (T, N, ...) → (N, ...).

    ``"mean"``: (1/T)·Σ_t xᵗ (the paper); ``"sum"``: Σ_t xᵗ (the released code).
    """
    if mode not in ("mean", "sum"):
        raise ValueError(f"readout: mode must be 'mean' or 'sum', got {mode!r}")
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"readout: x must be (T, N, ...), got shape {tuple(x.shape)}")
    return F.mean(x, axis=0) if mode == "mean" else F.sum(x, axis=0)


class TimeDistributed(Module):
    """Apply stateless layers at every step by folding: (T, N, ...) → fold → layers → unfold.

    ``TimeDistributed(conv, bn)`` on x (T, N, C, H, W) runs ``bn(conv(x'))`` on
    x' (T·N, C, H, W) once; BN's statistics are then taken over (T·N, H, W).
    """

    def __init__(self, *layers):
        super().__init__()
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                raise TypeError(f"TimeDistributed: layer {i} must be a Module, got {type(m).__name__}")
        if not layers:
            raise ValueError("TimeDistributed: give at least one layer")
        self.layers = list(layers)

    def forward(self, x):
        T = x.shape[0]
        h = fold_time(x)
        for m in self.layers:
            h = m(h)
        return unfold_time(h, T)


class RepeatTime(Module):
    """Module form of :func:`repeat_time`: (N, ...) → (T, N, ...)."""

    def __init__(self, T: int):
        super().__init__()
        self.T = _time_steps("RepeatTime", T)

    def forward(self, x):
        return repeat_time(x, self.T)

    def extra_repr(self):
        return f"T={self.T}"


class Readout(Module):
    """Module form of :func:`readout`: (T, N, ...) → (N, ...), mean (default) or sum over T."""

    def __init__(self, mode: str = "mean"):
        super().__init__()
        if mode not in ("mean", "sum"):
            raise ValueError(f"Readout: mode must be 'mean' or 'sum', got {mode!r}")
        self.mode = mode

    def forward(self, x):
        return readout(x, self.mode)

    def extra_repr(self):
        return f"mode={self.mode!r}"
