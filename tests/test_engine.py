"""The autodiff engine: accumulation, ordering, its own checks, graph control, dtypes.

Each test states one property of ``Tensor.backward`` and checks it against a gradient
worked out by hand.
"""
import numpy as np
import pytest

import minijoint
import minijoint.functional as F
from minijoint import Function, Tensor, no_grad


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- a tensor used more than once -------------------------------------------------------
def test_x_times_x_accumulates_both_uses():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).backward(np.ones(3))
    np.testing.assert_allclose(x.grad, [2.0, -4.0, 6.0])


def test_x_plus_x_accumulates_both_uses():
    x = leaf([1.0, -2.0])
    (x + x).backward(np.array([0.5, 3.0]))
    np.testing.assert_allclose(x.grad, [1.0, 6.0])


def test_diamond_graph_sums_both_branches():
    # d = (2a) · exp(a)  ⇒  ∂d/∂a = 2 exp(a) + 2a exp(a)
    a = leaf([0.3, -1.2])
    d = (a * 2) * a.exp()
    d.backward(np.ones(2))
    av = np.array([0.3, -1.2])
    np.testing.assert_allclose(a.grad, 2 * np.exp(av) * (1 + av))


def test_same_tensor_at_different_depths():
    # y = x · (x · (x · x)) = x⁴  ⇒  4x³
    x = leaf([1.5, -0.5])
    (x * (x * (x * x))).backward(np.ones(2))
    np.testing.assert_allclose(x.grad, 4 * np.array([1.5, -0.5]) ** 3)


# ---- reverse topological order --------------------------------------------------------
class Tag(Function):
    """Identity that records, when its backward runs, its name and the gradient it got."""

    @staticmethod
    def forward(ctx, x, name, log):
        ctx.name, ctx.log = name, log
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        ctx.log.append((ctx.name, gy.copy()))
        return gy


def test_diamond_runs_each_backward_once_after_all_its_consumers():
    log = []
    x = leaf([1.0, 2.0])
    a = Tag.apply(x, name="a", log=log)
    b = Tag.apply(a * 3.0, name="b", log=log)
    c = Tag.apply(a * 5.0, name="c", log=log)
    d = Tag.apply(b + c, name="d", log=log)
    d.backward(np.array([1.0, -1.0]))
    names = [n for n, _ in log]
    assert sorted(names) == ["a", "b", "c", "d"]  # once each
    assert names[0] == "d" and names[-1] == "a"  # a only after b and c both reached it
    np.testing.assert_allclose(dict(log)["a"], [8.0, -8.0])  # 3 + 5, summed before a ran
    np.testing.assert_allclose(x.grad, [8.0, -8.0])


# ---- the engine checks every backward ------------------------------------------------
class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(-1)[:1]


class WrongDtype(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, gy):
        return (2 * gy).astype(np.float32)


class WrongCount(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, gy):
        return 2 * gy, 2 * gy


@pytest.mark.parametrize("op, message", [
    (WrongShape, r"WrongShape\.backward: gradient of input 0 has shape \(1,\), expected \(2, 3\)"),
    (WrongDtype, r"WrongDtype\.backward: gradient of input 0 has dtype float32, expected float64"),
    (WrongCount, r"WrongCount\.backward returned 2 gradients for 1 inputs"),
])
def test_broken_backward_is_named(op, message):
    x = leaf(np.ones((2, 3)))
    y = op.apply(x)
    with pytest.raises(RuntimeError, match=message):
        y.backward(np.ones((2, 3)))


# ---- graph control -----------------------------------------------------------------
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = (x * 3).exp().sum()
    assert not y.requires_grad and y.creator is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    assert minijoint.is_grad_enabled()  # restored after the block


def test_backward_twice_needs_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * np.array([1.0, 2.0]))


def test_detach_cuts_the_graph():
    x = leaf([1.0, -3.0])
    xd = x.detach()
    assert not xd.requires_grad and xd.creator is None
    (xd * x).backward(np.ones(2))  # only the second factor is differentiated
    np.testing.assert_allclose(x.grad, [1.0, -3.0])


def test_constant_input_gets_no_grad():
    x, c = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h, k = x * 3, x * 3
    h.retain_grad()
    (h * h + k * k).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * 3 * np.array([1.0, 2.0]))  # ∂(h²)/∂h = 2h
    assert k.grad is None  # non-leaf without retain_grad
    np.testing.assert_allclose(x.grad, 2 * 2 * 9 * np.array([1.0, 2.0]))


def test_backward_without_gy_needs_a_scalar():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="needs a scalar"):
        (x * 2).backward()


# ---- elementwise ops: scalars on either side, arrays, broadcasting ---------------------
@pytest.mark.parametrize("expr, value, grad", [
    (lambda x: x + 2, [3.0, 6.0], [1.0, 1.0]),
    (lambda x: 2 + x, [3.0, 6.0], [1.0, 1.0]),
    (lambda x: x - 2, [-1.0, 2.0], [1.0, 1.0]),
    (lambda x: 2 - x, [1.0, -2.0], [-1.0, -1.0]),
    (lambda x: x * 3, [3.0, 12.0], [3.0, 3.0]),
    (lambda x: 3 * x, [3.0, 12.0], [3.0, 3.0]),
    (lambda x: x / 2, [0.5, 2.0], [0.5, 0.5]),
    (lambda x: 2 / x, [2.0, 0.5], [-2.0, -0.125]),
    (lambda x: -x, [-1.0, -4.0], [-1.0, -1.0]),
    (lambda x: x ** 3, [1.0, 64.0], [3.0, 48.0]),
    (lambda x: x ** 0.5, [1.0, 2.0], [0.5, 0.25]),
    (lambda x: F.log(x), [0.0, np.log(4.0)], [1.0, 0.25]),
    (lambda x: F.relu(x - 2), [0.0, 2.0], [0.0, 1.0]),
    (lambda x: np.array([1.0, 2.0], x.dtype) * x, [1.0, 8.0], [1.0, 2.0]),  # ndarray on the left
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_values_grads_and_dtype(expr, value, grad, dtype):
    x = leaf([1.0, 4.0], dtype)
    y = expr(x)
    assert isinstance(y, Tensor) and y.dtype == dtype
    y.backward(np.ones(2, dtype))
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(y.numpy(), value, rtol=1e-6)
    np.testing.assert_allclose(x.grad, grad, rtol=1e-6)


def test_broadcasting_sums_gradients_over_copied_axes():
    a, b = leaf(np.ones((3, 1, 4))), leaf(np.ones((5, 4)))
    y = a * 2 + b
    assert y.shape == (3, 5, 4)
    y.backward(np.ones((3, 5, 4)))
    np.testing.assert_allclose(a.grad, np.full((3, 1, 4), 2 * 5.0))  # copied along axis 1
    np.testing.assert_allclose(b.grad, np.full((5, 4), 3.0))  # copied along the new axis 0


def test_pow_numpy_scalar_exponent_keeps_float32():
    x = leaf([1.0, 2.0], np.float32)
    assert (x ** np.float64(2.0)).dtype == np.float32


def test_pow_rejects_tensor_exponent():
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="constant number"):
        x ** x


def test_float32_stays_float32_through_a_chain_of_ops():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    W = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(5, np.float32), requires_grad=True)
    steps = [F.linear(x, W, b)]
    steps.append(F.relu(steps[-1]) * 0.5 + 1.0)
    steps.append((2.0 - steps[-1]) / 3.0 - steps[-1] ** 2)
    steps.append(F.log(steps[-1].exp() + 1.0))
    steps.append(F.concatenate([steps[-1], -steps[-1]], axis=1).reshape(4, 2, 5).transpose(0, 2, 1))
    steps.append(F.stack([steps[-1].max(axis=2), steps[-1].mean(axis=2)], axis=0).sum(axis=0))
    steps.append(steps[-1] @ W[:, :2] - F.softmax(steps[-1])[1:3].sum())
    steps.append(F.cross_entropy(steps[-1], np.array([0, 1, 1, 0])) + F.mse_loss(x, x * 2))
    assert [s.dtype for s in steps] == [np.float32] * len(steps)
    steps[-1].backward()
    assert (x.grad.dtype, W.grad.dtype, b.grad.dtype) == (np.float32,) * 3


def test_zero_d_float64_result_stays_float64():
    # NumPy ufuncs on 0-d arrays return NumPy scalars; a Tensor must keep their dtype
    x = leaf([1.0, 2.0])
    loss = (x * x).sum() + (x * 3).sum()  # two float64 0-d losses added
    assert loss.dtype == np.float64
    loss.backward()  # once failed: "AddOp.backward: gradient of input 0 has dtype float32"
    np.testing.assert_allclose(x.grad, 2 * np.array([1.0, 2.0]) + 3)
