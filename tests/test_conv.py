"""conv2d, im2col and col2im: gradients, a naive reference, the adjoint property, errors.

hypothesis draws the geometry (N, C, OC, H, W, kernel, stride, padding) and a seed for the
values. Valid geometries are built directly: padding first, then a kernel no larger
than the padded input, so the output is always at least 1×1.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minijoint
import minijoint.functional as F
from minijoint import Tensor
from minijoint.functional import conv as conv_module
from minijoint.functional import windows as windows_module
from minijoint.testing import gradcheck


@st.composite
def conv_cases(draw):
    """A valid conv2d geometry and its float64 inputs x (N, C, H, W), W (OC, C, KH, KW), b."""
    N, C, OC = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    KH = draw(st.integers(1, min(4, H + 2 * PH)))
    KW = draw(st.integers(1, min(4, W + 2 * PW)))
    strides = st.sampled_from([1, 1, 2, 3])  # stride 1 often: its gx is a transposed conv
    stride = (draw(strides), draw(strides))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return dict(x=rng.standard_normal((N, C, H, W)), W=rng.standard_normal((OC, C, KH, KW)),
                b=rng.standard_normal(OC), stride=stride, padding=(PH, PW))


def naive_conv2d(x, W, b, stride, padding):
    """The definition, one output element at a time."""
    N, C, H, Wd = x.shape
    OC, _, KH, KW = W.shape
    (SH, SW), (PH, PW) = stride, padding
    x_pad = np.zeros((N, C, H + 2 * PH, Wd + 2 * PW))
    x_pad[:, :, PH:PH + H, PW:PW + Wd] = x
    OH, OW = (H + 2 * PH - KH) // SH + 1, (Wd + 2 * PW - KW) // SW + 1
    y = np.zeros((N, OC, OH, OW))
    for n, o, oh, ow in itertools.product(range(N), range(OC), range(OH), range(OW)):
        window = x_pad[n, :, SH * oh:SH * oh + KH, SW * ow:SW * ow + KW]
        y[n, o, oh, ow] = np.sum(window * W[o]) + b[o]
    return y


@given(conv_cases())
def test_conv2d_gradcheck_x_W_b(case):
    s, p = case["stride"], case["padding"]
    gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=s, padding=p),
              case["x"], case["W"], case["b"])


@pytest.mark.parametrize("kernel, stride, padding", [
    (3, 1, 1), (1, 1, 0), (3, 2, 1), ((3, 2), 1, (2, 0)), (2, 1, 2)])  # the last: PW ≥ KW
def test_conv2d_gradcheck_common_layers(rng, kernel, stride, padding):
    """Both gx paths: transposed conv (stride 1, P < K) and GEMM + col2im (the others)."""
    KH, KW = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, W = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((2, 3, KH, KW))
    b = rng.standard_normal(2)
    gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=stride, padding=padding), x, W, b)


@given(conv_cases())
def test_conv2d_equals_naive_loops(case):
    y = F.conv2d(Tensor(case["x"]), Tensor(case["W"]), Tensor(case["b"]),
                 stride=case["stride"], padding=case["padding"])
    np.testing.assert_allclose(y.numpy(), naive_conv2d(**case), rtol=1e-10, atol=1e-12)


def test_conv2d_without_bias_equals_zero_bias(rng):
    x, W = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(Tensor(x), Tensor(W), padding=1).numpy()
    np.testing.assert_allclose(y, naive_conv2d(x, W, np.zeros(4), (1, 1), (1, 1)), rtol=1e-10)


@given(conv_cases())
def test_im2col_col2im_are_adjoint(case):
    k, s, p = case["W"].shape[2:], case["stride"], case["padding"]
    x = case["x"]
    col = F.im2col(x, k, s, p)
    y = np.random.default_rng(0).standard_normal(col.shape)
    lhs, rhs = np.sum(col * y), np.sum(x * F.col2im(y, x.shape, k, s, p))
    assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-10), (lhs, rhs)


@given(conv_cases())
def test_im2col_layout_is_the_documented_one(case):
    """col[(c, i, j), (n, oh, ow)] = x_pad[n, c, SH·oh + i, SW·ow + j]."""
    x, (KH, KW) = case["x"], case["W"].shape[2:]
    (SH, SW), (PH, PW) = case["stride"], case["padding"]
    N, C, H, W = x.shape
    col = F.im2col(x, (KH, KW), (SH, SW), (PH, PW))
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    assert col.shape == (C * KH * KW, N * OH * OW)
    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    for c, i, j, n, oh, ow in itertools.product(range(C), range(KH), range(KW), range(N),
                                                range(OH), range(OW)):
        row, column = (c * KH + i) * KW + j, (n * OH + oh) * OW + ow
        assert col[row, column] == x_pad[n, c, SH * oh + i, SW * ow + j]


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (1, 0), ((1, 2), (2, 0))])
def test_float32_stays_float32(rng, stride, padding):
    x = Tensor(rng.standard_normal((2, 3, 6, 5)).astype(np.float32), requires_grad=True)
    W = Tensor(rng.standard_normal((4, 3, 3, 2)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, W, b, stride=stride, padding=padding)
    y.backward(rng.standard_normal(y.shape).astype(np.float32))
    assert y.dtype == np.float32
    assert (x.grad.dtype, W.grad.dtype, b.grad.dtype) == (np.float32,) * 3
    ref = naive_conv2d(x.numpy().astype(np.float64), W.numpy().astype(np.float64),
                       b.numpy().astype(np.float64), *[(v, v) if isinstance(v, int) else v
                                                       for v in (stride, padding)])
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_input_gradient_skipped_when_not_needed(rng, monkeypatch, stride):
    """The first layer's input needs no gradient: no product with the flipped kernel (stride
    1, a transposed conv), no col2im (stride 2); gW unchanged."""
    x, W = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal(F.conv2d(Tensor(x), Tensor(W), stride=stride, padding=1).shape)
    calls = []
    product = conv_module._product
    monkeypatch.setattr(conv_module, "_product",
                        lambda A, *a: calls.append(("product", A.shape)) or product(A, *a))
    for name in ("_col2im_cn", "_col2im_planes"):   # the general col2im and the one by runs
        col2im_fn = getattr(conv_module, name)
        monkeypatch.setattr(conv_module, name,
                            lambda *a, f=col2im_fn: calls.append(("col2im", None)) or f(*a))
    W_full = Tensor(W, requires_grad=True)
    F.conv2d(Tensor(x, requires_grad=True), W_full, stride=stride, padding=1).backward(gy)
    gx_call = ("product", (3, 4 * 9)) if stride == 1 else ("col2im", None)  # W_t is (C, OC·KH·KW)
    assert gx_call in calls and ("product", (4, 3 * 9)) in calls           # gx; forward, W₂
    calls.clear()
    x_t, W_t = Tensor(x), Tensor(W, requires_grad=True)
    F.conv2d(x_t, W_t, stride=stride, padding=1).backward(gy)
    assert set(calls) == {("product", (4, 3 * 9))}                          # the forward only
    assert x_t.grad is None
    np.testing.assert_array_equal(W_t.grad, W_full.grad)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_blocked_over_the_batch_gives_the_same_result(rng, monkeypatch, kernel, stride, padding):
    """On NumPy the batch is cut into cache-sized blocks; here one sample per block."""
    x, W = rng.standard_normal((3, 2, 5, 6)), rng.standard_normal((2, 2, kernel, kernel))
    b = rng.standard_normal(2)
    monkeypatch.setattr(windows_module, "_COL_BLOCK_BYTES", 1)
    y = F.conv2d(Tensor(x), Tensor(W), Tensor(b), stride=stride, padding=padding)
    expected = naive_conv2d(x, W, b, (stride,) * 2, (padding,) * 2)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10)
    gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=stride, padding=padding), x, W, b)


def _args(x=(2, 3, 5, 5), W=(4, 3, 3, 3), b=None, stride=1, padding=0):
    arrays = np.zeros(x), np.zeros(W), None if b is None else np.zeros(b)
    return arrays, dict(stride=stride, padding=padding)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x=(3, 4)), ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(3, 4\)"),
    (dict(W=(4, 3, 3)), ValueError, r"W must be 4-D \(OC, C, KH, KW\)"),
    (dict(x=(2, 2, 5, 5)), ValueError, r"x has C = 2 channels, W expects 3"),
    (dict(x=(2, 3, 2, 5)), ValueError, r"kernel \(3, 3\) is larger than the padded input \(2, 5\)"),
    (dict(stride=0), ValueError, r"stride must be positive, got \(0, 0\)"),
    (dict(stride=(1, -2)), ValueError, r"stride must be positive"),
    (dict(padding=-1), ValueError, r"padding must be non-negative"),
    (dict(b=(3,)), ValueError, r"b must have shape \(OC,\) = \(4,\), got \(3,\)"),
    (dict(stride=1.5), TypeError, r"stride must be an int or a pair of ints"),
    (dict(padding=(1, 1, 1)), TypeError, r"padding must be an int or a pair of ints"),
])
def test_conv2d_errors(kwargs, error, match):
    (x, W, b), settings_ = _args(**kwargs)
    with pytest.raises(error, match=match):
        F.conv2d(Tensor(x), Tensor(W), None if b is None else Tensor(b), **settings_)


def test_conv2d_padding_rescues_a_large_kernel():
    y = F.conv2d(Tensor(np.ones((1, 1, 2, 2))), Tensor(np.ones((1, 1, 3, 3))), padding=1)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 2), 4.0))


def test_conv2d_dtype_mismatch():
    with pytest.raises(TypeError, match="W has dtype float32 but x has float64"):
        F.conv2d(Tensor(np.zeros((1, 1, 3, 3))), Tensor(np.zeros((1, 1, 2, 2), np.float32)))


def test_col2im_rejects_wrong_col_shape():
    with pytest.raises(ValueError, match=r"col must have shape \(C·KH·KW, N·OH·OW\) = \(9, 18\)"):
        F.col2im(np.zeros((9, 17)), (2, 1, 3, 3), 3, padding=1)


@pytest.mark.gpu
@pytest.mark.parametrize("stride, padding, H", [(1, 1, 7), (2, 1, 7), (2, 1, 8), (1, (0, 2), 7)])
def test_numpy_and_cupy_agree(rng, stride, padding, H):
    """Both backends on each way of building col: phase planes (3×3 with padding 1, stride 1,
    and stride 2 on an even map) and window rows (stride 2 on an odd map, padding 2)."""
    host = [rng.standard_normal(s).astype(np.float32) for s in ((2, 3, H, 6), (4, 3, 3, 3), (4,))]
    gy = None
    results = []
    for name in ("numpy", "cupy"):
        with minijoint.using_backend(name):
            x, W, b = (Tensor(minijoint.to_device(a), requires_grad=True) for a in host)
            y = F.conv2d(x, W, b, stride=stride, padding=padding)
            gy = rng.standard_normal(y.shape).astype(np.float32) if gy is None else gy
            y.backward(minijoint.to_device(gy))
            results.append([minijoint.to_host(a) for a in (y.data, x.grad, W.grad, b.grad)])
    for a_np, a_cp in zip(*results):
        np.testing.assert_allclose(a_cp, a_np, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel, padding", [(3, 1), (3, 0), ((2, 3), (1, 2)), ((3, 2), 0)])
def test_whole_row_im2col_on_wide_maps(rng, kernel, padding):
    """Stride 1 on maps wider than 16 runs im2col over whole rows (forward, and gx's
    transposed conv): naive loops for y, finite differences for every gradient."""
    KH, KW = (kernel, kernel) if isinstance(kernel, int) else kernel
    PH, PW = (padding, padding) if isinstance(padding, int) else padding
    x, W = rng.standard_normal((2, 2, 3, 20)), rng.standard_normal((2, 2, KH, KW))
    b = rng.standard_normal(2)
    assert conv_module._whole_rows_pay(KW, 20 + 2 * PW - KW + 1)
    y = F.conv2d(Tensor(x), Tensor(W), Tensor(b), padding=padding)
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x, W, b, (1, 1), (PH, PW)), rtol=1e-10)
    gradcheck(lambda x, W, b: F.conv2d(x, W, b, padding=padding), x, W, b)


@st.composite
def plane_blocks(draw):
    """A block x (B, C, H, W) and a geometry that :func:`windows._im2col_planes` builds:
    stride 1 to 3, H and W whole multiples of the stride, the output the size of a phase
    (OH = H / SH and OW = W / SW, that is K = 2·P + d with 1 <= d <= S on each axis), not
    1×1; x is float64 or a binary input's uint8 copy, which the col casts."""
    B, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = SH * draw(st.integers(1, 4)), SW * draw(st.integers(1, 4))
    PH, PW = draw(st.integers(0, 3)), draw(st.integers(0, 3))   # up to wider than the map
    KH, KW = 2 * PH + draw(st.integers(1, SH)), 2 * PW + draw(st.integers(1, SW))
    if KH == KW == 1:   # a 1×1 kernel is not built from planes: widen one axis to 3
        PH, KH = (1, 3) if draw(st.booleans()) else (PH, KH)
        PW, KW = (1, 3) if KH == 1 else (PW, KW)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((B, C, H, W))
    x = (x > 0).astype(np.uint8) if draw(st.booleans()) else x
    geometry = (KH, KW, SH, SW, PH, PW)
    assert windows_module._planes_fit(H, W, *geometry)
    return x, geometry


@given(plane_blocks())
def test_whole_plane_im2col_builds_the_same_col(case):
    """The col built from phase planes (one run per row of col, the values read across a
    sample's or a row's edge zeroed) equals the window-row col, bit for bit."""
    x, (KH, KW, SH, SW, PH, PW) = case
    OH, OW = windows_module._out_size(*x.shape[2:], KH, KW, SH, SW, PH, PW)
    x_cn = windows_module._channel_first(x, KH, KW, SH, SW, PH, PW, np.float64)
    want = windows_module._im2col_cn(x_cn, KH, KW, SH, SW, OH, OW)
    got = windows_module._im2col_planes(x, KH, KW, SH, SW, PH, PW, np.float64)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


@given(plane_blocks(), st.booleans(), st.integers(0, 2**32 - 1))
def test_col2im_by_runs_adds_up_the_same_bits(case, negative_zeros, seed):
    """col2im by phase-plane runs equals the plain col2im (window by window) bit for bit,
    -0.0 included (the bits are compared), though it adds the zeroed windows too."""
    x, (KH, KW, SH, SW, PH, PW) = case
    B, C, H, W = x.shape
    OH, OW = windows_module._out_size(H, W, KH, KW, SH, SW, PH, PW)
    rng = np.random.default_rng(seed)
    gcol = rng.standard_normal((C * KH * KW, B * OH * OW))
    if negative_zeros:   # -0.0 where a plain sum keeps +0.0
        gcol[rng.random(gcol.shape) < 0.5] = -0.0
    want = F.col2im(gcol, x.shape, (KH, KW), (SH, SW), (PH, PW))
    got = np.full(x.shape, np.nan)
    windows_module._col2im_planes(gcol.copy(), got, KH, KW, SH, SW, PH, PW)
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((2, 2, 3, 7), 3, 1, 1), ((2, 2, 3, 7), (1, 3), 1, (0, 1)), ((2, 2, 3, 7), (3, 5), 1, (1, 2)),
    ((2, 2, 4, 6), 3, 2, 1), ((2, 2, 6, 6), (4, 2), (3, 2), (1, 0))])
def test_conv2d_on_the_whole_plane_path(rng, monkeypatch, shape, kernel, stride, padding):
    """Where the output is the size of a phase, on narrow maps, every col is built from phase
    planes (forward, gW, and gx's transposed convolution for stride 1) and a strided gx is
    added back by runs: naive loops for y, finite differences for every gradient."""
    KH, KW = (kernel, kernel) if isinstance(kernel, int) else kernel
    SH, SW = (stride, stride) if isinstance(stride, int) else stride
    PH, PW = (padding, padding) if isinstance(padding, int) else padding
    calls = []
    for name, k in (("_im2col_planes", 1), ("_col2im_planes", 2)):   # the geometry: a[k:k + 6]
        fn = getattr(windows_module, name)
        monkeypatch.setattr(windows_module, name, lambda *a, f=fn, name=name, k=k:
                            calls.append((name, a[k:k + 6])) or f(*a))
    monkeypatch.setattr(conv_module, "_col2im_planes", windows_module._col2im_planes)
    x, W = rng.standard_normal(shape), rng.standard_normal((2, shape[1], KH, KW))
    b = rng.standard_normal(2)
    y = F.conv2d(Tensor(x), Tensor(W), Tensor(b), stride=stride, padding=padding)
    assert calls == [("_im2col_planes", (KH, KW, SH, SW, PH, PW))]
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x, W, b, (SH, SW), (PH, PW)), rtol=1e-10)
    gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=stride, padding=padding), x, W, b)
    if (SH, SW) == (1, 1):   # gx: the transposed convolution
        assert ("_im2col_planes", (KH, KW, 1, 1, KH - 1 - PH, KW - 1 - PW)) in calls
    else:
        assert ("_col2im_planes", (KH, KW, SH, SW, PH, PW)) in calls


@st.composite
def strided_pairs(draw):
    """Two same-shape views, of a random array and into a fresh one, each sliced (steps 1-2)
    and with its axes permuted; half of the views keep their last axis contiguous, so that
    both copy paths of ``_copy_rows`` run."""
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8]))

    def view_of(base_shape_rng):
        steps = [draw(st.sampled_from([1, 1, 2])) for _ in range(ndim)]
        order = draw(st.permutations(range(ndim)))
        if draw(st.booleans()):   # contiguous rows: the last axis stays last, unsliced
            order, steps[-1] = [a for a in order if a != ndim - 1] + [ndim - 1], 1
        big = tuple(n * k for n, k in zip(shape, steps))
        base = base_shape_rng(tuple(big[a] for a in order))
        v = base.transpose(np.argsort(order))
        return v[tuple(slice(None, None, k) for k in steps)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    src = view_of(lambda s: (rng.standard_normal(s) * 100).astype(dtype))
    dst = view_of(lambda s: np.zeros(s, dtype))
    return dst, src


@given(strided_pairs())
def test_copy_rows_is_an_exact_assignment(pair):
    """_copy_rows copies rows as 'void' values: the same bytes as ``dst[...] = src``,
    NaN and -0.0 included, whatever the strides."""
    dst, src = pair
    if src.dtype.kind == "f" and src.size:
        src.flat[0], src.flat[-1] = -0.0, np.nan
    expected = dst.copy()
    expected[...] = src
    windows_module._copy_rows(dst, src)
    assert dst.tobytes() == expected.tobytes() == np.ascontiguousarray(src).tobytes()


def test_copy_rows_on_window_rows_and_a_cast():
    """The im2col case (rows of OW values out of a padded map: the 'void' path) and a cast
    from uint8 (a plain assignment)."""
    x_cn = np.random.default_rng(0).standard_normal((3, 2, 6, 6))
    col = np.empty((3, 2, 4, 4))
    windows_module._copy_rows(col, x_cn[:, :, 1:5, 2:6])
    assert np.array_equal(col, x_cn[:, :, 1:5, 2:6])
    dst = np.empty((2, 3, 4), np.float32)
    src = np.arange(24, dtype=np.uint8).reshape(3, 2, 4).transpose(1, 0, 2)
    windows_module._copy_rows(dst, src)
    assert dst.dtype == np.float32 and np.array_equal(dst, src)
