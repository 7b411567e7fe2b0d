"""Optimizers, the cosine schedule and gradient clipping against hand-computed numbers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minijoint
from minijoint.nn import Parameter
from minijoint.optim import SGD, Adam, CosineAnnealing, clip_grad_norm


def param(values, dtype=np.float64):
    return Parameter(np.array(values, dtype=dtype))


# ---- SGD -------------------------------------------------------------------------------
def test_sgd_plain_step():
    p = param([1.0, -2.0])
    p.grad = np.array([0.5, 1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.numpy(), [0.95, -2.1], rtol=0, atol=1e-15)


def test_sgd_weight_decay_is_added_to_the_gradient():
    p = param([1.0, -2.0])
    p.grad = np.array([0.5, 1.0])
    SGD([p], lr=0.1, weight_decay=0.1).step()  # g' = g + 0.1 p = [0.6, 0.8]
    np.testing.assert_allclose(p.numpy(), [0.94, -2.08], rtol=0, atol=1e-15)


@pytest.mark.parametrize("nesterov, total", [(False, 1 + 1.9 + 2.71), (True, 1.9 + 2.71 + 3.439)])
def test_sgd_momentum_three_steps_constant_gradient(nesterov, total):
    # v1 = g, v2 = 1.9 g, v3 = 2.71 g; nesterov steps along g + 0.9 v: 1.9 g, 2.71 g, 3.439 g
    p = param([1.0, -2.0])
    g = np.array([0.5, 1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=nesterov)
    for _ in range(3):
        p.grad = g.copy()
        opt.step()
    np.testing.assert_allclose(p.numpy(), np.array([1.0, -2.0]) - 0.1 * total * g, rtol=1e-14)


@settings(max_examples=20)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       lr=st.floats(0.0, 1.0), wd=st.floats(0.0, 0.1), seed=st.integers(0, 2**16))
def test_sgd_step_matches_formula(shape, lr, wd, seed):
    r = np.random.default_rng(seed)
    w0, g = r.standard_normal(shape), r.standard_normal(shape)
    p = param(w0)
    p.grad = g
    SGD([p], lr=lr, weight_decay=wd).step()
    np.testing.assert_allclose(p.numpy(), w0 - lr * (g + wd * w0), rtol=1e-12, atol=1e-15)


def test_sgd_skips_parameters_without_grad_and_keeps_the_gradient_array():
    a, b = param([1.0, 2.0]), param([3.0])
    g = np.array([1.0, 1.0])
    a.grad = g
    SGD([a, b], lr=0.5, momentum=0.5, weight_decay=0.1).step()
    assert b.numpy().tolist() == [3.0]
    assert g.tolist() == [1.0, 1.0]  # the update never writes into the gradient


# ---- Adam ------------------------------------------------------------------------------
def adam_by_hand(w, grad_fn, steps, lr, b1, b2, eps, wd):
    """Adam with coupled L2, written out one scalar at a time."""
    w = [float(x) for x in w]
    m, v = [0.0] * len(w), [0.0] * len(w)
    for t in range(1, steps + 1):
        g = grad_fn(np.array(w))
        for i in range(len(w)):
            gi = g[i] + wd * w[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return np.array(w)


def test_adam_three_steps_with_weight_decay():
    def grad_fn(w):
        return w ** 2 - np.array([1.0, 0.5, -3.0])
    w0 = np.array([0.3, -1.2, 2.0])
    p = param(w0)
    opt = Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)
    for _ in range(3):
        p.grad = grad_fn(p.numpy())
        opt.step()
    expected = adam_by_hand(w0, grad_fn, 3, 0.05, 0.8, 0.99, 1e-6, 0.01)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-13)
    assert opt.state[0]["step"] == 3


@settings(max_examples=20)
@given(mag=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=6), seed=st.integers(0, 2**16))
def test_adam_first_step_moves_each_weight_by_lr(mag, seed):
    # m̂ = g and v̂ = g² at t = 1, so the step is lr·g/(|g| + eps) ≈ lr·sign(g)
    sign = np.random.default_rng(seed).choice([-1.0, 1.0], size=len(mag))
    p = param(np.zeros(len(mag)))
    p.grad = sign * np.array(mag)
    Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.numpy(), -0.01 * sign, rtol=1e-5)


def test_adam_keeps_float32():
    p = param([1.0, 2.0], dtype=np.float32)
    opt = Adam([p], weight_decay=5e-4)
    for _ in range(2):
        p.grad = np.array([0.1, -0.2], dtype=np.float32)
        opt.step()
    assert p.dtype == np.float32
    assert opt.state[0]["m"].dtype == np.float32 and opt.state[0]["v"].dtype == np.float32


# ---- state_dict: a resumed run continues identically ----------------------------------
def grads_of(params):
    """A deterministic gradient that depends on the weights (so a wrong state shows)."""
    for p in params:
        p.grad = np.sin(3.0 * p.data) + 0.1 * p.data


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True),
    lambda ps: Adam(ps, lr=0.01, weight_decay=5e-4),
], ids=["sgd", "adam"])
def test_optimizer_state_dict_resume_is_bit_exact(make):
    r = np.random.default_rng(0)
    init = [r.standard_normal((3, 2)).astype(np.float32), r.standard_normal(4).astype(np.float32)]
    params = [param(a, np.float32) for a in init]
    opt = make(params)
    sched = CosineAnnealing(opt, T_max=8, eta_min=1e-4)
    for _ in range(3):
        grads_of(params)
        opt.step()
        sched.step()
    saved_w = [p.numpy() for p in params]
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    for _ in range(3):
        grads_of(params)
        opt.step()
        sched.step()
    final = [p.numpy() for p in params]

    params2 = [param(w, np.float32) for w in saved_w]
    opt2 = make(params2)
    sched2 = CosineAnnealing(opt2, T_max=1)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for _ in range(3):
        grads_of(params2)
        opt2.step()
        sched2.step()
    for a, b in zip(final, params2):
        assert np.array_equal(a, b.numpy())
    assert opt2.lr == opt.lr


def test_optimizer_state_dict_is_numpy_and_a_copy():
    p = param([1.0, 2.0])
    opt = Adam([p])
    p.grad = np.array([1.0, 1.0])
    opt.step()
    d = opt.state_dict()
    assert isinstance(d["state"][0]["m"], np.ndarray) and d["state"][0]["step"] == 1
    d["state"][0]["m"][...] = 99.0
    assert opt.state[0]["m"][0] != 99.0


def test_optimizer_load_state_dict_rejects_wrong_shapes():
    opt = SGD([param([1.0, 2.0])], lr=0.1, momentum=0.9)
    d = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False,
         "state": [{"momentum_buffer": np.zeros(3)}]}
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        opt.load_state_dict(d)
    with pytest.raises(ValueError, match="state for 2 parameters"):
        opt.load_state_dict({**d, "state": [{}, {}]})


def test_zero_grad_clears_gradients():
    p = param([1.0])
    p.grad = np.array([1.0])
    SGD([p], lr=0.1).zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("bad, match", [
    (lambda p: SGD(p, lr=-0.1), "lr must be"),
    (lambda p: SGD(p, lr=0.1, momentum=1.0), "momentum"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), "betas"),
    (lambda p: Adam(p, weight_decay=-1.0), "weight_decay"),
    (lambda p: SGD([], lr=0.1), "empty"),
])
def test_optimizer_arguments_are_validated(bad, match):
    with pytest.raises(ValueError, match=match):
        bad([param([1.0])])


def test_optimizer_rejects_non_parameters():
    with pytest.raises(TypeError, match="requires_grad=True"):
        SGD([np.zeros(2)], lr=0.1)


# ---- cosine annealing ------------------------------------------------------------------
def test_cosine_schedule_values():
    opt = SGD([param([1.0])], lr=0.1)
    sched = CosineAnnealing(opt, T_max=10, eta_min=0.01)
    assert sched.lr == pytest.approx(0.1) and opt.lr == pytest.approx(0.1)
    for _ in range(5):
        sched.step()
    assert opt.lr == pytest.approx((0.1 + 0.01) / 2)
    sched.step()  # t = 6: 0.01 + 0.09·(1 + cos(0.6π))/2
    assert opt.lr == pytest.approx(0.01 + 0.09 * (1 + math.cos(0.6 * math.pi)) / 2)
    for _ in range(4):
        sched.step()
    assert opt.lr == pytest.approx(0.01)
    sched.step()  # past T_max it stays at eta_min
    assert opt.lr == pytest.approx(0.01)


def test_cosine_validates_arguments():
    opt = SGD([param([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealing(opt, T_max=0)
    with pytest.raises(ValueError, match="eta_min"):
        CosineAnnealing(opt, T_max=3, eta_min=-1.0)


# ---- gradient clipping -----------------------------------------------------------------
def test_clip_grad_norm_scales_down_to_max_norm():
    a, b, c = param([0.0, 0.0]), param([0.0]), param([0.0])
    ga = np.array([3.0, 0.0])
    a.grad, b.grad = ga, np.array([4.0])
    total = clip_grad_norm([a, b, c], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])
    assert c.grad is None
    assert ga.tolist() == [3.0, 0.0]  # replaced, not written into


def test_clip_grad_norm_leaves_small_gradients_alone():
    a = param([0.0, 0.0])
    a.grad = np.array([0.3, 0.4], dtype=np.float64)
    assert clip_grad_norm([a], max_norm=10.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, [0.3, 0.4])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([a], max_norm=0.0)


@pytest.mark.gpu
def test_adam_cupy_matches_numpy():
    r = np.random.default_rng(3)
    w0, grads = r.standard_normal(5), r.standard_normal((3, 5))
    results = []
    for name in ("numpy", "cupy"):
        with minijoint.using_backend(name):
            p = param(w0, np.float32)
            opt = Adam([p], lr=0.01, weight_decay=5e-4)
            for g in grads:
                p.grad = minijoint.to_device(g, dtype=np.float32)
                opt.step()
            results.append(p.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-7)
