"""Every basic op: forward equals NumPy, backward passes gradcheck (float64, random gy).

Inputs are built valid by construction: logs and divisions see magnitudes ≥ 0.5, ReLU
never sees values near its kink, and max sees distinct values (a scaled permutation).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import minijoint
import minijoint.functional as F
from minijoint import Tensor
from minijoint.nn.spiking import repeat_time
from minijoint.testing import gradcheck

# ---- strategies -----------------------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def values(shape, lo=-2.0, hi=2.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi))


@st.composite
def away_from_zero(draw, shape, lo=0.5, hi=2.0):
    """Magnitudes in [lo, hi] with random signs."""
    magnitude = draw(values(shape, lo, hi))
    sign = draw(hnp.arrays(np.bool_, shape))
    return np.where(sign, magnitude, -magnitude)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: b drops some leading axes of a and sets some to 1,
    or a does (so either side may be the one that is copied)."""
    full = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3).map(tuple))
    drop = draw(st.integers(0, len(full) - 1))
    ones = draw(st.lists(st.booleans(), min_size=len(full), max_size=len(full)))
    small = tuple(1 if one else n for one, n in zip(ones, full))[drop:]
    return (full, small) if draw(st.booleans()) else (small, full)


@st.composite
def distinct(draw, shape):
    """Distinct values (no ties for max): a permutation of 0..n-1, scaled and shifted."""
    n = int(np.prod(shape))
    perm = draw(st.permutations(range(n)))
    return (np.array(perm, dtype=np.float64).reshape(shape) - n / 2) * 0.3


@st.composite
def axis_for(draw, ndim):
    """None, one axis (maybe negative), or a tuple of distinct axes."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


# ---- elementwise ----------------------------------------------------------------------
BINARY = [(F.add, np.add), (F.sub, np.subtract), (F.mul, np.multiply)]


@pytest.mark.parametrize("op, ref", BINARY)
@given(data=st.data(), pair=broadcast_pair())
def test_binary_broadcasting(op, ref, data, pair):
    a, b = data.draw(values(pair[0])), data.draw(values(pair[1]))
    np.testing.assert_array_equal(op(Tensor(a), Tensor(b)).numpy(), ref(a, b))
    gradcheck(op, a, b)


@given(data=st.data(), pair=broadcast_pair())
def test_div_broadcasting(data, pair):
    a, b = data.draw(values(pair[0])), data.draw(away_from_zero(pair[1]))
    np.testing.assert_array_equal(F.div(Tensor(a), Tensor(b)).numpy(), a / b)
    gradcheck(F.div, a, b)


def test_broadcast_3_1_4_with_5_4():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 1, 4)), rng.uniform(0.5, 2.0, (5, 4))
    for op in (F.add, F.sub, F.mul, F.div):
        gradcheck(op, a, b)
        gradcheck(op, b, a)


@pytest.mark.parametrize("op, ref, domain", [
    (F.neg, np.negative, "any"),
    (F.exp, np.exp, "any"),
    (F.log, np.log, "positive"),
    (F.relu, lambda x: np.maximum(x, 0), "away_from_zero"),
    (lambda x: F.pow(x, 3), lambda x: x ** 3, "any"),
    (lambda x: F.pow(x, 2.5), lambda x: x ** 2.5, "positive"),
    (lambda x: F.pow(x, -1), lambda x: x ** -1.0, "away_from_zero"),
])
@given(data=st.data(), shape=shapes)
def test_unary(op, ref, domain, data, shape):
    x = data.draw({"any": values(shape), "positive": values(shape, 0.5, 3.0),
                   "away_from_zero": away_from_zero(shape, 0.1)}[domain])
    np.testing.assert_allclose(op(Tensor(x)).numpy(), ref(x), rtol=1e-14)
    gradcheck(op, x)


# ---- reductions -----------------------------------------------------------------------
@pytest.mark.parametrize("op, ref", [(F.sum, np.sum), (F.mean, np.mean), (F.max, np.max)])
@given(data=st.data(), shape=shapes, keepdims=st.booleans())
def test_reductions(op, ref, data, shape, keepdims):
    x = data.draw(distinct(shape))
    axis = data.draw(axis_for(len(shape)))
    y = op(Tensor(x), axis=axis, keepdims=keepdims)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14)
    gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), x)


def test_max_gradient_goes_to_the_argmax_and_ties_share_it():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [3.0, 3.0, 0.0]]), requires_grad=True)
    F.max(x, axis=1).backward(np.array([1.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [2, 2, 0]])


@pytest.mark.parametrize("op, axis, message", [
    (F.sum, 2, "axis 2 is out of range for a 2-D input"),
    (F.mean, (0, -2), "repeats an axis"),
    (F.max, 1.5, "axis must be an int"),
])
def test_reduction_axis_errors(op, axis, message):
    with pytest.raises((ValueError, TypeError), match=message):
        op(Tensor(np.ones((2, 3))), axis=axis)


# ---- shape ops ------------------------------------------------------------------------
@given(data=st.data(), shape=shapes)
def test_reshape_transpose_flatten(data, shape):
    x = data.draw(values(shape))
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    np.testing.assert_array_equal(F.transpose(Tensor(x), axes).numpy(), x.transpose(axes))
    np.testing.assert_array_equal(F.reshape(Tensor(x), (-1,)).numpy(), x.reshape(-1))
    start = data.draw(st.integers(0, len(shape) - 1))
    flat = F.flatten(Tensor(x), start)
    assert flat.shape == shape[:start] + (int(np.prod(shape[start:])),)
    gradcheck(lambda t: F.transpose(t, axes), x)
    gradcheck(lambda t: F.reshape(t, tuple(reversed(shape))), x)
    gradcheck(lambda t: F.flatten(t, start), x)


@given(data=st.data(), shape=st.lists(st.integers(2, 4), min_size=2, max_size=3).map(tuple))
def test_getitem(data, shape):
    x = data.draw(values(shape))
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6)))
    stop = data.draw(st.integers(1, shape[1]))
    for index in [(slice(1, None), slice(0, stop)), (0,), (rows,), (rows, slice(0, stop)),
                  (slice(None), -1), (Ellipsis, None, 1)]:
        np.testing.assert_array_equal(F.getitem(Tensor(x), index).numpy(), x[index])
        gradcheck(lambda t: F.getitem(t, index), x)


def test_getitem_repeated_indices_accumulate():
    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    F.getitem(x, np.array([0, 2, 0, 0])).backward(np.ones((4, 2)))
    np.testing.assert_array_equal(x.grad, [[3, 3], [0, 0], [1, 1]])


def test_getitem_with_integer_tensor_and_bool_mask():
    x = np.arange(6.0).reshape(3, 2)
    t = Tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t[Tensor(np.array([2, 1]))].numpy(), x[[2, 1]])
    mask = np.array([True, False, True])
    t[mask].backward(np.ones((2, 2)))
    np.testing.assert_array_equal(t.grad, [[1, 1], [0, 0], [1, 1]])


@given(data=st.data(), shape=shapes, sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_concatenate_and_stack(data, shape, sizes):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for n in sizes:
        s = list(shape)
        s[axis] = n
        parts.append(data.draw(values(tuple(s))))
    np.testing.assert_array_equal(F.concatenate([Tensor(p) for p in parts], axis).numpy(),
                                  np.concatenate(parts, axis))
    gradcheck(lambda *ts: F.concatenate(ts, axis=axis), *parts)
    same = [data.draw(values(shape)) for _ in sizes]
    new_axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(F.stack([Tensor(p) for p in same], new_axis).numpy(),
                                  np.stack(same, new_axis))
    gradcheck(lambda *ts: F.stack(ts, axis=new_axis), *same)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.reshape(x, (4, 2)), r"cannot reshape shape \(2, 3\) \(6 elements\) into \(4, 2\)"),
    (lambda x: F.reshape(x, (-1, -1)), "at most one -1"),
    (lambda x: F.transpose(x, (0, 0)), r"not a permutation of the 2 axes"),
    (lambda x: F.concatenate([x, Tensor(np.ones((3, 3)))], axis=1), "differ outside axis 1"),
    (lambda x: F.concatenate([x, Tensor(np.ones((2, 3), np.float32))]), "same dtype"),
    (lambda x: F.concatenate([]), "at least one"),
    (lambda x: F.stack([x, Tensor(np.ones((3, 2)))]), "same shape"),
    (lambda x: F.stack([x], axis=3), "axis 3 is out of range"),
    (lambda x: F.flatten(x, 2), "axis 2 is out of range"),
])
def test_shape_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(Tensor(np.ones((2, 3))))


# ---- linalg ---------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    m, k, p = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.lists(st.integers(2, 3), max_size=2).map(tuple))
    ones = draw(st.lists(st.booleans(), min_size=len(batch), max_size=len(batch)))
    other = tuple(1 if one else n for one, n in zip(ones, batch))[draw(st.integers(0, len(batch))):]
    a_batch, b_batch = (batch, other) if draw(st.booleans()) else (other, batch)
    return a_batch + (m, k), b_batch + (k, p)


@given(data=st.data(), shapes_=matmul_shapes())
def test_matmul(data, shapes_):
    a, b = data.draw(values(shapes_[0])), data.draw(values(shapes_[1]))
    np.testing.assert_allclose(F.matmul(Tensor(a), Tensor(b)).numpy(), a @ b, rtol=1e-14)
    gradcheck(F.matmul, a, b)


@given(data=st.data(), lead=st.lists(st.integers(1, 3), max_size=2).map(tuple),
       n_in=st.integers(1, 4), n_out=st.integers(1, 4), bias=st.booleans())
def test_linear(data, lead, n_in, n_out, bias):
    x, W = data.draw(values(lead + (n_in,))), data.draw(values((n_out, n_in)))
    b = data.draw(values((n_out,))) if bias else None
    expected = x @ W.T + (b if bias else 0.0)
    got = F.linear(Tensor(x), Tensor(W), None if b is None else Tensor(b))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)
    if bias:
        gradcheck(F.linear, x, W, b)
    else:
        gradcheck(F.linear, x, W)


@pytest.mark.parametrize("call, message", [
    (lambda: F.matmul(np.ones((2, 3)), np.ones((4, 5))),
     r"inner sizes differ: a \(2, 3\) has 3 columns, b \(4, 5\) has 4 rows"),
    (lambda: F.matmul(np.ones(3), np.ones((3, 2))), "at least 2-D"),
    (lambda: F.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 1))), "do not broadcast"),
    (lambda: F.matmul(np.ones((2, 3)), np.ones((3, 1), np.float32)), "share one dtype"),
    (lambda: F.linear(np.ones((2, 3)), np.ones((4, 5))), r"in_features = 5 .* got shape \(2, 3\)"),
    (lambda: F.linear(np.ones((2, 3)), np.ones(3)), "W must be 2-D"),
    (lambda: F.linear(np.ones((2, 3)), np.ones((4, 3)), np.ones(3)), r"b must have shape \(4,\)"),
])
def test_linalg_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ---- softmax --------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@given(data=st.data(), shape=shapes)
def test_softmax_family(op, data, shape):
    x = data.draw(values(shape, -5.0, 5.0))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    ref = np.log(ref) if op == "log_softmax" else ref
    fn = getattr(F, op)
    np.testing.assert_allclose(fn(Tensor(x), axis).numpy(), ref, rtol=1e-12, atol=1e-14)
    gradcheck(lambda t: fn(t, axis), x)


# ---- NumPy and CuPy agree ---------------------------------------------------------------
def _run(fn, arrays, gy_seed=7):
    """Forward value and input gradients (host arrays) under the active backend."""
    ts = [Tensor(minijoint.to_device(a), requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(minijoint.to_device(np.random.default_rng(gy_seed).standard_normal(y.shape)))
    return [y.numpy()] + [minijoint.to_host(t.grad) for t in ts]


GPU_CASES = {
    "arithmetic": (lambda a, b: ((a + b) * a - b / (b * b + 1.0) - (-a)) ** 2,  # broadcast b
                   [(3, 4), (4,)]),
    "exp_log_relu": (lambda x: F.exp(x * 0.5) + F.log(x * x + 1.0) + F.relu(x), [(3, 4, 5)]),
    "softmax": (lambda x: F.softmax(x * 3, axis=0), [(4, 7)]),
    "repeat_time": (lambda x: repeat_time(x, 3) * x, [(2, 4, 5)]),
    "sum": (lambda x: F.sum(x, axis=(0, 2)), [(3, 4, 5)]),
    "mean": (lambda x: F.mean(x, axis=1, keepdims=True), [(3, 4, 5)]),
    "max": (lambda x: F.max(x, axis=-1), [(3, 4, 5)]),
    "transpose": (lambda x: F.transpose(x, (2, 0, 1)).reshape(5, -1), [(3, 4, 5)]),
    "getitem": (lambda x: x[np.array([0, 2, 0]), 1:3], [(3, 4, 5)]),
    "concat_stack": (lambda a, b: F.stack([F.concatenate([a, b], 1), b * 2], 0), [(2, 3), (2, 3)]),
    "matmul": (F.matmul, [(2, 1, 3, 4), (5, 4, 6)]),
    "linear": (F.linear, [(6, 4), (3, 4), (3,)]),
    "log_softmax": (lambda x: F.log_softmax(x * 3), [(4, 7)]),
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(GPU_CASES))
def test_numpy_and_cupy_agree(name, dtype):
    fn, in_shapes = GPU_CASES[name]
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(dtype) for s in in_shapes]
    cpu = _run(fn, arrays)
    with minijoint.using_backend("cupy"):
        gpu = _run(fn, arrays)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for c, g in zip(cpu, gpu):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, c, rtol=tol, atol=tol)
