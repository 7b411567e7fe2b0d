r"""Softmax, and the three losses of Joint A-SNN (docs/method.md §5).

* Eq. 7, ``cross_entropy``: CE(z, y) = −(1/N) Σₙ log softmax(zₙ)[yₙ].
* Eq. 8, ``kl_div``: κ² · (1/N) Σₙ KL(softmax(tₙ/κ) ‖ softmax(sₙ/κ)).
* Eq. 9, ``mse_loss(..., reduction="batchmean")``: (1/N) Σₙ ‖aₙ − bₙ‖².

Every softmax subtracts the row maximum first (exp never overflows; the result is
unchanged because softmax(z − c) = softmax(z)). Each loss is one fused op whose
backward is the closed form, e.g. ḡz = (softmax(z) − onehot(y)) / N for CE.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module, to_host
from ..function import Function
from ..tensor import Tensor, as_tensor
from .shape import _check_axis

__all__ = ["log_softmax", "softmax", "cross_entropy", "kl_div", "mse_loss"]


def _log_softmax(x, axis):
    """Raw-array log-softmax: x − max − log Σ exp(x − max)."""
    xp = get_array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class LogSoftmaxOp(Function):
    r"""y = x − log Σ_axis eˣ  (computed as z − log Σ eᶻ with z = x − max x).

    ḡx = gy − softmax(x) · Σ_axis gy.
    """

    @staticmethod
    def forward(ctx, x, axis):
        y = _log_softmax(x, axis)
        ctx.y, ctx.axis = y, axis
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(ctx.y) * gy.sum(axis=ctx.axis, keepdims=True)


class SoftmaxOp(Function):
    r"""y = eᶻ / Σ_axis eᶻ with z = x − max x.

    ḡx = y · (gy − Σ_axis gy · y).
    """

    @staticmethod
    def forward(ctx, x, axis):
        xp = get_array_module(x)
        y = xp.exp(_log_softmax(x, axis))
        ctx.y, ctx.axis = y, axis
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        return y * (gy - (gy * y).sum(axis=ctx.axis, keepdims=True))


class CrossEntropyOp(Function):
    r"""Eq. 7: L = −(1/N) Σₙ log pₙ[yₙ],  p = softmax(z) row-wise.

    z: (N, K) logits; target y: (N,) integer labels in [0, K) (a setting, not differentiated).
    ḡz = gy · (p − onehot(y)) / N.
    """

    @staticmethod
    def forward(ctx, z, target):
        xp = get_array_module(z)
        n = z.shape[0]
        logp = _log_softmax(z, 1)
        loss = xp.asarray(-logp[xp.arange(n), target].sum() / n, dtype=z.dtype)
        if not bool(xp.isfinite(loss)):
            bad = int((~xp.isfinite(z)).sum())
            raise FloatingPointError(
                f"cross_entropy: the loss is {float(loss)} (NaN/inf); the logits contain {bad} "
                f"NaN/inf values" + ("" if bad else " — none, but their range is too wide "
                                     "for the dtype") + "; lower the learning rate or check the input")
        ctx.logp, ctx.target = logp, target
        return loss

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        n = ctx.logp.shape[0]
        g = xp.exp(ctx.logp)
        g[xp.arange(n), ctx.target] -= 1
        return g * (gy / n)


class KLDivOp(Function):
    r"""Eq. 8: L = κ² · (1/N) Σₙ Σₖ pₙₖ (log pₙₖ − log qₙₖ),
    p = softmax(t/κ) (teacher), q = softmax(s/κ) (student), both (N, K).

    With d = log p − log q:
    ḡs = gy · (κ/N) · (q − p),
    ḡt = gy · (κ/N) · p ⊙ (d − Σₖ p d)  (row-wise sum).
    For the paper's stop-gradient pass ``t.detach()``: then only ḡs flows.
    """

    @staticmethod
    def forward(ctx, s, t, temperature):
        xp = get_array_module(s)
        kappa, n = temperature, s.shape[0]
        logq, logp = _log_softmax(s / kappa, 1), _log_softmax(t / kappa, 1)
        p, d = xp.exp(logp), logp - logq
        ctx.p, ctx.q, ctx.d, ctx.scale = p, xp.exp(logq), d, kappa / n
        return xp.asarray((p * d).sum() * (kappa * kappa / n), dtype=s.dtype)

    @staticmethod
    def backward(ctx, gy):
        p, q, d = ctx.p, ctx.q, ctx.d
        c = gy * ctx.scale
        gs = c * (q - p) if ctx.needs_input_grad[0] else None
        gt = c * p * (d - (p * d).sum(axis=1, keepdims=True)) if ctx.needs_input_grad[1] else None
        return gs, gt


class MSELossOp(Function):
    r"""Eq. 9 (with ``batchmean``): L = (1/m) Σ (a − b)²,
    m = a.size ("mean"), 1 ("sum") or N = a.shape[0] ("batchmean").

    ḡa = gy · 2(a − b)/m,  ḡb = −ḡa.
    """

    @staticmethod
    def forward(ctx, a, b, denom):
        xp = get_array_module(a)
        d = a - b
        ctx.d, ctx.denom = d, denom
        return xp.asarray((d * d).sum() / denom, dtype=a.dtype)

    @staticmethod
    def backward(ctx, gy):
        ga = ctx.d * (gy * (2.0 / ctx.denom))
        return ga if ctx.needs_input_grad[0] else None, -ga if ctx.needs_input_grad[1] else None


# ---- the functions users call -------------------------------------------------------
def _logits(op: str, name: str, z) -> Tensor:
    z = as_tensor(z)
    if z.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (N, K), got shape {z.shape}")
    if z.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {z.dtype}")
    return z


def log_softmax(x, axis: int = -1) -> Tensor:
    """log softmax(x) along ``axis``, computed stably."""
    x = as_tensor(x)
    return LogSoftmaxOp.apply(x, axis=_check_axis("log_softmax", axis, x.ndim))


def softmax(x, axis: int = -1) -> Tensor:
    """softmax(x) along ``axis``, computed stably (row maximum subtracted)."""
    x = as_tensor(x)
    return SoftmaxOp.apply(x, axis=_check_axis("softmax", axis, x.ndim))


def cross_entropy(logits, target) -> Tensor:
    """Eq. 7: mean over the batch of −log softmax(logits)[target].

    logits: (N, K) Tensor; target: (N,) integer labels in [0, K), an array or a Tensor.
    Raises FloatingPointError when the loss is NaN/inf (the logits hold NaN/inf).
    """
    z = _logits("cross_entropy", "logits", logits)
    xp = get_array_module(z.data)
    t = target.data if isinstance(target, Tensor) else target
    t = np.asarray(to_host(t)) if xp is np else xp.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class labels, got dtype {t.dtype}")
    n, k = z.shape
    if t.shape != (n,):
        raise ValueError(f"cross_entropy: target must have shape ({n},) to match logits {z.shape}, "
                         f"got {t.shape}")
    bad = (t < 0) | (t >= k)
    if bool(bad.any()):
        i = int(bad.argmax())
        raise ValueError(f"cross_entropy: label {int(t[i])} at position {i} is out of range "
                         f"[0, {k}) for {k} classes")
    return CrossEntropyOp.apply(z, target=t)


def kl_div(student_logits, teacher_logits, temperature: float = 1.0) -> Tensor:
    """Eq. 8: κ²·mean_n KL(softmax(teacher/κ) ‖ softmax(student/κ)), κ = ``temperature``.

    Gradients flow to BOTH inputs; pass ``teacher_logits.detach()`` for the paper's
    stop-gradient.
    """
    s = _logits("kl_div", "student_logits", student_logits)
    t = _logits("kl_div", "teacher_logits", teacher_logits)
    if s.shape != t.shape:
        raise ValueError(f"kl_div: student {s.shape} and teacher {t.shape} logits must have "
                         f"the same shape")
    if s.dtype != t.dtype:
        raise TypeError(f"kl_div: student ({s.dtype}) and teacher ({t.dtype}) dtypes differ")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"kl_div: temperature must be a positive number, got {temperature!r}")
    return KLDivOp.apply(s, t, temperature=float(temperature))


_REDUCTIONS = ("mean", "sum", "batchmean")


def mse_loss(a, b, reduction: str = "mean") -> Tensor:
    """Squared error Σ(a − b)² divided by a.size ("mean"), 1 ("sum") or a.shape[0]
    ("batchmean": Eq. 9's batch mean of ‖a − b‖²). a and b must have the same shape."""
    a, b = as_tensor(a), as_tensor(b)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if a.shape != b.shape:
        raise ValueError(f"mse_loss: a {a.shape} and b {b.shape} must have the same shape "
                         f"(no broadcasting)")
    if a.dtype != b.dtype:
        raise TypeError(f"mse_loss: a ({a.dtype}) and b ({b.dtype}) dtypes differ")
    if reduction == "batchmean" and a.ndim == 0:
        raise ValueError("mse_loss: reduction='batchmean' needs a batch axis, got a 0-d input")
    denom = {"mean": a.size, "sum": 1, "batchmean": a.shape[0] if a.ndim else 1}[reduction]
    return MSELossOp.apply(a, b, denom=max(int(denom), 1))
