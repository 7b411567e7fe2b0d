r"""Exercise 2, the rectangle surrogate and its primitive (Eq. 5): the mistakes it names,
the rectangles and primitives with each one planted, the drawn examples and witnesses, and
the grader, which tells a wrong P′ from a P that does not rise from 0 to 1."""
from __future__ import annotations

import numpy as np

from ...snn import Rectangle
from ..core import Wrong, call
from .compare import FD_ATOL, FD_RTOL, _Suspects, _array, _close, _run, _wrong

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
