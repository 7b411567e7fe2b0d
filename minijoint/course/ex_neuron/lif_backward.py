r"""Exercise 3, BPTT through the LIF by hand (Eq. 4 with the leak and reset terms): the
mistakes it names, the recursion with each one planted (:func:`_backward_variant`), the
drawn examples and witnesses (spiking, or smooth against central differences), and the
grader."""
from __future__ import annotations

import numpy as np

from ...snn import ATan, Rectangle, Sigmoid, Triangle, lif_backward, lif_forward
from ...testing import numerical_grad
from ..core import call
from .compare import FD_ATOL, FD_RTOL, _STEPS, _Suspects, _array, _at, _close, _run, _wrong

_BACKWARD_MISTAKES = {
    "missing_reset": "∂uᵗ/∂u_preᵗ = 1 − yᵗ, without the reset path −u_preᵗ·s(u_preᵗ)",
    "tau_missing": "the carried gradient ḡuᵗ⁻¹ = ḡu_preᵗ, without the leak τ",
    "off_by_one": "the carried gradient comes from the wrong step (t − 1 instead of t + 1, "
                  "∂u/∂u_pre of step t + 1), the loop stops before t = 1, or the carry "
                  "into t = T is not 0",
    "spike_path_only": "ḡcᵗ = ḡyᵗ·s(u_preᵗ), the paper's Eq. 4 as printed: nothing is "
                       "carried through the leak and the reset to earlier steps",
}
_BACKWARD_HINTS = {
    "missing_reset": "is the reset path −u_preᵗ·s(u_preᵗ) missing? ∂uᵗ/∂u_preᵗ = "
                     "(1 − yᵗ) − u_preᵗ·s(u_preᵗ), because uᵗ = u_preᵗ·(1 − yᵗ) and "
                     "yᵗ depends on u_preᵗ too.",
    "tau_missing": "is τ missing from the carry? uᵗ reaches u_preᵗ⁺¹ = τ·uᵗ + cᵗ⁺¹, so "
                   "ḡuᵗ = τ·ḡu_preᵗ⁺¹.",
    "off_by_one:from_previous": "does the carry come from step t − 1? The gradient flows "
                                "backwards in time: ḡuᵗ = τ·ḡu_preᵗ⁺¹, from the step after.",
    "off_by_one:du_of_next": "is ∂u/∂u_pre taken at the wrong step? Step t multiplies its "
                             "carry ḡuᵗ by its own ∂uᵗ/∂u_preᵗ = (1 − yᵗ) − u_preᵗ·s(u_preᵗ).",
    "off_by_one:stops_early": "does the loop stop before t = 1? It runs t = T, T − 1, ..., 1; "
                              "the first step receives a carry too.",
    "off_by_one:carry_at_T": "does the carry start nonzero? Nothing flows back from beyond "
                             "the last step: ḡu^T = 0.",
    "spike_path_only": "is the carry missing? ḡyᵗ·s(u_preᵗ) is only the spike path; u_preᵗ "
                       "also reaches the later steps through uᵗ, so add ḡuᵗ·∂uᵗ/∂u_preᵗ "
                       "with ḡuᵗ = τ·ḡu_preᵗ⁺¹.",
}


def _backward_variant(gy, u_pre, y, tau, v_th, surrogate, variant=None):
    """ḡc by the recursion t = T..1 with the mistake ``variant`` planted (None: none)."""
    T = gy.shape[0]
    s = surrogate.grad(u_pre, v_th)
    du = (1.0 - y) - (0.0 if variant == "missing_reset" else u_pre * s)
    carry_factor = 1.0 if variant == "tau_missing" else tau
    g = gy * s
    if variant == "spike_path_only":
        return g
    if variant == "off_by_one:from_previous":
        for t in range(1, T):
            g[t] += carry_factor * g[t - 1] * du[t]
        return g
    if variant == "off_by_one:carry_at_T":
        g[T - 1] += tau * gy[T - 1] * du[T - 1]
    for t in range(T - 2, 0 if variant == "off_by_one:stops_early" else -1, -1):
        g[t] += carry_factor * g[t + 1] * du[t + 1 if variant == "off_by_one:du_of_next" else t]
    return g


_SURROGATES = (Rectangle(1.0), Rectangle(0.5), Triangle(1.0), Sigmoid(4.0), ATan(2.0))


def _pieces(v_th, surrogate):
    """The ends of the pieces u_pre is built in: the surrogate's kinks and V_th, plus one
    unit beyond the outermost on either side."""
    cuts = sorted({v_th, *surrogate.kinks(v_th)})
    return np.array([cuts[0] - 1.0, *cuts, cuts[-1] + 1.0])


def _backward_examples():
    """(gy, u_pre, τ, V_th, surrogate, smooth). u_pre is built piece by piece between the
    surrogate's kinks and V_th, at least 5 % of a piece away from both ends, so that central
    differences of the smooth forward are valid and every spike is unambiguous."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @st.composite
    def examples(draw):
        shape = (draw(st.sampled_from(_STEPS)), draw(st.integers(1, 3)))
        shape += tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
        tau, v_th = draw(st.integers(1, 15)) / 16, draw(st.integers(2, 12)) / 8
        surrogate = draw(st.sampled_from(_SURROGATES))
        ends = _pieces(v_th, surrogate)
        piece = draw(arrays(np.int64, shape, elements=st.integers(0, len(ends) - 2)))
        frac = draw(arrays(np.float64, shape, elements=st.floats(0.05, 0.95)))
        u_pre = ends[piece] + frac * (ends[piece + 1] - ends[piece])
        gy = draw(arrays(np.float64, shape, elements=st.one_of(st.floats(-2.0, -0.1),
                                                                st.floats(0.1, 2.0))))
        return gy, u_pre, tau, v_th, surrogate, draw(st.booleans())
    return examples()


def _backward_witnesses() -> list:
    """Every surrogate, spiking and smooth, T = 5 and 6 neurons, built as the draws are."""
    rng = np.random.default_rng(0)
    out = []
    for surrogate in _SURROGATES:
        for smooth in (False, True):
            ends = _pieces(0.5, surrogate)
            piece = rng.integers(0, len(ends) - 1, size=(5, 3, 2))
            u_pre = ends[piece] + rng.uniform(0.05, 0.95, piece.shape) * np.diff(ends)[piece]
            gy = rng.choice((-1.0, 1.0), piece.shape) * rng.uniform(0.1, 2.0, piece.shape)
            out.append((gy, u_pre, 0.5, 0.5, surrogate, smooth))
    return out


def _smooth_truth(gy, u_pre, tau, v_th, surrogate):
    """(y, u_pre, ḡc) of the smooth LIF (y = P(u_pre)) through ``u_pre``: the current c that
    produces it is solved for step by step, and ḡc is central differences of ⟨y(c), gy⟩."""
    c, u = np.empty_like(u_pre), np.zeros_like(u_pre[0])
    for t in range(u_pre.shape[0]):
        c[t] = u_pre[t] - tau * u
        u = u_pre[t] * (1.0 - surrogate.primitive(u_pre[t], v_th))
    y, u_pre = lif_forward(c, tau, v_th, surrogate, smooth=True)
    gc = numerical_grad(lambda: float(np.sum(gy * lif_forward(c, tau, v_th, surrogate,
                                                              smooth=True)[0])), c)
    return y, u_pre, gc


def _grade_backward(funcs: dict) -> None:
    student = funcs["lif_backward"]
    suspects = _Suspects(_BACKWARD_HINTS, FD_RTOL, FD_ATOL)

    def check(example):
        gy, u_pre, tau, v_th, surrogate, smooth = example
        T = gy.shape[0]
        if smooth:
            y, u_pre, truth = _smooth_truth(gy, u_pre, tau, v_th, surrogate)
            source = "central differences of the smooth forward y = P(u_pre)"
        else:
            y = (u_pre >= v_th).astype(np.float64)
            truth, source = None, "minijoint.snn.lif_backward"
        trace = lif_backward(gy, u_pre, y, tau, v_th, surrogate)   # every factor, per step
        truth = trace.gc if truth is None else truth
        inputs = (f"gy, u_pre, y of shape {gy.shape}, tau={tau}, v_th={v_th}, "
                  f"surrogate={surrogate!r}, {'smooth' if smooth else 'spiking'} y")
        gc = _array("lif_backward's result (∂L/∂c)", call(student, gy.copy(), u_pre.copy(),
                    y.copy(), tau, v_th, surrogate, inputs=inputs), gy.shape)
        vid = suspects.observe(gc, truth, lambda v: _backward_variant(gy, u_pre, y, tau, v_th,
                                                                      surrogate, v))
        bad = (~_close(gc, truth, FD_RTOL, FD_ATOL) if smooth else ~_close(gc, truth))
        bad = bad.reshape(T, -1)
        if not bad.any():
            return
        t = int(np.flatnonzero(bad.any(axis=1))[-1])    # the recursion runs t = T..1
        j = int(bad[t].argmax())
        at = lambda a: float(a.reshape(T, -1)[t, j]) + 0.0   # noqa: E731 (+ 0.0: no "-0")
        later = ("" if t + 1 == T else f" (step {T} agrees)" if t + 2 == T
                 else f" (steps {t + 2}..{T} agree)")
        message = (f"∂L/∂u_pre (= ∂L/∂c) at t = {t + 1} is off{later}, neuron "
                   f"{_at(np.unravel_index(j, gy.shape[1:]))}: expected {at(truth):.6g} "
                   f"({source}), given {at(gc):.6g}; on {inputs}. Steps count t = 1..{T} as "
                   f"in the equations (row t − 1).\n"
                   f"  At that step: yᵗ = {at(y):.4g}, u_preᵗ = {at(u_pre):.6g}, s(u_preᵗ) = "
                   f"{at(trace.s):.6g}; the spike path ḡyᵗ·s(u_preᵗ) = "
                   f"{at(gy) * at(trace.s) + 0.0:.6g}; the carry ḡuᵗ = τ·ḡu_preᵗ⁺¹ = "
                   f"{at(trace.gu):.6g} times ∂uᵗ/∂u_preᵗ = (1 − yᵗ) − u_preᵗ·s(u_preᵗ) = "
                   f"{at(trace.du_dupre):.6g}.")
        raise _wrong(message, vid, _BACKWARD_HINTS)

    _run(check, _backward_witnesses(), _backward_examples(), examples=30)
