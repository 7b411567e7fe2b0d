r"""The LIF neuron over a whole sequence (Eqs. 1–2) and its explicit BPTT (Eq. 4).

Notation: ``T`` time steps, ``N`` batch, ``...`` any feature shape; ``c`` the input
current, ``u_pre`` the membrane potential before firing, ``u`` after the reset, ``y`` spikes.

Forward, t = 1..T, u⁰ = 0 (Eqs. 1–2)::

    u_preᵗ = τ·uᵗ⁻¹ + cᵗ
    yᵗ     = H(u_preᵗ − V_th)          (smooth mode: yᵗ = P(u_preᵗ), P the surrogate's primitive)
    uᵗ     = u_preᵗ·(1 − yᵗ)           hard reset to 0

Backward, t = T..1, ḡu^T = 0, s = the surrogate derivative (Eq. 4 with Eq. 5)::

    ∂uᵗ/∂u_preᵗ = (1 − yᵗ) − u_preᵗ·s(u_preᵗ)     (second term dropped if detach_reset)
    ḡu_preᵗ     = ḡyᵗ·s(u_preᵗ) + ḡuᵗ·∂uᵗ/∂u_preᵗ
    ḡcᵗ         = ḡu_preᵗ
    ḡuᵗ⁻¹       = τ·ḡu_preᵗ

:func:`lif_backward` is that recursion, returning every factor per step in a
:class:`LIFTrace`; the op :class:`LIFOp` runs the same code, so the trace a student inspects
is the code that runs. In smooth mode the same recursion is the exact gradient
(docs/method.md §1).

Settings are checked once, where a user passes them: :func:`lif`, :func:`lif_forward`,
:func:`lif_backward` (and the ``nn.LIF`` layer's constructor) call :func:`check_settings`,
then the unchecked cores ``_lif_forward``/``_lif_backward``, which the op calls directly.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..backend import get_array_module
from ..function import Function
from ..functional.binary import PackedBits, binary_empty, pack_bits, seal_binary
from ..tensor import Tensor
from .surrogate import Rectangle, Surrogate, get_surrogate

__all__ = ["lif", "lif_forward", "lif_backward", "LIFTrace"]


@dataclass
class LIFTrace:
    r"""Every factor of the BPTT recursion, per step; each array has shape (T, N, ...).

    gy        ∂L/∂yᵗ (the upstream gradient, as received)
    s         s(u_preᵗ), the surrogate ∂yᵗ/∂u_preᵗ
    du_dupre  ∂uᵗ/∂u_preᵗ = (1 − yᵗ) − u_preᵗ·s(u_preᵗ)   (without the last term if detached)
    g_upre    ∂L/∂u_preᵗ = gyᵗ·sᵗ + guᵗ·du_dupreᵗ
    gc        ∂L/∂cᵗ = g_upre (the same array: ∂u_pre/∂c = 1)
    tau       τ, so that ``gu`` can be rebuilt
    """

    gy: object
    s: object
    du_dupre: object
    g_upre: object
    gc: object
    tau: float

    @property
    def gu(self):
        """∂L/∂uᵗ = τ·∂L/∂u_preᵗ⁺¹ (zero at the last step), shape (T, N, ...)."""
        xp = get_array_module(self.g_upre)
        gu = xp.zeros_like(self.g_upre)
        xp.multiply(self.g_upre[1:], self.tau, out=gu[:-1])
        return gu


def check_settings(where: str, tau, v_th, surrogate) -> Surrogate:
    """Validate τ, V_th and the surrogate (instance, name or None -> Rectangle()); return it."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not 0.0 < tau < 1.0:
        raise ValueError(f"{where}: tau must be a number in (0, 1), got tau={tau!r}")
    if isinstance(v_th, bool) or not isinstance(v_th, numbers.Real) or not 0.0 < v_th < math.inf:
        raise ValueError(f"{where}: v_th must be a finite number > 0, got v_th={v_th!r}")
    if surrogate is None:
        return Rectangle()
    if isinstance(surrogate, str):
        return get_surrogate(surrogate)
    if not isinstance(surrogate, Surrogate):
        raise TypeError(f"{where}: surrogate must be a Surrogate (e.g. Rectangle()) or its "
                        f"name, got {surrogate!r}")
    return surrogate


def _check_current(where: str, c) -> None:
    """The input current: floating, shape (T, N, ...) with T >= 1."""
    if c.ndim < 2:
        raise ValueError(f"{where}: c must have a time axis first, shape (T, N, ...), "
                         f"got shape {tuple(c.shape)}")
    if c.dtype.kind != "f":
        raise ValueError(f"{where}: c must be a floating array (float32 or float64), "
                         f"got dtype {c.dtype}")
    if c.shape[0] < 1:
        raise ValueError(f"{where}: c needs T >= 1 time steps, got T={c.shape[0]} "
                         f"(shape {tuple(c.shape)})")


def lif_forward(c, tau, v_th, surrogate, smooth=False):
    r"""Run the LIF recursion over t; return ``(y, u_pre)``, both of c's shape (T, N, ...).

    One buffer ``u`` (N, ...) is reused across steps; ``u_pre`` is kept for every step
    because the backward needs it. Spiking: y ∈ {0, 1}; smooth: y = P(u_pre).
    A NaN or inf in ``c`` raises ``FloatingPointError`` naming the first such time step.
    """
    surrogate = check_settings("lif_forward", tau, v_th, surrogate)
    _check_current("lif_forward", c)
    return _lif_forward(c, float(tau), float(v_th), surrogate, smooth)


def _lif_forward(c, tau: float, v_th: float, surrogate: Surrogate, smooth: bool):
    """:func:`lif_forward` without the settings check (the op's forward)."""
    xp = get_array_module(c)
    u_pre = xp.empty(c.shape, dtype=c.dtype)  # C order, not like c: the stem's c is a
    # stride-0 repeat over T (nn.spiking.repeat_time). Spikes go to memory marked binary
    # (functional.binary), so that the ops reading them can keep them in 1 bit per value.
    y = xp.empty(c.shape, dtype=c.dtype) if smooth else binary_empty(xp, c.shape, c.dtype)
    u = xp.zeros(c.shape[1:], dtype=c.dtype)
    for t in range(c.shape[0]):
        xp.multiply(u, tau, out=u_pre[t])        # u_preᵗ = τ·uᵗ⁻¹ + cᵗ
        u_pre[t] += c[t]
        if smooth:
            y[t] = surrogate.primitive(u_pre[t], v_th)
        else:
            xp.greater_equal(u_pre[t], v_th, out=y[t])   # yᵗ = H(u_preᵗ − V_th)
        xp.multiply(u_pre[t], y[t], out=u)       # uᵗ = u_preᵗ·(1 − yᵗ)
        xp.subtract(u_pre[t], u, out=u)
    # NaN would read as "no spike" and ±inf as a spike: a NaN or inf anywhere in c leaves
    # u NaN from that step on (inf − inf·1, −inf − (−inf)·0), so one check of the last u
    # finds it (one host sync per call instead of T).
    if not bool(xp.isfinite(u).all()):
        bad = ~xp.isfinite(c.reshape(c.shape[0], -1)).all(axis=1)
        where = (f"the input current c holds NaN or inf (first at time step t = "
                 f"{int(bad.argmax()) + 1} of {c.shape[0]})" if bool(bad.any())
                 else "the membrane potential overflowed")
        raise FloatingPointError(f"lif: {where}; spikes of a non-finite potential are undefined")
    return seal_binary(y), u_pre


def lif_backward(gy, u_pre, y, tau, v_th, surrogate, detach_reset=False) -> LIFTrace:
    r"""The BPTT recursion of the module docstring, t = T..1; returns a :class:`LIFTrace`.

    gy, u_pre, y: arrays of shape (T, N, ...), as from :func:`lif_forward` (y may be uint8,
    as the op's unpacked spikes are: the arithmetic is the same). The factors
    that do not depend on the recursion (s, ∂u/∂u_pre, gy·s) are computed for all steps at
    once; the loop then only carries ḡu backwards: ḡu_preᵗ = gyᵗ·sᵗ + τ·ḡu_preᵗ⁺¹·∂uᵗ/∂u_preᵗ.
    ``gy`` is never written to.
    """
    if not gy.shape == u_pre.shape == y.shape:
        raise ValueError(f"lif_backward: gy, u_pre and y must share the shape (T, N, ...), got "
                         f"{tuple(gy.shape)}, {tuple(u_pre.shape)} and {tuple(y.shape)}")
    surrogate = check_settings("lif_backward", tau, v_th, surrogate)
    return _lif_backward(gy, u_pre, y, float(tau), float(v_th), surrogate, detach_reset)


def _lif_backward(gy, u_pre, y, tau: float, v_th: float, surrogate: Surrogate,
                  detach_reset: bool) -> LIFTrace:
    """:func:`lif_backward` without the checks (the op's backward)."""
    xp = get_array_module(u_pre)
    s = surrogate.grad(u_pre, v_th)                      # s(u_preᵗ), every t at once
    g_upre = xp.multiply(gy, s)                          # gyᵗ·sᵗ, completed below
    du = xp.empty_like(u_pre)                            # ∂uᵗ/∂u_preᵗ:
    if detach_reset:
        xp.subtract(1.0, y, out=du, dtype=du.dtype)      #   1 − yᵗ
    else:
        xp.multiply(u_pre, s, out=du)                    #   1 − (yᵗ + u_preᵗ·sᵗ)
        du += y
        xp.subtract(1.0, du, out=du)
    gu = xp.empty_like(u_pre[0])                         # ḡuᵗ, one reused buffer
    for t in range(u_pre.shape[0] - 2, -1, -1):
        xp.multiply(g_upre[t + 1], tau, out=gu)          # ḡuᵗ = τ·ḡu_preᵗ⁺¹
        gu *= du[t]                                      # ḡuᵗ·∂uᵗ/∂u_preᵗ
        g_upre[t] += gu                                  # ḡu_preᵗ = gyᵗ·sᵗ + ḡuᵗ·∂uᵗ/∂u_preᵗ
    return LIFTrace(gy=gy, s=s, du_dupre=du, g_upre=g_upre, gc=g_upre, tau=tau)


class LIFOp(Function):
    r"""The LIF neuron over a whole sequence as one op (Eqs. 1–4).

    forward:  c (T, N, ...) -> y (T, N, ...), spikes (or P(u_pre) in smooth mode)
    backward: ḡc = lif_backward(...).gc, the recursion of the module docstring.
    The settings arrive checked (by :func:`lif`): forward and backward do not re-check them.
    Saved for the backward: u_pre, and the spikes y in 1 bit per value (exact: 0 and 1), the
    copy that a convolution reading y keeps too (:func:`~minijoint.functional.binary.pack_bits`).
    """

    @staticmethod
    def forward(ctx, c, tau, v_th, surrogate, detach_reset, smooth, traces):
        y, u_pre = _lif_forward(c, tau, v_th, surrogate, smooth)
        ctx.y, ctx.u_pre = (y if smooth else pack_bits(y)), u_pre
        ctx.settings = tau, v_th, surrogate, detach_reset
        ctx.traces = traces
        return y

    @staticmethod
    def backward(ctx, gy):
        tau, v_th, surrogate, detach_reset = ctx.settings
        y = ctx.y.unpack() if isinstance(ctx.y, PackedBits) else ctx.y
        trace = _lif_backward(gy, ctx.u_pre, y, tau, v_th, surrogate, detach_reset)
        if ctx.traces is not None:
            ctx.traces.append(trace)
        return trace.gc


def lif(c, tau=0.25, v_th=0.5, surrogate=None, detach_reset=False, smooth=False,
        traces=None) -> Tensor:
    r"""LIF spikes for input current ``c`` of shape (T, N, ...) (Eqs. 1–2; backward Eq. 4).

    tau:          leak τ ∈ (0, 1) (default 0.25, the authors' code)
    v_th:         threshold V_th > 0 (default 0.5)
    surrogate:    a :class:`~minijoint.snn.surrogate.Surrogate` or its name (default Rectangle(a=1))
    detach_reset: drop the reset's gradient path −u_pre·s from ∂u/∂u_pre
    smooth:       fire y = P(u_pre) instead of H (for finite-difference checks)
    traces:       a list; each backward appends its :class:`LIFTrace` (to inspect BPTT)
    """
    data = c.data if isinstance(c, Tensor) else c
    if not hasattr(data, "ndim"):
        raise TypeError(f"lif: c must be a Tensor or array of shape (T, N, ...), got {type(c).__name__}")
    surrogate = check_settings("lif", tau, v_th, surrogate)
    _check_current("lif", data)
    if traces is not None and not isinstance(traces, list):
        raise TypeError(f"lif: traces must be a list (or None), got {type(traces).__name__}")
    return LIFOp.apply(c, tau=float(tau), v_th=float(v_th), surrogate=surrogate,
                       detach_reset=bool(detach_reset), smooth=bool(smooth), traces=traces)
