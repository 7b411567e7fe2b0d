"""The network exercises of the course (conv2d_backward, factorized, joint_loss,
energy_count): their solved notebooks and their graders.

The solved notebook is the one source of truth, so the tests read the solutions from it:
the code cells before the ``check(...)`` cell are run, and a student's slip is made by
editing one line of the solution's source (as a student would have written it), never by
reusing the grader's planted variants. For every exercise: the solution passes; each known
mistake is named (``verdict.mistake`` and the hint in the message); an unrelated wrong
answer fails without a name; the stub of the student version is "not implemented"; a crash
is an "error" naming the input. The planted variants themselves are checked to be the
reference when nothing is planted, and the references (conv2d's and rebuild_weight's
backward) against central differences on the grader's own draws.
"""
from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minijoint.functional as F
from minijoint.course import check, core, ex_network
from minijoint.course.ex_network import compare
from minijoint.course.ex_network.conv2d_backward import (_col2im_planted, _conv_arrays,
                                                         _conv_backward_planted, _conv_spec)
from minijoint.course.ex_network.factorized import _FACTORS, _factorized_arrays, _factorized_spec
from minijoint.course.ex_network.joint_loss import (_JOINT_LISTS, _grads, _joint_arrays,
                                                    _joint_loss_planted, _joint_spec,
                                                    _joint_tensors)
from minijoint.joint import JointLoss
from minijoint.nn import rebuild_weight
from minijoint.tensor import Tensor
from minijoint.testing import gradcheck

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "minijoint" / "course" / "notebooks"
EXERCISES = {e.name: e for e in ex_network.EXERCISES}
NAMES = list(EXERCISES)


# ---- the solved notebooks -----------------------------------------------------------------
def _notebook(name: str) -> dict:
    return json.loads((NOTEBOOKS / EXERCISES[name].notebook).read_text(encoding="utf-8"))


def _code(name: str) -> list:
    return ["".join(c["source"]) for c in _notebook(name)["cells"] if c["cell_type"] == "code"]


def _setup_cells(name: str) -> list:
    """The code cells before the first check(...) cell: imports, helpers, solutions."""
    cells = _code(name)
    first = next(i for i, src in enumerate(cells) if "check(" in src)
    return cells[:first]


@lru_cache(maxsize=None)
def _solved(name: str) -> dict:
    ns = {}
    for src in _setup_cells(name):
        exec(compile(src, f"<{name} notebook>", "exec"), ns)
    return ns


def _grade(name: str, ns: dict) -> core.Verdict:
    return core.grade(EXERCISES[name], ns)


def _slip(name: str, func: str, old: str, new: str, count: int = 1) -> dict:
    """The solved namespace with ``func`` redefined from its notebook source, ``old``
    replaced by ``new``: the solution with one slip in it."""
    src = next(s for s in _setup_cells(name) if f"def {func}(" in s)
    assert src.count(old) == count, f"{old!r} occurs {src.count(old)} times in {func}'s source"
    ns = dict(_solved(name))
    exec(compile(src.replace(old, new), f"<{func} with a slip>", "exec"), ns)
    return ns


def _student_version(src: str) -> str:
    """A solution cell as the student gets it: each marked region becomes a stub."""
    return re.sub(r"(?m)^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                  lambda m: f'{m.group(1)}raise NotImplementedError("write your code here")',
                  src, flags=re.S)


# ---- the notebooks themselves ---------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name):
    nb = _notebook(name)
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{EXERCISES[name].notebook}: cells {dirty} have outputs or counts"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_the_parts_of_an_exercise(name):
    nb = _notebook(name)
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert text.lstrip().startswith("# Exercise"), "the notebook starts with its title"
    assert "$$" in text, "the equations are shown in LaTeX"
    assert "Hints" in text, "the task comes with hints"
    assert any(src.strip() == f'check("{name}")' for src in _code(name)), "no check cell"


@pytest.mark.parametrize("name", NAMES)
def test_solution_regions_sit_inside_the_functions(name):
    """Markers balanced and indented; the signature and docstring outside them; each
    function the student writes is defined in one cell and called by no cell outside the
    solution regions (illustrations use minijoint's own implementation)."""
    funcs = EXERCISES[name].functions
    for src in _code(name):
        begins = re.findall(r"(?m)^([ \t]*)### BEGIN SOLUTION$", src)
        ends = re.findall(r"(?m)^([ \t]*)### END SOLUTION$", src)
        assert len(begins) == len(ends) and all(begins) and begins == ends, src[:200]
        tree = ast.parse(_student_version(src))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in funcs:
                assert ast.get_docstring(node), f"{node.name} lost its docstring"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in funcs:
                pytest.fail(f"a cell calls the student's {node.func.id} outside a solution")
    defined = [s for s in _code(name) for f in funcs if f"def {f}(" in s]
    assert len(defined) == len(funcs) and all("### BEGIN SOLUTION" in s for s in defined)


def test_notebook_im2col_is_minijoints():
    im2col = _solved("conv2d_backward")["im2col"]
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 6))
    for KH, KW, S, P in ((3, 3, 1, 1), (2, 3, 2, 0), (1, 1, 2, 2)):
        np.testing.assert_array_equal(im2col(x, KH, KW, S, P), F.im2col(x, (KH, KW), S, P))


# ---- (a) the solution passes; (d) the stub is not implemented -------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    v = check(name, _solved(name))          # through the registry, as a notebook calls it
    assert v.status == core.PASS and v.exercise == name, v.message


@pytest.mark.parametrize("name", NAMES)
def test_student_stub_is_not_implemented(name):
    ns = {}
    for src in _setup_cells(name):
        exec(compile(_student_version(src), f"<{name} student>", "exec"), ns)
    assert all(callable(ns[f]) for f in EXERCISES[name].functions)
    v = _grade(name, ns)
    assert v.status == core.NOT_IMPLEMENTED, v


# ---- (b) each known mistake, written as a student would, is named ---------------------------
COL2IM = "col2im"
BACKWARD = "conv2d_backward"
SLIPS = [  # (exercise, function, old, new, mistake, count)
    ("conv2d_backward", COL2IM, "] += \\", "] = \\", "overwrite_not_add", 1),
    ("conv2d_backward", COL2IM, "return x_pad[:, :, P:P + H, P:P + W]", "return x_pad",
     "padding_not_cropped", 1),
    ("conv2d_backward", COL2IM, "P:P + H, P:P + W]", "P:-P, P:-P]", "negative_index_crop", 1),
    ("conv2d_backward", BACKWARD, "gy.transpose(1, 0, 2, 3).reshape(OC, -1)",
     "gy.reshape(OC, -1)", "gy_layout", 1),
    ("conv2d_backward", BACKWARD, "w.reshape(OC, -1).T @ gy2", "w.reshape(-1, OC) @ gy2",
     "reshape_not_transpose", 1),
    ("conv2d_backward", BACKWARD, "(gy2 @ col.T).reshape(w.shape)",
     "(col @ gy2.T).reshape(w.shape)", "reshape_not_transpose", 1),
    ("factorized", "factorized_backward", "gsigma_snn = (U * GVt_snn)",
     "gsigma_snn = (U * GVt_ann)", "sigma_wrong_path", 1),
    ("factorized", "factorized_backward", "GVt_ann * sigma_ann + GVt_snn * sigma_snn",
     "GVt_ann * sigma_snn + GVt_snn * sigma_ann", "sigma_wrong_path", 1),
    ("factorized", "factorized_backward", "gU = GVt_ann * sigma_ann + GVt_snn * sigma_snn",
     "gU = GVt_ann * sigma_ann", "one_path_only", 1),
    ("factorized", "factorized_backward",
     "sigma_ann[:, None] * (U.T @ gW_ann) + sigma_snn[:, None] * (U.T @ gW_snn)",
     "sigma_snn[:, None] * (U.T @ gW_snn)", "one_path_only", 1),
    ("factorized", "factorized_backward", "GVt_ann * sigma_ann + GVt_snn * sigma_snn",
     "(GVt_ann + GVt_snn) * sigma_ann", "one_sigma_for_both", 1),
    ("factorized", "factorized_backward", "gsigma_ann = (U * GVt_ann)",
     "gsigma_ann = (U * (GVt_ann + GVt_snn))", "sigma_summed", 1),
    ("factorized", "factorized_backward",
     "sigma_ann[:, None] * (U.T @ gW_ann) + sigma_snn[:, None] * (U.T @ gW_snn)",
     "(U.T @ gW_ann) * sigma_ann + (U.T @ gW_snn) * sigma_snn", "sigma_wrong_axis", 1),
    ("factorized", "factorized_backward", "gsigma_ann = (U * GVt_ann).sum(axis=0)",
     "gsigma_ann = (U * GVt_ann).sum(axis=1)", "sigma_wrong_axis", 1),
    ("joint_loss", "joint_loss", "z_ann.detach() / kappa", "z_ann / kappa",
     "missing_stop_gradient", 1),
    ("joint_loss", "joint_loss", "f_snn - f_ann.detach()", "f_snn - f_ann",
     "missing_stop_gradient", 1),
    ("joint_loss", "joint_loss", "(log_p.exp() * (log_p - log_q))",
     "(log_q.exp() * (log_q - log_p))", "kl_direction", 1),
    ("joint_loss", "joint_loss", "kappa ** 2 * ", "", "missing_kappa_squared", 1),
    ("joint_loss", "joint_loss", " / kappa, axis=1)", ", axis=1)", "missing_temperature", 2),
    ("joint_loss", "joint_loss", "(d * d).sum() / N", "F.mse_loss(f_snn, f_ann.detach())",
     "norm_mean_over_elements", 1),
    ("energy_count", "energy_count", "T * rate * macs * E_ADD",
     "T * rate * macs * (E_ADD + E_MULT)", "mac_energy_for_snn", 1),
    ("energy_count", "energy_count", "T * rate * macs * E_ADD", "T * macs * E_ADD",
     "missing_rate", 1),
    ("energy_count", "energy_count", "T * rate * macs * E_ADD", "rate * macs * E_ADD",
     "missing_T", 1),
    ("energy_count", "energy_count", "if first:", "if False:", "first_layer_as_spikes", 1),
    ("energy_count", "energy_count", "e_ann = macs * (E_ADD + E_MULT)", "e_ann = macs * E_MULT",
     "mac_priced_as_mult", 1),
    ("energy_count", "energy_count", "macs = C * OC * KH * KW * OH * OW",
     "macs = C * OC * KH * KW", "params_not_macs", 1),
    ("energy_count", "energy_count", "macs = C * OC * KH * KW * OH * OW\n",
     "macs = C * OC * KH * KW * OH * OW\n    E_ADD, E_MULT = 0.9, 4.6   # pJ\n",
     "wrong_units", 1),
]


@pytest.mark.parametrize("exercise, func, old, new, mistake, count", SLIPS,
                         ids=[f"{s[4]}-{i}" for i, s in enumerate(SLIPS)])
def test_known_mistake_is_named(exercise, func, old, new, mistake, count):
    v = _grade(exercise, _slip(exercise, func, old, new, count))
    assert v.status == core.FAIL and v.mistake == mistake, v
    assert mistake in v.message and EXERCISES[exercise].mistakes[mistake] in v.message
    assert "\non " in v.message, "the message names the input that showed the mistake"


def _col2im_window_by_window(col, x_shape, KH, KW, stride, padding):
    """A student's col2im that loops over the windows and assigns each one's patch."""
    N, C, H, W = x_shape
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    patches = col.reshape(C, KH, KW, N, OH, OW)
    out = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                top, left = oh * stride, ow * stride
                out[n, :, top:top + KH, left:left + KW] = patches[:, :, :, n, oh, ow]
    return out[:, :, padding:padding + H, padding:padding + W]


def test_overwrite_is_named_whatever_the_loop_order():
    v = _grade("conv2d_backward", dict(_solved("conv2d_backward"), col2im=_col2im_window_by_window))
    assert v.status == core.FAIL and v.mistake == "overwrite_not_add", v
    assert re.match(r"col2im\(col\) is off at \[\d+, \d+, \d+, \d+\] \(axes N, C, H, W\): "
                    r"expected \S+, got \S+", v.message), v.message


def test_every_mistake_is_tested():
    named = {(s[0], s[4]) for s in SLIPS}
    listed = {(name, key) for name, e in EXERCISES.items() for key in e.mistakes}
    assert named == listed


def test_stop_gradient_message_names_the_teacher_and_the_branch():
    v = _grade("joint_loss", _slip("joint_loss", "joint_loss", "z_ann.detach() / kappa",
                                   "z_ann / kappa"))
    assert re.match(r"∂L/∂z_ANN \(the teacher's logits\) of branch [1-4] is off at "
                    r"\[\d+, \d+\] \(axes N, K\)", v.message), v.message


# ---- (c) an unrelated wrong answer; (e) a crash ---------------------------------------------
UNRELATED = [("conv2d_backward", BACKWARD, "return gx, gw", "return gx, 1.5 * gw"),
             ("conv2d_backward", COL2IM, "cols[:, i, j]", "0.5 * cols[:, i, j]"),
             ("factorized", "factorized_backward", "return gU, gVh,", "return gU, -gVh,"),
             ("joint_loss", "joint_loss", "ce + lambda_kld * kld + lambda_norm * norm",
              "ce + kld + norm"),
             ("energy_count", "energy_count", "return e_ann, e_snn", "return e_ann, 2 * e_snn")]


@pytest.mark.parametrize("exercise, func, old, new", UNRELATED,
                         ids=[f"{u[0]}-{u[1]}" for u in UNRELATED])
def test_unrelated_wrong_answer_fails_without_a_name(exercise, func, old, new):
    v = _grade(exercise, _slip(exercise, func, old, new))
    assert v.status == core.FAIL and v.mistake is None, v
    assert "expected" in v.message and "Known mistake" not in v.message


CRASHES = [("conv2d_backward", BACKWARD, "col = im2col(x, KH, KW, stride, padding)",
            "col = im2col(x, KH, KW, stride, padding).reshape(7, -1, 5)", "x of shape"),
           ("factorized", "factorized_backward", "gW_ann @ Vh.T", "gW_ann @ Vh", "U of shape"),
           ("joint_loss", "joint_loss", "F.cross_entropy(z_ann, target)",
            "F.cross_entropy(z_ann, target.astype(float))", "logits of shape"),
           ("energy_count", "energy_count", "OH * OW\n", "OH * OW // 0\n", "C=")]


@pytest.mark.parametrize("exercise, func, old, new, names", CRASHES, ids=[c[0] for c in CRASHES])
def test_crash_is_an_error_naming_the_input(exercise, func, old, new, names):
    v = _grade(exercise, _slip(exercise, func, old, new))
    assert v.status == core.ERROR, v
    assert f"{func} raised" in v.message and names in v.message, v.message


def test_wrong_return_type_is_explained():
    v = _grade("conv2d_backward", dict(_solved("conv2d_backward"),
                                       conv2d_backward=lambda x, w, gy, s, p: None))
    assert v.status == core.FAIL and "(gx, gw)" in v.message, v
    v = _grade("joint_loss", dict(joint_loss=lambda *args: 1.0))
    assert v.status == core.FAIL and "one-element Tensor" in v.message, v


@pytest.mark.parametrize("planted, named", [(lambda n: n + 2, "k"), (lambda n: 2 * n, None)],
                         ids=["explains-both", "coincidence"])
def test_a_mistake_is_named_only_if_it_explains_the_companion_too(planted, named):
    """The student's output is n + 2 where it is wrong (n >= 2). A planted n + 2 explains it
    everywhere; a planted 2n only at n = 2, the smallest failing input, and not at 3."""
    def check(n):
        given = np.float64(n + 2 if n >= 2 else n)
        compare._compare("y", np.float64(n), given, f"n = {n}", {"k": "a hint"},
                         lambda: [("k", planted(n))])
    with pytest.raises(core.Wrong) as e:
        compare._grade(st.integers(1, 9), check, lambda n: n + 1)
    assert e.value.mistake == named and e.value.message.startswith("y is off: expected 2, got 4")
    assert ("Known mistake `k`: a hint" in e.value.message) == (named is not None)


# ---- the planted variants are the reference when nothing is planted -------------------------
@given(_conv_spec())
def test_conv_variants_without_a_slip_are_the_reference(spec):
    (x, w, gy, col), S, P = _conv_arrays(spec), spec["S"], spec["P"]
    (_, _, KH, KW) = w.shape
    np.testing.assert_allclose(_col2im_planted(col, x.shape, KH, KW, S, P),
                               F.col2im(col, x.shape, (KH, KW), S, P), rtol=1e-12)
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    F.conv2d(xt, wt, stride=S, padding=P).backward(gy)
    gx, gw = _conv_backward_planted(x, w, gy, S, P)
    np.testing.assert_allclose(gx, xt.grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, wt.grad, rtol=1e-10, atol=1e-12)


@given(_conv_spec())
def test_conv_reference_matches_finite_differences(spec):
    """The grader's reference, minijoint's conv2d backward, on the grader's own draws."""
    x, w, _, _ = _conv_arrays(spec)
    err = gradcheck(lambda x, w: F.conv2d(x, w, stride=spec["S"], padding=spec["P"]), x, w)
    assert err < 1e-5


@given(_factorized_spec())
def test_factorized_reference_matches_finite_differences(spec):
    c = _factorized_arrays(spec)
    err = gradcheck(lambda U, sa, ss, Vh: (rebuild_weight(U, sa, Vh) * Tensor(c["gW_ann"])).sum()
                    + (rebuild_weight(U, ss, Vh) * Tensor(c["gW_snn"])).sum(),
                    *(c[k] for k in _FACTORS))
    assert err < 1e-5


@given(_joint_spec())
def test_joint_variant_without_a_slip_is_the_library_loss(spec):
    c = _joint_arrays(spec)
    value, grads = _joint_loss_planted(c)
    t = _joint_tensors(c)
    ref, _ = JointLoss(c["lambda_kld"], c["lambda_norm"], c["temperature"])(
        *(t[k] for k in _JOINT_LISTS), c["target"])
    ref.backward()
    np.testing.assert_allclose(value, ref.data, rtol=1e-12)
    for key, g in _grads(t).items():
        np.testing.assert_allclose(grads[key], g, rtol=1e-10, atol=1e-12, err_msg=str(key))


# ---- the solved notebooks, executed ---------------------------------------------------------
@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_solved_notebook_executes_and_passes(name, tmp_path):
    import nbformat
    from minijoint.site.execute import run_notebook

    nb = nbformat.read(NOTEBOOKS / EXERCISES[name].notebook, as_version=4)
    run_notebook(nb, tmp_path, timeout=120, MPLBACKEND="Agg")
    shown = [o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
             and c.source.strip() == f'check("{name}")' for o in c.outputs]
    assert shown == [f"{name}: pass"], shown
