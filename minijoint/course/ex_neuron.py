r"""The neuron exercises and their graders: the LIF forward (Eqs. 1–2), the rectangle
surrogate and its primitive (Eq. 5), and BPTT through the LIF by hand (Eq. 4).

Each grader draws small float64 inputs with hypothesis (:func:`~.core.for_all`) and compares
the student's result with minijoint's own (:mod:`minijoint.snn`), or with central
differences. When they differ, it compares the student's result with *variants*: the same
computation with one known mistake planted (``_forward_variant``, ``_RECTANGLE_VARIANTS``,
``_backward_variant``). A mistake is named only when its variant gave the student's result
on every example graded so far and differs from the correct result on the failing one
(:class:`_Suspects`). Fixed larger examples, the *witnesses*, are graded before the drawn
ones, so that mistakes that agree on small inputs are told apart.

Conventions (docs/method.md §1): u⁰ = 0, a neuron fires when u_pre ≥ V_th, hard reset to 0.
Messages count time steps t = 1..T as the equations do (row t − 1 of an array).
"""
from __future__ import annotations

import numpy as np

from ..snn import ATan, Rectangle, Sigmoid, Triangle, lif_backward, lif_forward
from ..testing import numerical_grad
from .core import Exercise, StudentError, Wrong, call, for_all

__all__ = ["EXERCISES"]

RTOL, ATOL = 1e-9, 1e-12          # student against reference: only rounding may differ
FD_RTOL, FD_ATOL = 1e-5, 1e-7     # against central differences (docs/method.md §11)
# T = 1..5, drawn from a list: hypothesis draws small integers far more often than large
# ones, while most mistakes only show, and only differ from each other, from T = 3 on
_STEPS = (1, 2, 3, 4, 5)


# ---- shared: checking an output, finding and showing where it differs --------------------
def _array(name: str, out, shape: tuple):
    """``out`` as a float64 array of ``shape``, or Wrong saying what came back instead."""
    try:
        a = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{name} must be an array of shape {shape}; got {type(out).__name__}") from None
    if a.shape != shape:
        raise Wrong(f"{name} has shape {a.shape}; expected {shape}")
    return a


def _close(a, b, rtol=RTOL, atol=ATOL):
    return np.isclose(a, b, rtol=rtol, atol=atol)


def _at(index: tuple) -> str:
    """A neuron's index within (N, ...), as the learner would type it."""
    return str(tuple(int(i) for i in index))


def _row(values) -> str:
    return "  ".join(f"{float(v):8.5g}" for v in np.ravel(values))


class _Suspects:
    """The known-mistake variants that explain every result the student's function gave in
    one grading. Each example drops the variants whose result differs from the student's;
    on a failing example, the first one left that differs from the truth is the mistake."""

    def __init__(self, variants, rtol=RTOL, atol=ATOL):
        self.left, self.rtol, self.atol = list(variants), rtol, atol

    def observe(self, given, truth, compute):
        """Narrow down with ``given`` (``compute(vid)`` is that variant's result on this
        example); return the variant id to name, or None."""
        same = lambda a, b: np.allclose(a, b, rtol=self.rtol, atol=self.atol)   # noqa: E731
        results = {vid: compute(vid) for vid in self.left}
        self.left = [vid for vid in self.left if same(given, results[vid])]
        return next((vid for vid in self.left if not same(results[vid], truth)), None)


def _wrong(message: str, vid, hints: dict) -> Wrong:
    """Wrong with the hint of variant ``vid`` appended (its key is the part before ':')."""
    if vid is None:
        return Wrong(message)
    key = vid.split(":")[0]
    return Wrong(f"{message}\n  Known mistake `{key}`: {hints[vid]}", mistake=key)


def _run(check, witnesses, strategy, examples: int) -> None:
    """``check`` on the fixed ``witnesses``, then on hypothesis's draws (:func:`for_all`).

    The witnesses are larger examples on which the known mistakes all differ: seen first,
    they narrow the suspects (derandomized draws are mostly small). A witness that fails or
    crashes is reported only if no drawn example does: a drawn one is shrunk, so easier to
    read."""
    failed = None
    for example in witnesses:
        try:
            check(example)
        except (Wrong, StudentError) as e:
            failed = failed or e
    for_all(strategy, check, examples=examples)
    if failed is not None:
        raise failed


# ---- 1. the LIF forward (Eqs. 1–2) ---------------------------------------------------------
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


# ---- 2. the rectangle surrogate and its primitive (Eq. 5) ----------------------------------
_SURROGATE_MISTAKES = {
    "inclusive_edges": "|u − V_th| ≤ a/2 where the support is open: s = 0 exactly at V_th ± a/2",
    "wrong_height": "the height 1/a is missing (the rectangle must have area 1)",
    "wrong_width": "the support is |u − V_th| < a, twice the width a",
    "not_centred": "the rectangle sits on u = 0 instead of the threshold V_th",
    "wrong_primitive": "P′ ≠ s, or P does not rise from 0 to 1 (a missing + 1/2, a missing "
                       "clip, a missing 1/a)",
}
_SURROGATE_HINTS = {
    "inclusive_edges": "are the edges included? s(u) = (1/a)·1[|u − V_th| < a/2] is 0 "
                       "exactly at u = V_th ± a/2: use <, not ≤.",
    "wrong_height": "is the height 1/a missing? Inside the support s = 1/a, so that its area "
                    "is 1 whatever a is.",
    "wrong_width": "is the width right? The support is |u − V_th| < a/2, a window of width a.",
    "not_centred": "is the rectangle centred on the threshold? It is a function of u − V_th.",
    "wrong_primitive:offset": "is the + 1/2 missing? P(V_th) = 1/2: the step is halfway up at "
                              "the threshold.",
    "wrong_primitive:clip": "is the clip missing? P stays in [0, 1]: 0 below V_th − a/2, 1 "
                            "above V_th + a/2.",
    "wrong_primitive:height": "is the 1/a missing? P rises by 1 over a window of width a, "
                              "so its slope there is 1/a.",
    "wrong_primitive": "P must be an antiderivative of s (P′ = s) that rises from 0 to 1.",
}
_RECTANGLE_VARIANTS = {
    "inclusive_edges": lambda u, v, a: (np.abs(u - v) <= a / 2) / a,
    "wrong_height": lambda u, v, a: (np.abs(u - v) < a / 2) * 1.0,
    "wrong_width": lambda u, v, a: (np.abs(u - v) < a) / a,
    "not_centred": lambda u, v, a: (np.abs(u) < a / 2) / a,
}
_PRIMITIVE_VARIANTS = {
    "wrong_primitive:offset": lambda u, v, a: np.clip((u - v) / a, 0.0, 1.0),
    "wrong_primitive:clip": lambda u, v, a: (u - v) / a + 0.5,
    "wrong_primitive:height": lambda u, v, a: np.clip(u - v + 0.5, 0.0, 1.0),
}


def _surrogate_examples():
    """(u, V_th, a) with u = V_th + a·q/16 for integers q ∈ [−24, 24]: the edges V_th ± a/2
    (q = ±8) are exact, and both are planted in every example."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @st.composite
    def examples(draw):
        v_th, a = draw(st.integers(1, 12)) / 8, draw(st.sampled_from((0.25, 0.5, 1.0, 2.0)))
        shape = (draw(st.integers(2, 6)),) + tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
        q = draw(arrays(np.int64, shape, elements=st.integers(-24, 24)))
        q.flat[:2] = draw(st.permutations((-8, 8)))
        return v_th + a * q / 16, v_th, a
    return examples()


_SURROGATE_WITNESSES = [(v_th + a * np.arange(-24, 25) / 16, v_th, a)
                        for v_th, a in ((0.5, 0.5), (1.0, 2.0), (0.25, 0.25))]


def _first(bad) -> tuple:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _check_rectangle(rectangle, u, v_th, a, inputs, suspects):
    s = _array("rectangle's result", call(rectangle, u.copy(), v_th, a, inputs=inputs), u.shape)
    ref = Rectangle(a).grad(u, v_th)
    vid = suspects.observe(s, ref, lambda v: _RECTANGLE_VARIANTS[v](u, v_th, a))
    bad = ~_close(s, ref)
    if bad.any():
        i = _first(bad)
        raise _wrong(f"rectangle: s(u) at u = {u[i]:g} (u − V_th = {u[i] - v_th:g}, index {i}) "
                     f"is {s[i]:g}; expected {ref[i]:g}, on {inputs}", vid, _SURROGATE_HINTS)


def _check_primitive(rectangle, primitive, u, v_th, a, inputs, suspects):
    """P against the reference; where it differs, say why: P′ ≠ s (central differences of
    the student's P against the student's s), or P not rising from 0 to 1."""
    def P(x, where):
        return _array("rectangle_primitive's result",
                      call(primitive, x.copy(), v_th, a, inputs=where), x.shape)

    p, ref = P(u, inputs), Rectangle(a).primitive(u, v_th)
    vid = suspects.observe(p, ref, lambda v: _PRIMITIVE_VARIANTS[v](u, v_th, a))
    if _close(p, ref).all():
        return
    named = lambda why: _wrong(why, vid or "wrong_primitive", _SURROGATE_HINTS)   # noqa: E731
    # a·(q + 1/2)/16 from V_th: at least a/32 from either edge, where P is linear
    x, eps = v_th + a * (np.arange(-24, 24) + 0.5) / 16, 1e-6
    on_x = f"u of shape {x.shape}, v_th={v_th}, a={a}"
    slope = (P(x + eps, on_x) - P(x - eps, on_x)) / (2 * eps)
    s = _array("rectangle's result", call(rectangle, x.copy(), v_th, a, inputs=on_x), x.shape)
    bad = ~_close(slope, s, FD_RTOL, FD_ATOL)
    if bad.any():
        i = _first(bad)[0]
        raise named(f"rectangle_primitive: P′ ≠ s at u = {x[i]:g} (u − V_th = {x[i] - v_th:g}; "
                    f"V_th = {v_th}, a = {a}): (P(u + ε) − P(u − ε))/2ε = {slope[i]:.6g} "
                    f"with ε = {eps:g}, while your rectangle gives s(u) = {s[i]:g}")
    ends = np.array([v_th - 4 * a, v_th + 4 * a])
    got = P(ends, f"u = {ends.tolist()}, v_th={v_th}, a={a}")
    if not _close(got, (0.0, 1.0)).all():
        raise named(f"rectangle_primitive: P must rise from 0 (below V_th − a/2) to 1 (above "
                    f"V_th + a/2); got P(V_th − 4a) = {got[0]:g}, P(V_th + 4a) = {got[1]:g} "
                    f"(V_th = {v_th}, a = {a})")
    i = _first(~_close(p, ref))
    raise Wrong(f"rectangle_primitive: P(u) at u = {u[i]:g} (u − V_th = {u[i] - v_th:g}, "
                f"index {i}) is {p[i]:g}; expected {ref[i]:g}, on {inputs}. P′ = s between the "
                f"points checked and P rises from 0 to 1, so P jumps here: is P continuous?")


def _grade_surrogate(funcs: dict) -> None:
    rectangle, primitive = funcs["rectangle"], funcs["rectangle_primitive"]
    rectangle_suspects = _Suspects(_RECTANGLE_VARIANTS)
    primitive_suspects = _Suspects(_PRIMITIVE_VARIANTS)

    def check(example):
        u, v_th, a = example
        inputs = f"u of shape {u.shape}, v_th={v_th}, a={a}"
        _check_rectangle(rectangle, u, v_th, a, inputs, rectangle_suspects)
        _check_primitive(rectangle, primitive, u, v_th, a, inputs, primitive_suspects)

    _run(check, _SURROGATE_WITNESSES, _surrogate_examples(), examples=30)


# ---- 3. BPTT through the LIF (Eq. 4 with the leak and reset terms) -------------------------
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


EXERCISES = (
    Exercise("lif_forward", "The LIF forward (Eqs. 1–2)", "01_lif_forward.ipynb",
             ("lif_forward",), _grade_forward, _FORWARD_MISTAKES),
    Exercise("surrogate", "The rectangle surrogate and its primitive (Eq. 5)",
             "02_surrogate.ipynb", ("rectangle", "rectangle_primitive"), _grade_surrogate,
             _SURROGATE_MISTAKES),
    Exercise("lif_backward", "BPTT through the LIF by hand (Eq. 4)", "03_lif_backward.ipynb",
             ("lif_backward",), _grade_backward, _BACKWARD_MISTAKES),
)
