"""A small spiking network end to end: smooth-mode gradcheck through conv → BN → LIF → conv
→ LIF → readout, the stem-once shortcut (docs/method.md §3), time folding, training on digits, GPU."""
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minijoint
import minijoint.functional as F
import minijoint.nn as nn
from minijoint import Tensor, default_dtype, no_grad
from minijoint.nn import LIF, fold_time, per_step, readout, repeat_time, unfold_time
from minijoint.snn import ATan, Rectangle, Sigmoid, Triangle, lif, lif_backward, lif_forward
from minijoint.testing import gradcheck

smooth_surrogates = st.one_of(st.floats(1.0, 6.0).map(Sigmoid), st.floats(0.5, 4.0).map(ATan))


def small_net(T, sg, tau, v_th, seed):
    """conv → BN → LIF → conv → LIF → readout on (T, N, 2, 4, 4) input, float64, smooth."""
    rng = np.random.default_rng(seed)
    with default_dtype(np.float64):
        conv1, bn, conv2 = nn.Conv2d(2, 3, 3, padding=1, rng=rng), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 3, rng=rng)
    lif1, lif2 = LIF(tau, v_th, sg, smooth=True), LIF(tau, v_th, sg, smooth=True)

    def net(x):
        return readout(lif2(per_step(conv2, lif1(per_step(lambda x4: bn(conv1(x4)), x)))))
    return net, (conv1.W, conv1.b, bn.gamma, bn.beta, conv2.W)


@settings(max_examples=6)
@given(T=st.integers(1, 4), sg=smooth_surrogates, tau=st.floats(0.1, 0.9),
       v_th=st.floats(0.2, 1.0), seed=st.integers(0, 2**16))
def test_smooth_network_matches_finite_differences(T, sg, tau, v_th, seed):
    net, params = small_net(T, sg, tau, v_th, seed)
    x = np.random.default_rng(seed + 1).standard_normal((T, 2, 2, 4, 4))
    gradcheck(lambda x, *p: net(x), x, *params)  # raises on a mismatch
    assert net(Tensor(x)).shape == (2, 2, 2, 2)


@settings(max_examples=10)
@given(T=st.integers(1, 5), seed=st.integers(0, 2**16), smooth=st.booleans())
def test_stem_once_equals_stem_at_every_step(T, seed, smooth):
    """repeat_time(stem(x)) gives the outputs and gradients of stem(repeat_time(x))."""
    rng = np.random.default_rng(seed)
    with default_dtype(np.float64):
        conv, bn = nn.Conv2d(1, 3, 3, padding=1, rng=rng), nn.BatchNorm2d(3)
    sg = ATan() if smooth else Rectangle()
    x0 = rng.standard_normal((3, 1, 5, 5))
    gy = rng.standard_normal((T, 3, 3, 5, 5))
    results = []
    for once in (True, False):
        for p in (conv.W, conv.b, bn.gamma):
            p.grad = None
        x = Tensor(x0, requires_grad=True)
        h = repeat_time(bn(conv(x)), T) if once else per_step(lambda x4: bn(conv(x4)),
                                                              repeat_time(x, T))
        y = lif(h, surrogate=sg, smooth=smooth)
        y.backward(gy)
        results.append([y.data, x.grad, conv.W.grad, conv.b.grad, bn.gamma.grad])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert np.any(results[0][1] != 0)  # a gradient did flow


@given(T=st.integers(1, 4), N=st.integers(1, 3), rest=st.lists(st.integers(1, 3), max_size=3))
def test_fold_unfold_and_repeat(T, N, rest):
    x = Tensor(np.arange(T * N * int(np.prod(rest)), dtype=np.float64).reshape((T, N, *rest)),
               requires_grad=True)
    folded = fold_time(x)
    assert folded.shape == (T * N, *rest)
    np.testing.assert_array_equal(folded.data[:N], x.data[0])
    np.testing.assert_array_equal(folded.data[-N:], x.data[-1])
    back = unfold_time(folded, T)
    np.testing.assert_array_equal(back.data, x.data)
    same, doubled = per_step(lambda x4: (x4, x4 * 2.0), x)     # each part unfolded
    np.testing.assert_array_equal(same.data, x.data)
    np.testing.assert_array_equal(doubled.data, 2 * x.data)
    gy = np.random.default_rng(0).standard_normal(x.shape)
    back.backward(gy)
    np.testing.assert_array_equal(x.grad, gy)
    # repeat_time: gradient is the sum over t
    s = Tensor(np.ones((N, *rest)), requires_grad=True)
    r = repeat_time(s, T)
    assert r.shape == (T, N, *rest)
    r.backward(gy)
    np.testing.assert_allclose(s.grad, gy.sum(axis=0))


def test_readout_mean_and_sum():
    x = np.random.default_rng(0).standard_normal((4, 3, 5))
    np.testing.assert_allclose(readout(Tensor(x)).data, x.mean(axis=0))
    np.testing.assert_allclose(readout(Tensor(x), "sum").data, x.sum(axis=0))
    # Eq. 3: averaging per-step logits W xᵗ equals W applied to the average of xᵗ
    W = np.random.default_rng(1).standard_normal((2, 5))
    per_step = readout(F.linear(Tensor(x), Tensor(W))).data
    np.testing.assert_allclose(per_step, x.mean(axis=0) @ W.T)
    with pytest.raises(ValueError, match="mode"):
        readout(Tensor(x), "max")
    with pytest.raises(ValueError, match=r"\(T, N, ...\)"):
        readout(Tensor(np.zeros(3)))


def test_lif_layer_settings_rate_and_traces():
    layer = LIF(tau=0.5, v_th=0.4, surrogate="sigmoid", detach_reset=True)
    assert layer.surrogate == Sigmoid() and layer.last_rate is None
    assert list(layer.parameters()) == [] and layer.state_dict() == {}
    c = np.random.default_rng(0).standard_normal((3, 4, 5))
    y = layer(Tensor(c, requires_grad=True))
    assert isinstance(layer.last_rate, float) and layer.last_rate == pytest.approx(y.data.mean())
    layer.traces = []
    x = Tensor(c, requires_grad=True)
    layer(x).backward(np.ones(c.shape))
    np.testing.assert_array_equal(layer.traces[0].gc, x.grad)
    want = lif_backward(np.ones(c.shape), *lif_forward(c, 0.5, 0.4, Sigmoid())[::-1], 0.5, 0.4,
                        Sigmoid(), detach_reset=True).gc
    np.testing.assert_array_equal(x.grad, want)
    for bad, match in ((dict(tau=1.5), "tau=1.5"), (dict(v_th=0), "v_th=0"),
                       (dict(surrogate="relu"), "unknown surrogate")):
        with pytest.raises(ValueError, match=match):
            LIF(**bad)


def test_time_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(T, N, ...\)"):
        fold_time(Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="T=2 dividing"):
        unfold_time(Tensor(np.zeros((5, 2))), 2)
    with pytest.raises(ValueError, match="T=0"):
        repeat_time(Tensor(np.zeros(3)), 0)
    with pytest.raises(ValueError, match=r"\(T, N, ...\)"):
        per_step(F.relu, Tensor(np.zeros(3)))


class SpikingCNN(nn.Module):
    """Stem conv+BN once → LIF → conv+BN+pool per step → LIF → linear, mean over T."""

    def __init__(self, T, rng):
        super().__init__()
        self.T = T
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.BatchNorm2d(16))
        self.lif1, self.lif2 = LIF(), LIF()
        self.conv = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, rng=rng), nn.BatchNorm2d(32),
                                  nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10, rng=rng))

    def forward(self, x):
        s = self.lif1(repeat_time(self.stem(x), self.T))
        s = self.lif2(per_step(self.conv, s))
        return readout(per_step(self.head, s))


@pytest.mark.slow
def test_spiking_cnn_learns_digits():
    from minijoint.data import DataLoader, load_digits
    from minijoint.optim import Adam

    start = time.perf_counter()
    (x_tr, y_tr), (x_te, y_te) = load_digits()
    net = SpikingCNN(T=4, rng=np.random.default_rng(0))
    opt = Adam(net.parameters(), lr=3e-3)
    for epoch in range(8):
        net.train()
        for xb, yb in DataLoader(x_tr, y_tr, batch_size=64, seed=epoch):
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with no_grad():
        logits = net(Tensor(x_te)).numpy()
    acc = float((logits.argmax(axis=1) == y_te).mean())
    seconds = time.perf_counter() - start
    print(f"spiking CNN on digits (T=4): test accuracy {acc:.3f} in {seconds:.1f} s")
    assert acc >= 0.90 and seconds < 120


@pytest.mark.gpu
@pytest.mark.parametrize("sg", [Rectangle(), Triangle(), Sigmoid(), ATan()])
@pytest.mark.parametrize("smooth, detach_reset", [(False, False), (False, True), (True, False)])
def test_lif_numpy_and_cupy_agree(sg, smooth, detach_reset):
    rng = np.random.default_rng(0)
    c, gy = rng.standard_normal((4, 8, 3, 5)), rng.standard_normal((4, 8, 3, 5))
    out = {}
    for name in ("numpy", "cupy"):
        with minijoint.using_backend(name):
            x = Tensor(minijoint.to_device(c), requires_grad=True)
            y = lif(x, surrogate=sg, smooth=smooth, detach_reset=detach_reset)
            y.backward(minijoint.to_device(gy))
            out[name] = (minijoint.to_host(y.data), minijoint.to_host(x.grad))
    if not smooth:
        np.testing.assert_array_equal(out["numpy"][0], out["cupy"][0])  # identical spikes
    np.testing.assert_allclose(out["numpy"][0], out["cupy"][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["numpy"][1], out["cupy"][1], rtol=1e-10, atol=1e-12)
