"""The LIF op (Eqs. 1–4): smooth-mode gradcheck, spiking forward/backward against the
closed-form recursion, detach_reset, the BPTT trace, validation, dtype."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import minijoint.functional as F
from minijoint import Tensor
from minijoint.snn import (ATan, LIFTrace, Rectangle, Sigmoid, Triangle, lif, lif_backward,
                           lif_forward)
from minijoint.testing import gradcheck

from domains import away_from


def back_solve(u_pre, tau, v_th, sg, smooth):
    """Input current c that makes the LIF's u_pre equal ``u_pre`` at every step:
    cᵗ = u_preᵗ − τ·uᵗ⁻¹, with uᵗ = u_preᵗ·(1 − yᵗ) from the (independent) recursion."""
    c, u = np.empty_like(u_pre), np.zeros_like(u_pre[0])
    for t in range(u_pre.shape[0]):
        c[t] = u_pre[t] - tau * u
        y = sg.primitive(u_pre[t], v_th) if smooth else (u_pre[t] >= v_th).astype(u_pre.dtype)
        u = u_pre[t] * (1 - y)
    return c


def reference_grad(c, gy, tau, v_th, sg, detach_reset, smooth=False):
    """∂L/∂c by the closed-form recursion, one element at a time in plain Python."""
    T = c.shape[0]
    c2, gy2 = c.reshape(T, -1), gy.reshape(T, -1)
    gc = np.zeros_like(c2)
    for j in range(c2.shape[1]):
        u, ups, ys = 0.0, [], []
        for t in range(T):
            up = tau * u + c2[t, j]
            y = float(sg.primitive(np.array([up]), v_th)[0]) if smooth else float(up >= v_th)
            ups.append(up)
            ys.append(y)
            u = up * (1.0 - y)
        gu = 0.0
        for t in reversed(range(T)):
            s = float(sg.grad(np.array([ups[t]]), v_th)[0])
            du = (1.0 - ys[t]) - (0.0 if detach_reset else ups[t] * s)
            g_upre = gy2[t, j] * s + gu * du
            gc[t, j] = g_upre
            gu = tau * g_upre
    return gc.reshape(c.shape)


surrogates = st.one_of(st.floats(0.5, 2.0).map(Rectangle), st.floats(0.5, 3.0).map(Triangle),
                       st.floats(0.5, 6.0).map(Sigmoid), st.floats(0.5, 6.0).map(ATan))


@st.composite
def configs(draw, smooth):
    """(c, tau, v_th, surrogate), with every u_pre at least 0.02 from the surrogate's kinks
    (and, in spiking mode, from V_th), by drawing u_pre and back-solving c."""
    T = draw(st.integers(1, 6))
    shape = (T,) + tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    tau, v_th, sg = draw(st.floats(0.05, 0.95)), draw(st.floats(0.2, 1.5)), draw(surrogates)
    frac = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    avoid = tuple(sg.kinks(v_th)) + (() if smooth else (v_th,))
    u_pre = away_from(frac, avoid, v_th - 1.5, v_th + 1.5, margin=0.02)
    return back_solve(u_pre, tau, v_th, sg, smooth), tau, v_th, sg, u_pre


@settings(max_examples=40)
@given(configs(smooth=True))
def test_smooth_mode_matches_finite_differences(cfg):
    c, tau, v_th, sg, u_pre = cfg
    _, got_u_pre = lif_forward(c, tau, v_th, sg, smooth=True)
    np.testing.assert_allclose(got_u_pre, u_pre, atol=1e-12)  # the construction held
    gradcheck(lambda x: lif(x, tau, v_th, sg, smooth=True), c)  # raises on a mismatch


@given(configs(smooth=True))
def test_smooth_mode_backward_equals_reference(cfg):
    c, tau, v_th, sg, _ = cfg
    gy = np.random.default_rng(0).standard_normal(c.shape)
    x = Tensor(c, requires_grad=True)
    lif(x, tau, v_th, sg, smooth=True).backward(gy)
    np.testing.assert_allclose(x.grad, reference_grad(c, gy, tau, v_th, sg, False, smooth=True),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("detach_reset", [False, True])
@given(cfg=configs(smooth=False))
def test_spiking_forward_and_backward_equal_closed_form(detach_reset, cfg):
    c, tau, v_th, sg, u_pre = cfg
    gy = np.random.default_rng(1).standard_normal(c.shape)
    x = Tensor(c, requires_grad=True)
    y = lif(x, tau, v_th, sg, detach_reset=detach_reset)
    assert set(np.unique(y.data)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y.data, (u_pre >= v_th).astype(np.float64))
    y.backward(gy)
    want = reference_grad(c, gy, tau, v_th, sg, detach_reset)
    np.testing.assert_allclose(x.grad, want, rtol=1e-12, atol=1e-12)


def test_detach_reset_changes_the_gradient_when_a_spike_occurs():
    # step 1 fires (u_pre = 0.7, s = 1), step 2 sits inside the Rectangle's support
    c = back_solve(np.array([[0.7], [0.3]]), 0.25, 0.5, Rectangle(), smooth=False)
    grads = {}
    for detach in (False, True):
        x = Tensor(c, requires_grad=True)
        lif(x, detach_reset=detach).backward(np.ones((2, 1)))
        grads[detach] = x.grad[0, 0]
    # ḡc¹ = 1·s + τ·ḡu_pre²·∂u¹/∂u_pre¹, ∂u¹/∂u_pre¹ = (1 − 1) − 0.7·1 (or 0 when detached)
    assert grads[False] == pytest.approx(1.0 + 0.25 * 1.0 * (-0.7))
    assert grads[True] == pytest.approx(1.0)


@given(configs(smooth=False), st.booleans())
def test_trace_terms_reassemble_into_the_gradient(cfg, detach_reset):
    c, tau, v_th, sg, u_pre = cfg
    gy = np.random.default_rng(2).standard_normal(c.shape)
    gy0 = gy.copy()
    traces = []
    x = Tensor(c, requires_grad=True)
    y = lif(x, tau, v_th, sg, detach_reset=detach_reset, traces=traces)
    y.backward(gy)
    (tr,) = traces
    assert isinstance(tr, LIFTrace) and tr.gc is tr.g_upre
    np.testing.assert_array_equal(tr.gc, x.grad)               # what ran is what we inspect
    np.testing.assert_array_equal(tr.gy, gy0)                  # and gy was not written to
    np.testing.assert_allclose(tr.s, sg.grad(u_pre, v_th), atol=1e-12)
    reset = 0.0 if detach_reset else u_pre * tr.s
    np.testing.assert_allclose(tr.du_dupre, (1 - y.data) - reset, atol=1e-12)
    gu = np.concatenate([tau * tr.g_upre[1:], np.zeros_like(c[:1])])
    np.testing.assert_allclose(tr.gu, gu, atol=1e-12)
    np.testing.assert_allclose(tr.g_upre, tr.gy * tr.s + gu * tr.du_dupre, atol=1e-12)
    # the pure-array function gives the same trace
    y2, u_pre2 = lif_forward(c, tau, v_th, sg)
    tr2 = lif_backward(gy, u_pre2, y2, tau, v_th, sg, detach_reset)
    np.testing.assert_array_equal(tr2.gc, tr.gc)


@pytest.mark.parametrize("sg", [Rectangle(), Triangle(), Sigmoid(), ATan()])
@pytest.mark.parametrize("smooth", [False, True])
def test_float32_stays_float32(sg, smooth):
    c = np.random.default_rng(3).standard_normal((3, 2, 4)).astype(np.float32)
    x = Tensor(c, requires_grad=True)
    traces = []
    y = lif(x, surrogate=sg, smooth=smooth, traces=traces)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    tr = traces[0]
    assert all(a.dtype == np.float32 for a in (tr.s, tr.du_dupre, tr.g_upre, tr.gu))


def test_a_repeated_input_gives_time_major_buffers():
    # The stem's c is one (N, ...) array repeated over T by a stride-0 view. The outputs must
    # still be C-ordered (T, N, ...): each step a contiguous block, folding T into N a view.
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 4))
    c = np.broadcast_to(x, (5,) + x.shape)
    y, u_pre = lif_forward(c, 0.25, 0.5, Rectangle())
    assert y.flags.c_contiguous and u_pre.flags.c_contiguous
    want_y, want_u = lif_forward(np.ascontiguousarray(c), 0.25, 0.5, Rectangle())
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(u_pre, want_u)


def test_defaults_and_names():
    c = np.random.default_rng(4).standard_normal((4, 5))
    want, _ = lif_forward(c, 0.25, 0.5, Rectangle())
    np.testing.assert_array_equal(lif(c).data, want)
    np.testing.assert_array_equal(lif(c, surrogate="sigmoid", smooth=True).data,
                                  lif_forward(c, 0.25, 0.5, Sigmoid(), smooth=True)[0])
    assert not hasattr(F, "lif")  # the engine knows no spikes: lif lives in minijoint.snn
    assert lif(c).requires_grad is False  # a constant input records no graph


def test_a_constant_input_fires_periodically():
    # c = 0.3, τ = 0.25, V_th = 0.5: u_pre = 0.3, 0.375, 0.39375, ... never reaches 0.5;
    # c = 0.45: u_pre = 0.45, 0.5625 (fire, reset) -> 0.45, 0.5625, ...
    c = np.array([[0.3, 0.45]] * 4)
    np.testing.assert_array_equal(lif(c).data, [[0, 0], [0, 1], [0, 0], [0, 1]])


@pytest.mark.parametrize("kw, match", [
    (dict(tau=0.0), "tau=0.0"), (dict(tau=1.0), "tau=1.0"), (dict(tau=-0.5), "tau=-0.5"),
    (dict(tau=float("nan")), "tau=nan"), (dict(v_th=0.0), "v_th=0.0"),
    (dict(v_th=-1.0), "v_th=-1.0"),
])
def test_bad_settings_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        lif(np.zeros((2, 3)), **kw)
    with pytest.raises(ValueError, match=match):
        lif_forward(np.zeros((2, 3)), kw.get("tau", 0.25), kw.get("v_th", 0.5), None)


def test_settings_are_checked_once_at_the_entry(monkeypatch):
    """τ, V_th and the surrogate are checked where the user passes them, not again in the
    op's forward or backward (the op runs the unchecked cores)."""
    lif_module = importlib.import_module("minijoint.snn.lif")  # (the attribute is the function)
    calls = []
    check = lif_module.check_settings
    monkeypatch.setattr(lif_module, "check_settings",
                        lambda where, *a: calls.append(where) or check(where, *a))
    lif(Tensor(np.ones((3, 2)), requires_grad=True), smooth=True).backward(np.ones((3, 2)))
    assert calls == ["lif"]
    y, u_pre = lif_forward(np.ones((3, 2)), 0.25, 0.5, None)
    lif_backward(np.ones((3, 2)), u_pre, y, 0.25, 0.5, None)
    assert calls == ["lif", "lif_forward", "lif_backward"]


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"time axis.*shape \(3,\)"):
        lif(np.zeros(3))
    with pytest.raises(ValueError, match="floating.*int64"):
        lif(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="T=0"):
        lif(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="surrogate"):
        lif(np.zeros((2, 3)), surrogate=3.0)
    with pytest.raises(ValueError, match="unknown surrogate"):
        lif(np.zeros((2, 3)), surrogate="relu")
    with pytest.raises(ValueError, match=r"share the shape.*\(2, 3\), \(2, 4\)"):
        lif_backward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)), 0.25, 0.5, None)
