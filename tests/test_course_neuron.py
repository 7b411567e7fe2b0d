"""The neuron exercises of the course (minijoint/course/ex_neuron/, notebooks 01–03).

* The solution in each solved notebook (extracted from its code cells, the one source of
  truth) passes its grader.
* Every known mistake, written here the way a student would write it (not with the
  grader's variant code), fails and is named; the message says where (time step, neuron,
  term) and gives the hint.
* An unrelated wrong answer, and two mistakes at once, fail without a name.
* A stub is "not implemented", a crash is "error" naming the input's shape, a missing
  function is "missing", a result of the wrong kind fails saying what was expected.
* The notebooks are committed clean, and (``-m notebook``) run top to bottom in a kernel,
  solved and as the student's copy, their check cells saying "pass" and "not implemented".
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from minijoint.course.core import grade
from minijoint.course.ex_neuron.lif_backward import _backward_variant
from minijoint.course.ex_neuron.lif_forward import _forward_variant
from minijoint.course.exercises import EXERCISES, get_exercise
from minijoint.course.notebooks import BEGIN, END, read_notebook, student_version
from minijoint.snn import Rectangle, Sigmoid, lif_backward, lif_forward

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "minijoint" / "course" / "notebooks"
NAMES = ("lif_forward", "surrogate", "lif_backward")


def _notebook(name, student=False):
    """The solved notebook of exercise ``name``, or the student's copy made from it."""
    nb = read_notebook(FOLDER / get_exercise(name).notebook)
    return nbformat.reads(json.dumps(student_version(nb, name) if student else nb), as_version=4)


def _function_cells(name, student=False) -> list:
    defs = [f"def {f}(" for f in get_exercise(name).functions]
    return [c.source for c in _notebook(name, student).cells
            if c.cell_type == "code" and any(d in c.source for d in defs)]


def _functions(name, student=False) -> dict:
    """The exercise's functions as the solved notebook (or its student copy) defines them."""
    namespace = {"np": np}
    for source in _function_cells(name, student):
        exec(compile(source, f"<{name}>", "exec"), namespace)
    return {f: namespace[f] for f in get_exercise(name).functions}


def _grade(name, **funcs):
    return grade(get_exercise(name), funcs)


# ---- 1. the LIF forward, as students write it ----------------------------------------------
def forward_solution(c, tau, v_th):
    return _functions("lif_forward")["lif_forward"](c, tau, v_th)


def make_forward(fires=np.greater_equal, leak=True, current_step=0, reset="hard",
                 spike_step=0, first=0, report="u_pre"):
    """A student's loop over t, with the choices a student gets wrong."""
    def lif_forward(c, tau, v_th):
        y, u_pre, u = np.zeros(c.shape), np.zeros(c.shape), np.zeros(c.shape[1:])
        reported = np.zeros(c.shape)
        for t in range(first, len(c)):
            u_pre[t] = (tau * u if leak else u) + c[t - current_step]
            y[t] = fires(u_pre[t], v_th)
            if reset == "hard":
                u = u_pre[t] * (1 - y[t - spike_step])
            elif reset == "soft":
                u = u_pre[t] - v_th * y[t]
            else:
                u = u_pre[t]
            reported[t] = u
        return y, (reported if report == "u" else u_pre)
    return lif_forward


def forward_no_reset(c, tau, v_th):   # written with lists, as many first attempts are
    u, ys, us = np.zeros(c.shape[1:]), [], []
    for ct in c:
        u = tau * u + ct
        ys.append(np.where(u >= v_th, 1.0, 0.0))
        us.append(u)
    return np.array(ys), np.array(us)


FORWARD_MISTAKES = [
    (forward_no_reset, "missing_reset", "reset missing"),
    (make_forward(reset=None), "missing_reset", "reset missing"),
    (make_forward(current_step=1), "off_by_one", "current one step late"),
    (make_forward(spike_step=1), "off_by_one", "reset one step late"),
    (make_forward(first=1), "off_by_one", "skip step t = 1"),
    (make_forward(fires=lambda u, v_th: (u > v_th) * 1.0), "strict_threshold", "u_pre ≥ V_th"),
    (make_forward(reset="soft"), "soft_reset", "reset soft"),
    (make_forward(leak=False), "no_leak", "leak missing"),
    (make_forward(report="u"), "u_after_reset", "before the reset"),
]


@pytest.mark.parametrize("student, mistake, words", FORWARD_MISTAKES,
                         ids=[f"{m}-{i}" for i, (_, m, _) in enumerate(FORWARD_MISTAKES)])
def test_forward_mistake_is_named(student, mistake, words):
    v = _grade("lif_forward", lif_forward=student)
    assert (v.status, v.mistake) == ("fail", mistake), str(v)
    assert f"Known mistake `{mistake}`" in v.message and words in v.message, v.message
    # where: the first step (counted from 1) and neuron, the input's shape, both sequences
    assert re.search(r"first at time step t = \d+ \(of T = \d+", v.message), v.message
    assert re.search(r"neuron \(\d*(, \d+)*,?\)", v.message) and "c of shape (" in v.message
    assert "expected" in v.message and "given" in v.message


def test_forward_message_points_at_the_first_step_that_differs():
    # missing reset: the first spike is right; the step after it is the first one off
    v = _grade("lif_forward", lif_forward=forward_no_reset)
    t = int(re.search(r"at time step t = (\d+)", v.message).group(1))
    rows = dict(re.findall(r"(expected|given)\s+([-\d. e]+)\n", v.message.split("    y ")[0]))
    expected, given = (np.array(rows[k].split(), dtype=float) for k in ("expected", "given"))
    assert np.array_equal(expected[:t - 1], given[:t - 1]) and expected[t - 1] != given[t - 1]


def test_forward_unrelated_or_double_mistake_is_not_named():
    def half_threshold(c, tau, v_th):
        return forward_solution(c, tau, v_th / 2)

    no_reset_and_strict = make_forward(fires=np.greater, reset=None)
    for student in (half_threshold, no_reset_and_strict):
        v = _grade("lif_forward", lif_forward=student)
        assert (v.status, v.mistake) == ("fail", None), str(v)
        assert "Known mistake" not in v.message


def test_forward_result_of_the_wrong_kind():
    v = _grade("lif_forward", lif_forward=lambda c, tau, v_th: forward_solution(c, tau, v_th)[0])
    assert v.status == "fail" and "must return the pair (y, u_pre)" in v.message
    v = _grade("lif_forward", lif_forward=lambda c, tau, v_th: (c[0], c))
    assert v.status == "fail" and "y has shape" in v.message and "expected" in v.message
    v = _grade("lif_forward", lif_forward=lambda c, tau, v_th: (c, c))
    assert v.status == "fail" and "each 0 or 1" in v.message


def test_forward_variants_are_the_reference_with_one_change():
    rng = np.random.default_rng(0)
    c = rng.integers(-16, 48, size=(5, 3, 2)) / 32
    y, u_pre = lif_forward(c, 0.25, 0.5, Rectangle())
    mine = _forward_variant(c, 0.25, 0.5)
    assert np.array_equal(mine[0], y) and np.array_equal(mine[1], u_pre)


# ---- 2. the rectangle surrogate and its primitive -------------------------------------------
def rect(u, v_th, a):
    return np.where(np.abs(u - v_th) < a / 2, 1 / a, 0.0)


def prim(u, v_th, a):
    return np.minimum(np.maximum((u - v_th + a / 2) / a, 0.0), 1.0)


SURROGATE_MISTAKES = [
    (lambda u, v_th, a: np.where(np.abs(u - v_th) <= a / 2, 1 / a, 0.0), prim,
     "inclusive_edges", "use <, not ≤"),
    (lambda u, v_th, a: 1.0 * (np.abs(u - v_th) < a / 2), prim, "wrong_height", "1/a"),
    (lambda u, v_th, a: ((u > v_th - a) & (u < v_th + a)) / a, prim, "wrong_width", "width"),
    (lambda u, v_th, a: np.where(abs(u) < a / 2, 1 / a, 0.0), prim, "not_centred", "centred"),
    (rect, lambda u, v_th, a: np.clip((u - v_th) / a, 0, 1), "wrong_primitive", "+ 1/2"),
    (rect, lambda u, v_th, a: (u - v_th) / a + 0.5, "wrong_primitive", "clip"),
    (rect, lambda u, v_th, a: np.clip(u - v_th + 0.5, 0, 1), "wrong_primitive", "1/a"),
    (rect, lambda u, v_th, a: 1 / (1 + np.exp(-(u - v_th) / a)), "wrong_primitive", "P′ = s"),
]


@pytest.mark.parametrize("rectangle, primitive, mistake, words", SURROGATE_MISTAKES,
                         ids=[f"{m}-{i}" for i, (_, _, m, _) in enumerate(SURROGATE_MISTAKES)])
def test_surrogate_mistake_is_named(rectangle, primitive, mistake, words):
    v = _grade("surrogate", rectangle=rectangle, rectangle_primitive=primitive)
    assert (v.status, v.mistake) == ("fail", mistake), str(v)
    assert f"Known mistake `{mistake}`" in v.message and words in v.message, v.message
    assert re.search(r"at u = -?[\d.]+", v.message), v.message


def test_inclusive_edges_is_caught_exactly_at_an_edge():
    v = _grade("surrogate", rectangle=SURROGATE_MISTAKES[0][0], rectangle_primitive=prim)
    u, v_th, a = (float(x) for x in re.search(
        r"at u = (-?[\d.]+) .*v_th=([\d.]+), a=([\d.]+)", v.message).groups())
    assert abs(u - v_th) == a / 2, v.message


def test_surrogate_unrelated_mistakes_are_not_named():
    def triangle(u, v_th, a):
        return np.maximum(0.0, 1 - np.abs(u - v_th) / a) / a

    def jumps_at_threshold(u, v_th, a):   # P′ = s everywhere but one point, limits right
        return prim(u, v_th, a) + 0.1 * (u == v_th)

    for r, p, words in ((triangle, prim, "rectangle: s(u)"),
                        (rect, jumps_at_threshold, "is P continuous?")):
        v = _grade("surrogate", rectangle=r, rectangle_primitive=p)
        assert (v.status, v.mistake) == ("fail", None), str(v)
        assert words in v.message and "Known mistake" not in v.message


def test_surrogate_result_of_the_wrong_kind():
    v = _grade("surrogate", rectangle=lambda u, v_th, a: 1.0, rectangle_primitive=prim)
    assert v.status == "fail" and "rectangle's result has shape ()" in v.message


# ---- 3. BPTT through the LIF, as students write it ------------------------------------------
def backward_solution(gy, u_pre, y, tau, v_th, surrogate):
    return _functions("lif_backward")["lif_backward"](gy, u_pre, y, tau, v_th, surrogate)


def make_backward(reset=True, leak=True, direction="backward", first=0, du_step=0,
                  start_with_gy=False, carry=True):
    """A student's loop over t, with the choices a student gets wrong."""
    def lif_backward(gy, u_pre, y, tau, v_th, surrogate):
        T = gy.shape[0]
        s = surrogate.grad(u_pre, v_th)
        dudu = 1 - y - u_pre * s if reset else 1 - y
        out = np.zeros(gy.shape)
        g = tau * gy[T - 1] if start_with_gy else np.zeros(gy.shape[1:])
        order = range(T - 1, first - 1, -1) if direction == "backward" else range(T)
        for t in order:
            k = min(t + du_step, T - 1)
            out[t] = gy[t] * s[t] + (g * dudu[k] if carry else 0)
            g = out[t] * (tau if leak else 1)
        for t in range(first):   # the steps the loop never reached: their own term only
            out[t] = gy[t] * s[t]
        return out
    return lif_backward


BACKWARD_MISTAKES = [
    (make_backward(reset=False), "missing_reset", "reset path −u_preᵗ·s(u_preᵗ) missing"),
    (make_backward(leak=False), "tau_missing", "τ missing"),
    (make_backward(direction="forward"), "off_by_one", "from step t − 1"),
    (make_backward(first=1), "off_by_one", "stop before t = 1"),
    (make_backward(du_step=1), "off_by_one", "at the wrong step"),
    (make_backward(start_with_gy=True), "off_by_one", "ḡu^T = 0"),
    (make_backward(carry=False), "spike_path_only", "carry missing"),
]


@pytest.mark.parametrize("student, mistake, words", BACKWARD_MISTAKES,
                         ids=[f"{m}-{i}" for i, (_, m, _) in enumerate(BACKWARD_MISTAKES)])
def test_backward_mistake_is_named(student, mistake, words):
    v = _grade("lif_backward", lif_backward=student)
    assert (v.status, v.mistake) == ("fail", mistake), str(v)
    assert f"Known mistake `{mistake}`" in v.message and words in v.message, v.message
    assert re.search(r"∂L/∂u_pre \(= ∂L/∂c\) at t = \d+ is off", v.message), v.message
    assert "gy, u_pre, y of shape (" in v.message and "the carry ḡuᵗ" in v.message


def test_backward_names_the_step_where_the_error_enters():
    # without the reset path, the last step is right (it has no carry) and the error
    # enters at the latest step whose carry meets a nonzero u_pre·s
    v = _grade("lif_backward", lif_backward=make_backward(reset=False))
    t, T = (int(x) for x in re.search(r"at t = (\d+) .*t = 1\.\.(\d+)", v.message).groups())
    assert t < T and "agree" in v.message


def test_backward_unrelated_or_double_mistake_is_not_named():
    def reset_sign_flipped(gy, u_pre, y, tau, v_th, surrogate):
        s = surrogate.grad(u_pre, v_th)
        gc, g = np.zeros_like(gy), 0.0
        for t in reversed(range(len(gy))):
            gc[t] = gy[t] * s[t] + g * (1 - y[t] + u_pre[t] * s[t])
            g = tau * gc[t]
        return gc

    for student in (reset_sign_flipped, make_backward(reset=False, leak=False)):
        v = _grade("lif_backward", lif_backward=student)
        assert (v.status, v.mistake) == ("fail", None), str(v)
        assert "Known mistake" not in v.message


def test_backward_smooth_examples_are_checked_against_finite_differences():
    # a student who differentiates the spiking forward only (∂u/∂u_pre from y = 0/1 spikes,
    # but s replaced by 0 where y is fractional) is caught on the smooth examples
    def spikes_only(gy, u_pre, y, tau, v_th, surrogate):
        if not np.isin(y, (0.0, 1.0)).all():
            return np.zeros_like(gy)
        return backward_solution(gy, u_pre, y, tau, v_th, surrogate)

    v = _grade("lif_backward", lif_backward=spikes_only)
    assert v.status == "fail" and "central differences of the smooth forward" in v.message


def test_backward_variants_are_the_reference_with_one_change():
    rng = np.random.default_rng(1)
    u_pre = rng.uniform(-0.5, 1.5, size=(4, 3))
    y, gy = (u_pre >= 0.5) * 1.0, rng.standard_normal((4, 3))
    for sg in (Rectangle(), Sigmoid()):
        ref = lif_backward(gy, u_pre, y, 0.25, 0.5, sg).gc
        np.testing.assert_allclose(_backward_variant(gy, u_pre, y, 0.25, 0.5, sg), ref,
                                   rtol=1e-12, atol=1e-14)


# ---- every exercise: solution, stub, crash, missing ------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_solved_notebook_passes_its_grader(name):
    v = _grade(name, **_functions(name))
    assert v.status == "pass", str(v)


@pytest.mark.parametrize("name", NAMES)
def test_student_copy_is_not_implemented(name):
    funcs = _functions(name, student=True)
    v = _grade(name, **funcs)
    assert v.status == "not implemented", str(v)


CRASHES = {
    "lif_forward": ({"lif_forward": lambda c, tau, v_th: (c[len(c)], c)}, "c of shape ("),
    "surrogate": ({"rectangle": lambda u, v_th, a: u[:, 0] * 0, "rectangle_primitive": prim},
                  "u of shape ("),
    "lif_backward": ({"lif_backward": lambda gy, u_pre, y, tau, v_th, sg: sg(u_pre)},
                     "gy, u_pre, y of shape ("),
}


@pytest.mark.parametrize("name", NAMES)
def test_a_crash_is_an_error_naming_the_input_shape(name):
    funcs, words = CRASHES[name]
    v = _grade(name, **funcs)
    assert v.status == "error" and words in v.message and "raised" in v.message, str(v)


@pytest.mark.parametrize("name", NAMES)
def test_missing_function(name):
    v = grade(get_exercise(name), {})
    assert v.status == "missing" and get_exercise(name).functions[0] in v.message


def test_grading_is_repeatable():
    a, b = (_grade("lif_backward", lif_backward=make_backward(leak=False)) for _ in range(2))
    assert a == b


def test_registry():
    for name in NAMES:
        ex = EXERCISES[name]
        assert (FOLDER / ex.notebook).is_file() and ex.mistakes and ex.title
    named = {m for _, m, _ in FORWARD_MISTAKES}
    assert named == set(EXERCISES["lif_forward"].mistakes)
    assert {m for *_, m, _ in SURROGATE_MISTAKES} == set(EXERCISES["surrogate"].mistakes)
    assert {m for _, m, _ in BACKWARD_MISTAKES} == set(EXERCISES["lif_backward"].mistakes)


# ---- the notebooks ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_clean_and_shaped_as_an_exercise(name):
    nb = _notebook(name)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    text = "\n".join(c.source for c in nb.cells)
    assert "$$" in text and re.search(r"Eq\. \d", text) and f'check("{name}")' in text
    for f in get_exercise(name).functions:
        # the solution sits inside the function's body, after its signature and docstring
        cell = next(s for s in _function_cells(name) if f"def {f}(" in s)
        body = cell.split(f"def {f}(", 1)[1].split("\ndef ", 1)[0]
        assert re.search(rf'"""\n    {re.escape(BEGIN)}\n(.|\n)*\n    {re.escape(END)}', body)
        # nothing but check() calls the student's function
        others = "\n".join(c.source for c in code if f"def {f}(" not in c.source)
        assert not re.search(rf"(?<![.\w]){f}\(", others), f"a cell calls {f} directly"


def _run(nb) -> nbformat.NotebookNode:
    from minijoint.site.execute import run_notebook
    return run_notebook(nb, FOLDER, timeout=120)


def _check_output(nb, name) -> str:
    cell = next(c for c in nb.cells if c.cell_type == "code" and f'check("{name}")' in c.source)
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.outputs)


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_solved_and_as_the_students_copy(name):
    solved = _run(_notebook(name))
    assert f"{name}: pass" in _check_output(solved, name)
    student = _notebook(name, student=True)
    assert BEGIN not in "".join(c.source for c in student.cells)
    assert f"{name}: not implemented" in _check_output(_run(student), name)
