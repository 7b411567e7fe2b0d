r"""The LIF layer, the firing rate and the time conventions of a spiking network
(docs/method.md §3).

A spiking activation has shape (T, N, ...): time first. Three rules:

* **Stateless layers fold time into the batch** (conv, BN, pooling, linear):
  ``(T, N, C, H, W) → (T·N, C, H, W)`` by :func:`fold_time`, back by :func:`unfold_time`;
  :func:`per_step` does both around a function, and every network block uses it. An SNN
  BatchNorm therefore takes its statistics over (T·N, H, W).
* **Direct encoding, stem once**: the analog image enters the first conv at every step,
  so the stem's output is the same for every t. :func:`repeat_time` computes it once and
  broadcasts it over T; its gradient is the sum over t (exact, not an approximation).
* **Readout without firing** (Eq. 3): ``y_net = (1/T)·Σ_t W xᵗ``. :func:`readout` averages
  (``mode="mean"``, the paper) or sums (``mode="sum"``, the released code: logits T times
  larger) over t; given a linear head it runs the head once, on the mean
  (:func:`readout_from_mean` starts from a mean already taken, as ``JointNet``'s features).

The **firing rate** of spikes is their mean, #spikes / #elements (:func:`firing_rate`);
each :class:`LIF` keeps that of its last output, and :class:`RateMeter` averages layers'
rates over batches, each batch weighted by its number of images.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..backend import get_array_module
from ..function import Function
from ..snn.lif import check_settings, lif
from ..tensor import Tensor, as_tensor
from .module import Module

__all__ = ["LIF", "firing_rate", "RateMeter", "fold_time", "unfold_time", "per_step",
           "repeat_time", "readout", "readout_from_mean"]


def firing_rate(spikes):
    """#spikes / #elements of a 0/1 spike array or Tensor, any shape: their mean, left on the
    spikes' device (a NumPy scalar or a 0-d CuPy array; ``float()`` reads it and waits for
    the device)."""
    data = spikes.data if isinstance(spikes, Tensor) else spikes
    if not hasattr(data, "size") or data.size == 0:
        raise ValueError(f"firing_rate: expected a non-empty array of spikes, got {spikes!r}")
    return data.mean()


class RateMeter:
    r"""Firing rates of named layers over batches: rate = Σ_b N_b·rate_b / Σ_b N_b, where
    batch b has N_b images (batches of different sizes are weighted by their size, not
    averaged per batch).

    ``add({layer: rate}, images)`` after each batch; ``rates``: {layer: rate} so far.
    """

    def __init__(self):
        self.weighted, self.images = {}, 0

    def add(self, rates: dict, images: int) -> None:
        for name, r in rates.items():
            self.weighted[name] = self.weighted.get(name, 0.0) + float(r) * images
        self.images += images

    @property
    def rates(self) -> dict:
        return {name: w / self.images for name, w in self.weighted.items()}


class LIF(Module):
    r"""LIF neurons over a whole sequence: (T, N, ...) → spikes (T, N, ...), the op
    :func:`minijoint.snn.lif.lif` (forward and BPTT) as a layer.

    Settings as :func:`~minijoint.snn.lif.lif`: ``tau`` ∈ (0, 1), ``v_th`` > 0, ``surrogate``
    (instance, name, or None = Rectangle(a=1)), ``detach_reset``; ``smooth=True`` fires
    P(u_pre) instead of spikes (for finite-difference checks). No parameters.

    ``last_rate``: :func:`firing_rate` of the last output, a Python float (logged, and used
    for the energy estimate of Section 5.4). Set ``traces = []`` to collect the
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
        self._rate = firing_rate(y)
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


class RepeatTimeOp(Function):
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


def per_step(fn, x):
    """Apply a stateless ``fn`` at every time step at once, time folded into the batch:
    x (T, N, ...) → (T·N, ...) → ``fn`` → (T·N, ...) → unfolded (T, N, ...). When ``fn``
    returns a tuple, each part is unfolded."""
    T, y = x.shape[0], fn(fold_time(x))
    return tuple(unfold_time(part, T) for part in y) if isinstance(y, tuple) \
        else unfold_time(y, T)


def repeat_time(x, T: int) -> Tensor:
    """(N, ...) → (T, N, ...): the stem output, computed once, fed to every time step."""
    T = _time_steps("repeat_time", T)
    return RepeatTimeOp.apply(x, T=T)


def readout(x, mode: str = "mean", head=None) -> Tensor:
    r"""The output layer integrates over time and never fires (Eq. 3): x (T, N, ...) → (N, ...).

        "mean" (the paper):          y = (1/T)·Σ_t head(xᵗ)
        "sum"  (the released code):  y = Σ_t head(xᵗ)

    ``head``: None (the identity) or an affine layer such as a :class:`~minijoint.nn.Linear`,
    so that (1/T)·Σ_t head(xᵗ) = head(x̄) with x̄ = (1/T)·Σ_t xᵗ: the head runs once, on
    x̄, and the sum is T·head(x̄) (:func:`readout_from_mean`).
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"readout: x must be (T, N, ...), got shape {tuple(x.shape)}")
    return readout_from_mean(F.mean(x, axis=0), x.shape[0], mode, head)


def readout_from_mean(x_mean, T: int, mode: str = "mean", head=None) -> Tensor:
    """:func:`readout` for a caller that holds x̄ = (1/T)·Σ_t xᵗ (N, ...) already:
    head(x̄) for "mean", T·head(x̄) for "sum" (head None: the identity)."""
    if mode not in ("mean", "sum"):
        raise ValueError(f"readout: mode must be 'mean' or 'sum', got {mode!r}")
    T = _time_steps("readout", T)
    y = x_mean if head is None else head(x_mean)
    return y if mode == "mean" else y * float(T)
