"""avg_pool2d, max_pool2d, global_avg_pool2d: gradients, naive references, ties, errors.

Geometries are built valid: kernel, then padding (at most half the kernel for max
pooling), then an input at least as large as the kernel minus the padding. Max pooling
is checked on a scaled random permutation of arange, so the values of a window are
0.1 apart and finite differences (ε = 1e-6) never swap its argmax.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minijoint
import minijoint.functional as F
from minijoint import Tensor
from minijoint.testing import gradcheck


@st.composite
def pool_cases(draw, max_padding_half_kernel=False):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if max_padding_half_kernel:
        PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    else:
        PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, KH - 2 * PH), 7))
    W = draw(st.integers(max(1, KW - 2 * PW), 7))
    # None (= the window, the reshape fast path when there is no padding) or explicit
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).permutation(N * C * H * W).reshape(N, C, H, W) * 0.1
    return dict(x=x, kernel_size=(KH, KW), stride=stride, padding=(PH, PW))


def naive_pool2d(x, kernel_size, stride, padding, reduce, fill):
    N, C, H, W = x.shape
    (KH, KW), (PH, PW) = kernel_size, padding
    SH, SW = kernel_size if stride is None else stride
    x_pad = np.full((N, C, H + 2 * PH, W + 2 * PW), fill)
    x_pad[:, :, PH:PH + H, PW:PW + W] = x
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    y = np.zeros((N, C, OH, OW))
    for n, c, oh, ow in itertools.product(range(N), range(C), range(OH), range(OW)):
        y[n, c, oh, ow] = reduce(x_pad[n, c, SH * oh:SH * oh + KH, SW * ow:SW * ow + KW])
    return y


@given(pool_cases())
def test_avg_pool2d_equals_naive_loops(case):
    """Zero padding counts in the average: the divisor is always KH·KW."""
    y = F.avg_pool2d(Tensor(case["x"]), case["kernel_size"], case["stride"], case["padding"])
    np.testing.assert_allclose(y.numpy(), naive_pool2d(reduce=np.mean, fill=0.0, **case),
                               rtol=1e-12, atol=1e-12)


@given(pool_cases(max_padding_half_kernel=True))
def test_max_pool2d_equals_naive_loops(case):
    y = F.max_pool2d(Tensor(case["x"]), case["kernel_size"], case["stride"], case["padding"])
    np.testing.assert_array_equal(y.numpy(), naive_pool2d(reduce=np.max, fill=-np.inf, **case))


@given(pool_cases())
def test_avg_pool2d_gradcheck(case):
    k, s, p = case["kernel_size"], case["stride"], case["padding"]
    gradcheck(lambda x: F.avg_pool2d(x, k, s, p), case["x"])


@given(pool_cases(max_padding_half_kernel=True))
def test_max_pool2d_gradcheck(case):
    k, s, p = case["kernel_size"], case["stride"], case["padding"]
    gradcheck(lambda x: F.max_pool2d(x, k, s, p), case["x"])


@pytest.mark.parametrize("kernel, stride, expected", [
    (2, None, [[1, 0], [0, 0]]),                   # reshape path
    (2, 1, [[1, 1, 0], [1, 1, 0], [0, 0, 0]]),     # general path: each window's top-left
])
def test_max_pool2d_ties_go_to_first_element(kernel, stride, expected):
    H = 2 if stride is None else 3
    x = Tensor(np.full((1, 1, H, H), 5.0), requires_grad=True)
    y = F.max_pool2d(x, kernel, stride)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_max_pool2d_overlapping_argmax_receives_the_sum():
    x = Tensor(np.array([[0.0, 1.0, 0.0], [0.0, 9.0, 0.0], [0.0, 2.0, 0.0]]).reshape(1, 1, 3, 3),
               requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)  # the 9 is the max of all four windows
    y.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((3, 3))
    expected[1, 1] = 10.0
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_global_avg_pool2d(rng):
    x = rng.standard_normal((3, 4, 5, 2))
    y = F.global_avg_pool2d(Tensor(x))
    assert y.shape == (3, 4)
    np.testing.assert_allclose(y.numpy(), x.mean(axis=(2, 3)), rtol=1e-12)
    gradcheck(F.global_avg_pool2d, x)


@pytest.mark.parametrize("fn", [F.avg_pool2d, F.max_pool2d])
def test_float32_stays_float32(rng, fn):
    for kernel, stride, padding in [(2, None, 0), (3, 2, 1)]:
        x = Tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32), requires_grad=True)
        y = fn(x, kernel, stride, padding)
        y.backward(np.ones(y.shape, np.float32))
        assert (y.dtype, x.grad.dtype) == (np.float32, np.float32)


@pytest.mark.parametrize("fn, args, match", [
    (F.avg_pool2d, ((2, 3, 4), 2),
     r"avg_pool2d: x must be 4-D \(N, C, H, W\), got shape \(2, 3, 4\)"),
    (F.max_pool2d, ((1, 1, 2, 4), 3),
     r"max_pool2d: kernel \(3, 3\) is larger than the padded input \(2, 4\)"),
    (F.avg_pool2d, ((1, 1, 4, 4), 2, 0), r"stride must be positive"),
    (F.avg_pool2d, ((1, 1, 4, 4), 2, 1, -1), r"padding must be non-negative"),
    (F.max_pool2d, ((1, 1, 4, 4), 2, 1, 2), r"padding \(2, 2\) must be at most half the window"),
    (F.global_avg_pool2d, ((2, 3),), r"global_avg_pool2d: x must be 4-D"),
])
def test_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(Tensor(np.zeros(args[0])), *args[1:])


@pytest.mark.gpu
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 1)])
def test_numpy_and_cupy_agree(rng, kernel, stride, padding):
    x_host = (rng.permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) * 0.1).astype(np.float32)
    for fn in (F.avg_pool2d, F.max_pool2d, lambda x, *a: F.global_avg_pool2d(x)):
        results = []
        for name in ("numpy", "cupy"):
            with minijoint.using_backend(name):
                x = Tensor(minijoint.to_device(x_host), requires_grad=True)
                y = fn(x, kernel, stride, padding)
                gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
                y.backward(minijoint.to_device(gy))
                results.append([minijoint.to_host(a) for a in (y.data, x.grad)])
        for a_np, a_cp in zip(*results):
            np.testing.assert_allclose(a_cp, a_np, rtol=1e-5, atol=1e-6)
