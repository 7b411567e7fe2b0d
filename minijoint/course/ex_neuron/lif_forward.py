r"""Exercise 1, the LIF forward (Eqs. 1–2): the mistakes it names, the recursion with each
one planted (:func:`_forward_variant`), the drawn examples and witnesses, and the grader."""
from __future__ import annotations

import numpy as np

from ...snn import Rectangle, lif_forward
from ..core import Wrong, call
from .compare import _STEPS, _Suspects, _array, _at, _close, _row, _run, _wrong

_FORWARD_MISTAKES = {
    "missing_reset": "no reset after a spike (uᵗ = u_preᵗ instead of u_preᵗ·(1 − yᵗ))",
    "off_by_one": "a step uses another step's value: cᵗ⁻¹ instead of cᵗ, the spike of step "
                  "t − 1 in the reset of step t, or the loop skips step 1",
    "strict_threshold": "fires when u_pre > V_th; the convention is u_pre ≥ V_th",
    "soft_reset": "subtracts V_th after a spike (uᵗ = u_preᵗ − V_th·yᵗ) instead of resetting to 0",
    "no_leak": "u_preᵗ = uᵗ⁻¹ + cᵗ: the leak τ is missing",
    "u_after_reset": "returns uᵗ (after the reset) where u_preᵗ (before it) is asked for",
}
_FORWARD_HINTS = {
    "missing_reset": "is the reset missing? A neuron that fires restarts at 0: "
                     "uᵗ = u_preᵗ·(1 − yᵗ).",
    "off_by_one:current": "is the current one step late? Step t adds its own current cᵗ "
                          "(c[t] in the loop that computes u_pre[t]), not c[t - 1].",
    "off_by_one:reset": "is the reset one step late? A neuron that fires at step t restarts "
                        "at step t: uᵗ = u_preᵗ·(1 − yᵗ) uses the spike yᵗ just computed.",
    "off_by_one:first_step": "does the loop skip step t = 1? It must run over all T rows of "
                             "c, starting with u⁰ = 0.",
    "strict_threshold": "is the comparison strict? A neuron fires when u_pre ≥ V_th: "
                        "landing exactly on the threshold is a spike.",
    "soft_reset": "is the reset soft? After a spike the membrane is set to 0 "
                  "(uᵗ = u_preᵗ·(1 − yᵗ)), not lowered by V_th.",
    "no_leak": "is the leak missing? u_preᵗ = τ·uᵗ⁻¹ + cᵗ.",
    "u_after_reset": "u_pre is the potential before the reset; you returned uᵗ, after it.",
}


def _forward_variant(c, tau, v_th, variant=None):
    """(y, u_pre) of the LIF recursion with the mistake ``variant`` planted (None: none)."""
    y, u_pre = np.zeros_like(c), np.zeros_like(c)
    u, y_before = np.zeros_like(c[0]), np.zeros_like(c[0])
    for t in range(c.shape[0]):
        if variant == "off_by_one:first_step" and t == 0:
            continue
        current = c[t - 1] if variant == "off_by_one:current" else c[t]   # c[-1] at t = 0
        u_pre[t] = (u if variant == "no_leak" else tau * u) + current
        fire = np.greater if variant == "strict_threshold" else np.greater_equal
        y[t] = fire(u_pre[t], v_th)
        fired = y_before if variant == "off_by_one:reset" else y[t]
        if variant == "missing_reset":
            u = u_pre[t].copy()
        elif variant == "soft_reset":
            u = u_pre[t] - v_th * fired
        else:
            u = u_pre[t] * (1.0 - fired)
        y_before = y[t]
    return y, (u_pre * (1.0 - y) if variant == "u_after_reset" else u_pre)


def _forward_examples():
    """(c, τ, V_th) with every value a multiple of a power of two, so that every u_pre is
    exact in float64 and neurons land exactly on V_th often enough to test ``≥``."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @st.composite
    def examples(draw):
        shape = (draw(st.sampled_from(_STEPS)), draw(st.integers(1, 3)))
        shape += tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
        tau, k_th = draw(st.integers(1, 15)) / 16, draw(st.integers(2, 10))
        k = draw(arrays(np.int64, shape, elements=st.one_of(st.just(4 * k_th),
                                                            st.integers(-16, 48))))
        return k / 32, tau, k_th / 8          # c ∈ [−0.5, 1.5], V_th ∈ [0.25, 1.25]
    return examples()


def _forward_witnesses() -> list:
    """Three (c, τ, V_th) with T = 5 and 12 neurons, a quarter of them landing on V_th."""
    rng = np.random.default_rng(0)
    out = []
    for tau, k_th in ((0.5, 4), (0.25, 6), (0.75, 3)):
        k = rng.integers(-16, 48, size=(5, 4, 3))
        k[rng.random(k.shape) < 0.25] = 4 * k_th
        out.append((k / 32, tau, k_th / 8))
    return out


def _grade_forward(funcs: dict) -> None:
    student = funcs["lif_forward"]
    suspects = _Suspects(_FORWARD_HINTS)

    def check(example):
        c, tau, v_th = example
        inputs = f"c of shape {c.shape}, tau={tau}, v_th={v_th}"
        out = call(student, c.copy(), tau, v_th, inputs=inputs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise Wrong(f"lif_forward must return the pair (y, u_pre); got {type(out).__name__} "
                        f"(on {inputs})")
        y, u_pre = (_array(name, a, c.shape) for name, a in zip(("y", "u_pre"), out))
        if not np.isin(y, (0.0, 1.0)).all():
            raise Wrong(f"y must hold spikes, each 0 or 1; got {y[~np.isin(y, (0.0, 1.0))][0]:g} "
                        f"(on {inputs})")
        y_ref, u_ref = lif_forward(c, tau, v_th, Rectangle())
        vid = suspects.observe(np.stack((y, u_pre)), np.stack((y_ref, u_ref)),
                               lambda v: np.stack(_forward_variant(c, tau, v_th, v)))
        bad = ((y != y_ref) | ~_close(u_pre, u_ref)).reshape(c.shape[0], -1)
        if not bad.any():
            return
        t = int(bad.any(axis=1).argmax())                  # the first step that differs
        j = int(bad[t].argmax())
        who = np.unravel_index(j, c.shape[1:])
        column = lambda a: a.reshape(c.shape[0], -1)[:, j]   # noqa: E731 (that neuron, all t)
        y_off = column(y)[t] != column(y_ref)[t]
        u_off = not _close(column(u_pre)[t], column(u_ref)[t])
        what = "y and u_pre differ" if y_off and u_off else "y differs" if y_off else "u_pre differs"
        message = (f"{what} first at time step t = {t + 1} (of T = {c.shape[0]}; steps "
                   f"count from 1 as in Eqs. 1–2, row t − 1 of the arrays), neuron {_at(who)}, "
                   f"on {inputs}. That neuron over t = 1..{c.shape[0]}:\n"
                   f"    c                {_row(column(c))}\n"
                   f"    u_pre  expected  {_row(column(u_ref))}\n"
                   f"           given     {_row(column(u_pre))}\n"
                   f"    y      expected  {_row(column(y_ref))}\n"
                   f"           given     {_row(column(y))}")
        raise _wrong(message, vid, _FORWARD_HINTS)

    _run(check, _forward_witnesses(), _forward_examples(), examples=40)
