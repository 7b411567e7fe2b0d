"""The losses of docs/method.md §5 (Eqs. 7–9): values by hand, gradients, stability, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import minijoint
import minijoint.functional as F
from minijoint import Tensor
from minijoint.testing import gradcheck

batches = st.tuples(st.integers(1, 4), st.integers(2, 5))


def logits(shape, bound=4.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound))


@st.composite
def logits_and_labels(draw):
    n, k = draw(batches)
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return draw(logits((n, k))), labels


# ---- values by hand -----------------------------------------------------------------
def test_cross_entropy_by_hand():
    z = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    row0 = -(3.0 - math.log(math.e + math.e ** 2 + math.e ** 3))
    row1 = math.log(3.0)
    assert F.cross_entropy(Tensor(z), np.array([2, 0])).item() == pytest.approx((row0 + row1) / 2)


@pytest.mark.parametrize("kappa", [1.0, 2.0])
def test_kl_div_by_hand(kappa):
    # teacher logits (log 3, 0), student (0, 0): p = softmax(t/κ), q = (1/2, 1/2)
    s, t = np.zeros((1, 2)), np.array([[math.log(3.0), 0.0]])
    r = 3.0 ** (1 / kappa)
    p = (r / (1 + r), 1 / (1 + r))
    expected = kappa ** 2 * sum(pi * math.log(pi / 0.5) for pi in p)
    assert F.kl_div(Tensor(s), Tensor(t), kappa).item() == pytest.approx(expected)


@pytest.mark.parametrize("reduction, expected", [("sum", 14.0), ("mean", 3.5), ("batchmean", 7.0)])
def test_mse_loss_by_hand(reduction, expected):
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    assert F.mse_loss(Tensor(a), Tensor(b), reduction).item() == pytest.approx(expected)


# ---- properties and gradients ------------------------------------------------------------
@given(zy=logits_and_labels())
def test_cross_entropy_matches_log_softmax_and_gradchecks(zy):
    z, y = zy
    e = np.exp(z - z.max(axis=1, keepdims=True))
    ref = -np.mean(np.log(e / e.sum(axis=1, keepdims=True))[np.arange(len(y)), y])
    assert F.cross_entropy(Tensor(z), y).item() == pytest.approx(ref, rel=1e-12)
    gradcheck(lambda t: F.cross_entropy(t, y), z)


def test_cross_entropy_target_may_be_tensor_or_list():
    z = np.array([[0.3, -1.0], [2.0, 0.5]])
    a = F.cross_entropy(Tensor(z), Tensor(np.array([1, 0]))).item()
    assert a == pytest.approx(F.cross_entropy(Tensor(z), [1, 0]).item())


@pytest.mark.parametrize("kappa", [0.5, 1.0, 3.0, 10.0])
@given(data=st.data(), shape=batches)
def test_kl_div_gradchecks_both_inputs(kappa, data, shape):
    s, t = data.draw(logits(shape)), data.draw(logits(shape))
    gradcheck(lambda a, b: F.kl_div(a, b, kappa), s, t)


@given(data=st.data(), shape=batches)
def test_kl_div_is_non_negative_and_zero_for_equal_logits(data, shape):
    s, t = data.draw(logits(shape)), data.draw(logits(shape))
    assert F.kl_div(Tensor(s), Tensor(t)).item() >= -1e-12
    assert F.kl_div(Tensor(s), Tensor(s + 1.5), 2.0).item() == pytest.approx(0.0, abs=1e-12)


def test_kl_div_detached_teacher_gets_no_gradient():
    rng = np.random.default_rng(0)
    s = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    F.kl_div(s, t.detach(), 2.0).backward()
    assert t.grad is None
    g_detached = s.grad
    s.grad = None
    F.kl_div(s, t, 2.0).backward()
    np.testing.assert_allclose(s.grad, g_detached)  # the student's gradient is the same
    np.testing.assert_allclose(t.grad.sum(axis=1), 0.0, atol=1e-12)  # shift-invariant rows


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@given(data=st.data(), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
def test_mse_loss_gradchecks(reduction, data, shape):
    a, b = data.draw(logits(shape)), data.draw(logits(shape))
    gradcheck(lambda x, y: F.mse_loss(x, y, reduction), a, b)
    if reduction == "batchmean":  # Eq. 9: the batch mean of the squared norm
        ref = np.mean(np.sum((a - b).reshape(shape[0], -1) ** 2, axis=1))
        assert F.mse_loss(Tensor(a), Tensor(b), reduction).item() == pytest.approx(ref, rel=1e-12)


# ---- stability -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_finite_at_huge_logits(dtype):
    z = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype), requires_grad=True)
    t = Tensor(np.array([[-1e4, 1e4, 0.0], [1e4, 0.0, -1e4]], dtype), requires_grad=True)
    ce = F.cross_entropy(z, np.array([0, 0]))
    kl = F.kl_div(z, t, 1.0)
    for loss in (ce, kl):
        assert loss.dtype == dtype and np.isfinite(loss.item())
        loss.backward()
    assert ce.item() == pytest.approx((0.0 + (2e4 + math.log(2))) / 2, rel=1e-6)
    assert np.all(np.isfinite(z.grad)) and np.all(np.isfinite(t.grad))
    assert F.softmax(z).numpy()[0, 0] == 1.0 and np.isfinite(F.log_softmax(z).numpy()).all()


# ---- errors ----------------------------------------------------------------------------
Z = Tensor(np.zeros((3, 4)))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.cross_entropy(Z, np.array([0, 4, 1])), ValueError,
     r"label 4 at position 1 is out of range \[0, 4\)"),
    (lambda: F.cross_entropy(Z, np.array([0, 1, -1])), ValueError, "label -1 at position 2"),
    (lambda: F.cross_entropy(Z, np.array([0.0, 1.0, 2.0])), TypeError, "integer class labels"),
    (lambda: F.cross_entropy(Z, np.array([0, 1])), ValueError,
     r"target must have shape \(3,\) to match logits \(3, 4\), got \(2,\)"),
    (lambda: F.cross_entropy(Tensor(np.zeros(4)), np.array([0])), ValueError, "must be 2-D"),
    (lambda: F.kl_div(Z, Tensor(np.zeros((3, 5)))), ValueError, "same shape"),
    (lambda: F.kl_div(Z, Z, 0.0), ValueError, "temperature must be a positive number"),
    (lambda: F.kl_div(Z, Z, float("nan")), ValueError, "temperature must be a positive number"),
    (lambda: F.mse_loss(Z, Tensor(np.zeros((4, 3)))), ValueError, "same shape"),
    (lambda: F.mse_loss(Z, Z, "avg"), ValueError, "reduction must be one of"),
    (lambda: F.softmax(Z, axis=2), ValueError, "axis 2 is out of range"),
])
def test_loss_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf − inf
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_cross_entropy_nan_logits_raise_floating_point_error(bad):
    z = np.zeros((2, 3))
    z[1, 2] = bad
    with pytest.raises(FloatingPointError, match=r"loss is .*NaN/inf.*logits contain 1 NaN/inf"):
        F.cross_entropy(Tensor(z), np.array([0, 1]))


# ---- NumPy and CuPy agree ---------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_numpy_and_cupy_agree(dtype):
    rng = np.random.default_rng(5)
    s, t = (rng.standard_normal((6, 5)).astype(dtype) for _ in range(2))
    y = rng.integers(0, 5, 6)

    def run():
        a = Tensor(minijoint.to_device(s), requires_grad=True)
        b = Tensor(minijoint.to_device(t), requires_grad=True)
        loss = F.cross_entropy(a, y) + F.kl_div(a, b, 2.0) + F.mse_loss(a, b, "batchmean")
        loss.backward()
        return [loss.numpy(), minijoint.to_host(a.grad), minijoint.to_host(b.grad)]

    cpu = run()
    with minijoint.using_backend("cupy"):
        gpu = run()
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for c, g in zip(cpu, gpu):
        np.testing.assert_allclose(g, c, rtol=tol, atol=tol)
