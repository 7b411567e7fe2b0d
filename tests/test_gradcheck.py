"""The gradient checker checks itself: it must catch planted backward bugs.

Each planted op has a correct forward and a backward with one classic mistake.
"""
import re

import numpy as np
import pytest

from minijoint import Function, Tensor
from minijoint.functional import unbroadcast
from minijoint.testing import GradcheckError, gradcheck, numerical_grad, rel_error


class ReshapeInsteadOfTranspose(Function):
    """y = xᵀ, but backward reshapes gy to x's shape instead of transposing it back."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.T.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.shape)  # right shape, elements in the wrong places


class OffByOnePercent(Function):
    """y = 3x, but backward says 3.03."""

    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, gy):
        return 3.03 * gy


class DropsBroadcastSum(Function):
    """y = a + b with b (K,) broadcast over a (N, K); backward takes one row of gy for b
    instead of summing over the broadcast axis."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shape = a.shape
        return a + b

    @staticmethod
    def backward(ctx, gy):
        return gy, gy[0].copy()


class CorrectAdd(DropsBroadcastSum):
    @staticmethod
    def backward(ctx, gy):
        return gy, unbroadcast(gy, (gy.shape[1],))


@pytest.fixture
def x23(rng):
    return rng.standard_normal((2, 3))  # not square: a transpose bug cannot hide


def parse(message):
    """The numbers a GradcheckError reports."""
    m = re.search(r"input (\d+) \(shape (.*?)\) at element (.*?): numeric (\S+), "
                  r"analytic (\S+), relative error (\S+)", message)
    assert m, message
    return int(m[1]), m[3], float(m[4]), float(m[5]), float(m[6])


def test_catches_transpose_backward_that_forgets_the_permutation(x23):
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(ReshapeInsteadOfTranspose.apply, x23)


def test_transpose_bug_hides_from_a_sum_which_is_why_gy_is_random(x23):
    # with gy = ones (the output summed) every permutation bug is invisible
    assert gradcheck(lambda x: ReshapeInsteadOfTranspose.apply(x).sum(), x23) < 1e-6


def test_catches_a_one_percent_error_and_reports_the_numbers(x23):
    with pytest.raises(GradcheckError) as info:
        gradcheck(OffByOnePercent.apply, x23)
    i, where, num, ana, err = parse(str(info.value))
    assert (i, where) == (0, "(0, 0)")
    assert ana / num == pytest.approx(1.01, rel=1e-6)
    assert err == pytest.approx(rel_error(ana, num), rel=1e-2)


def test_catches_a_dropped_broadcast_sum(rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    assert gradcheck(CorrectAdd.apply, a, b) < 1e-6
    with pytest.raises(GradcheckError) as info:
        gradcheck(DropsBroadcastSum.apply, a, b)
    assert parse(str(info.value))[0] == 1  # names the input that is wrong
    gradcheck(DropsBroadcastSum.apply, a, b, wrt=[0])  # input 0 alone is fine


def test_rejects_float32_inputs():
    with pytest.raises(ValueError, match="input 0 must be float64.*got float32"):
        gradcheck(lambda x: x * 2, np.ones(3, np.float32))


def test_numerical_grad_equals_a_known_derivative(rng):
    x = rng.uniform(-2, 2, (3, 2))
    before = x.copy()
    g = numerical_grad(lambda: float(np.sum(np.sin(x) * x)), x)
    np.testing.assert_allclose(g, np.cos(before) * before + np.sin(before), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, before)  # restored after perturbing


def test_numerical_grad_rejects_float32():
    with pytest.raises(ValueError, match="float64"):
        numerical_grad(lambda: 0.0, np.ones(2, np.float32))


@pytest.mark.parametrize("a, b, expected", [
    (1.0, 1.0, 0.0),
    (1.0, 3.0, 0.5),
    (-1.0, 1.0, 1.0),
    (0.0, 0.0, 0.0),
    (1e-20, 0.0, 1e-8),  # the denominator's floor 1e-12
    ([1.0, 2.0], [1.0, 2.2], 0.2 / 4.2),  # the worst element
])
def test_rel_error_values(a, b, expected):
    assert rel_error(np.array(a), np.array(b)) == pytest.approx(expected)


class CountCalls:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def test_large_input_uses_samples_plus_directions(rng):
    x = rng.standard_normal((40, 30))  # 1200 elements > max_elements
    fn = CountCalls(lambda t: t * t)
    assert gradcheck(fn, x, n_samples=16, n_directions=4) < 1e-6
    assert fn.calls == 1 + 2 * (16 + 4)  # one backward pass, two evaluations per probe


class WrongAtOneElement(Function):
    """y = 2x, but backward is wrong at the single element [-1, -1]."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, gy):
        gx = 2 * gy
        gx[-1, -1] += 0.5
        return gx


def test_large_input_directions_catch_a_bug_the_samples_miss(rng):
    x = rng.standard_normal((40, 30))
    with pytest.raises(GradcheckError, match="at element direction"):
        gradcheck(WrongAtOneElement.apply, x, n_samples=4)


def test_planted_bug_on_large_input_is_caught(rng):
    with pytest.raises(GradcheckError):
        gradcheck(OffByOnePercent.apply, rng.standard_normal((30, 30)))


def test_tensor_input_is_perturbed_in_place_and_restored(rng):
    w = Tensor(rng.standard_normal(5))
    before = w.data.copy()
    gradcheck(lambda t: t * t, w)
    np.testing.assert_array_equal(w.data, before)


def test_fn_must_return_a_tensor_that_depends_on_the_inputs():
    with pytest.raises(GradcheckError, match="depends on the checked inputs"):
        gradcheck(lambda t: Tensor(np.ones(2)), np.ones(2))
