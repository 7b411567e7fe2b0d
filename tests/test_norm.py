"""batch_norm: gradients in training and eval mode, running statistics, errors.

Inputs are a scaled random permutation of arange, so within every channel values are at
least 0.5 apart: σ is never tiny, and central differences stay accurate even for M = 2.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minijoint
import minijoint.functional as F
from minijoint import Tensor
from minijoint.testing import gradcheck


@st.composite
def bn_cases(draw, C=None):
    """x (N, C) with N ≥ 2, or (N, C, H, W) with W ≥ 2: at least two values per channel."""
    C = draw(st.integers(1, 3)) if C is None else C
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 5)), C)
    else:
        shape = (draw(st.integers(1, 3)), C, draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.permutation(int(np.prod(shape))).reshape(shape) - np.prod(shape) / 2) * 0.5
    return dict(x=x, gamma=rng.uniform(0.5, 2.0, C) * rng.choice([-1, 1], C),
                beta=rng.standard_normal(C), running_mean=rng.standard_normal(C),
                running_var=rng.uniform(0.5, 2.0, C))


def _axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _bshape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


@given(bn_cases(), st.booleans())
def test_gradcheck_x_gamma_beta(case, training):
    rm, rv = case["running_mean"], case["running_var"]
    gradcheck(lambda x, g, b: F.batch_norm(x, g, b, rm.copy(), rv.copy(), training=training),
              case["x"], case["gamma"], case["beta"])


@given(bn_cases(), st.booleans())
def test_gradcheck_without_affine(case, training):
    rm, rv = case["running_mean"], case["running_var"]
    gradcheck(lambda x: F.batch_norm(x, None, None, rm, rv, training=training), case["x"])


@given(bn_cases())
def test_training_uses_batch_statistics(case):
    """y = γ·(x − μ_batch)/√(v_batch + ε) + β, whatever the running estimates hold."""
    x, g, b = case["x"], case["gamma"], case["beta"]
    y = F.batch_norm(Tensor(x), Tensor(g), Tensor(b), case["running_mean"], case["running_var"],
                     training=True).numpy()
    ax, bs = _axes(x), _bshape(x)
    expected = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, expected * g.reshape(bs) + b.reshape(bs), rtol=1e-10, atol=1e-10)


@given(bn_cases())
def test_eval_uses_running_statistics_and_leaves_them(case):
    x, g, b, rm, rv = (case[k] for k in ("x", "gamma", "beta", "running_mean", "running_var"))
    rm0, rv0 = rm.copy(), rv.copy()
    y = F.batch_norm(Tensor(x), Tensor(g), Tensor(b), rm, rv, training=False).numpy()
    bs = _bshape(x)
    expected = (x - rm.reshape(bs)) / np.sqrt(rv.reshape(bs) + 1e-5) * g.reshape(bs) + b.reshape(bs)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)


@given(st.data(), st.floats(0.0, 1.0))
def test_running_statistics_after_two_steps(data, momentum):
    """running ← (1 − m)·running + m·batch, with the unbiased batch variance (PyTorch);
    the two batches may differ in N, H, W (and one may be 2-D, the other 4-D)."""
    x1 = data.draw(bn_cases())["x"]
    C = x1.shape[1]
    x2 = data.draw(bn_cases(C=C))["x"]
    rm, rv = np.zeros(C), np.ones(C)
    for x in (x1, x2):
        F.batch_norm(Tensor(x), None, None, rm, rv, training=True, momentum=momentum)
    m = momentum
    exp_rm, exp_rv = np.zeros(C), np.ones(C)
    for x in (x1, x2):
        exp_rm = (1 - m) * exp_rm + m * x.mean(axis=_axes(x))
        exp_rv = (1 - m) * exp_rv + m * x.var(axis=_axes(x), ddof=1)
    np.testing.assert_allclose(rm, exp_rm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rv, exp_rv, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32), requires_grad=True)
    g = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.zeros(3, np.float32), requires_grad=True)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    for training in (True, False):
        y = F.batch_norm(x, g, b, rm, rv, training=training)
        y.backward(np.ones(y.shape, np.float32))
        assert y.dtype == x.grad.dtype == g.grad.dtype == b.grad.dtype == np.float32
        assert rm.dtype == rv.dtype == np.float32


def _bn_args(x=(4, 3, 2, 2), gamma=(3,), beta=(3,), rm=(3,), rv=(3,)):
    t = lambda s: None if s is None else Tensor(np.ones(s))  # noqa: E731
    running = None if rm is None else np.zeros(rm), None if rv is None else np.ones(rv)
    return (t(x), t(gamma), t(beta)) + running


@pytest.mark.parametrize("kwargs, settings, match", [
    (dict(x=(4, 3, 2)), {}, r"x must be 2-D \(N, C\) or 4-D \(N, C, H, W\), got shape \(4, 3, 2\)"),
    (dict(gamma=(4,)), {},
     r"gamma must have shape \(C,\) = \(3,\) for x with C = 3 channels.*got \(4,\)"),
    (dict(beta=(1, 3)), {}, r"beta must have shape \(C,\) = \(3,\)"),
    (dict(rm=(2,)), {}, r"running_mean must have shape \(C,\) = \(3,\)"),
    (dict(x=(5, 4), rv=(3,)), {}, r"gamma must have shape \(C,\) = \(4,\)"),
    (dict(rm=None), dict(training=False), r"eval mode \(training=False\) needs running_mean"),
    (dict(x=(1, 3, 1, 1)), {}, r"more than one value per channel"),
    (dict(), dict(momentum=1.5), r"momentum must be in \[0, 1\]"),
])
def test_errors(kwargs, settings, match):
    with pytest.raises(ValueError, match=match):
        F.batch_norm(*_bn_args(**kwargs), **settings)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 5)])
def test_numpy_and_cupy_agree(rng, shape):
    C = shape[1]
    host = [a.astype(np.float32) for a in (rng.standard_normal(shape), rng.uniform(0.5, 2, C),
                                           rng.standard_normal(C))]
    gy = rng.standard_normal(shape).astype(np.float32)
    for training in (True, False):
        results = []
        for name in ("numpy", "cupy"):
            with minijoint.using_backend(name):
                x, g, b = (Tensor(minijoint.to_device(a), requires_grad=True) for a in host)
                rm = minijoint.to_device(np.full(shape[1], 0.5, np.float32))
                rv = minijoint.to_device(np.full(shape[1], 2.0, np.float32))
                y = F.batch_norm(x, g, b, rm, rv, training=training)
                y.backward(minijoint.to_device(gy))
                arrays = (y.data, x.grad, g.grad, b.grad, rm, rv)
                results.append([minijoint.to_host(a) for a in arrays])
        for a_np, a_cp in zip(*results):
            np.testing.assert_allclose(a_cp, a_np, rtol=1e-4, atol=1e-5)
