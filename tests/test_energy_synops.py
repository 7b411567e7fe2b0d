"""NeuroBench counts (minijoint/energy/synops.py and measure.py, docs/method.md §8) against a
brute-force count: a loop over time steps, output neurons and kernel taps, on hypothesis-drawn
shapes, spike patterns and small networks; the ``energy --model`` command and its plot."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import minijoint.functional as F
from minijoint import Tensor, backend
from minijoint.energy import (activation_sparsity, dense_synops, effective_synops,
                              fanout_map, measure)
from minijoint.models import JointNet
from minijoint.nn import observe


def brute_synops(a, OC, K=(1, 1), S=(1, 1), P=(0, 0)):
    """(Σ over samples, output neurons and taps of the input a tap reads, taps inside the
    input of one sample): a loop over samples (time steps × images) and output positions.
    ``a`` (M, C, H, W) for a convolution, (M, C) for a linear layer (every input, every
    output)."""
    if a.ndim == 2:
        return OC * float(a.sum()), OC * a.shape[1]
    M, C, H, W = a.shape
    OH, OW = (H + 2 * P[0] - K[0]) // S[0] + 1, (W + 2 * P[1] - K[1]) // S[1] + 1
    total, dense = 0.0, 0
    for m in range(M):
        for oh in range(OH):
            for ow in range(OW):
                for kh in range(K[0]):
                    for kw in range(K[1]):
                        h, w = oh * S[0] - P[0] + kh, ow * S[1] - P[1] + kw
                        if 0 <= h < H and 0 <= w < W:
                            total += float(a[m, :, h, w].sum())
                            dense += C if m == 0 else 0
    return OC * total, OC * dense


@st.composite
def conv_and_spikes(draw):
    """A convolution that fits its input (H + 2P ≥ K by construction) and 0/1 spikes."""
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH - 1)), draw(st.integers(0, KW - 1))
    H, W = draw(st.integers(max(1, KH - 2 * PH), 6)), draw(st.integers(max(1, KW - 2 * PW), 6))
    C, OC, M = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    S = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spikes = draw(arrays(np.float64, (M, C, H, W), elements=st.sampled_from([0.0, 1.0])))
    return spikes, OC, (KH, KW), S, (PH, PW)


@settings(max_examples=30)
@given(case=conv_and_spikes())
def test_synops_of_a_conv_equal_a_loop_and_a_conv_of_ones(case):
    x, OC, K, S, P = case
    M, C, H, W = x.shape
    out = F.conv2d(Tensor(x), Tensor(np.ones((OC, C, *K))), stride=S, padding=P)
    out_shape, geometry = tuple(out.shape[1:]), (C, OC, *K)
    fan = fanout_map("conv", (C, H, W), out_shape, geometry, S, P)
    effective, dense = brute_synops(x, OC, K, S, P)
    assert M * float(effective_synops(x, fan)) == pytest.approx(effective, abs=1e-9)
    assert dense_synops("conv", (C, H, W), out_shape, geometry, S, P) == dense
    # NeuroBench's own way: run the layer with every weight 1 and sum its outputs
    assert float(out.data.sum()) == pytest.approx(effective, abs=1e-9)
    analog = x * np.random.default_rng(0).normal(size=x.shape)       # nonzero where x fired
    assert M * float(effective_synops(analog, fan, spikes=False)) == pytest.approx(effective)


def test_synops_refuse_a_shape_that_is_not_the_layers():
    fan = fanout_map("conv", (1, 3, 3), (2, 3, 3), (1, 2, 3, 3), padding=(1, 1))
    with pytest.raises(ValueError, match="effective_synops"):
        effective_synops(np.zeros((2, 1, 4, 4)), fan)
    with pytest.raises(ValueError, match="fanout_map"):
        fanout_map("pool", (1, 3, 3), (1, 3, 3), (1, 1, 3, 3))
    with pytest.raises(ValueError, match="activation_sparsity"):
        activation_sparsity({"a": 0.5}, {"b": 4})


@settings(max_examples=6)
@given(width=st.integers(2, 4), side=st.sampled_from([8, 10]), T=st.integers(1, 3),
       N=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_measured_counts_equal_a_loop_on_random_networks(width, side, T, N, seed):
    rng = np.random.default_rng(seed)
    with backend.default_dtype(np.float64):        # the classifier's input is a mean over T
        net = JointNet("resnet10", width=width, image_size=side, in_channels=1, T=T, rng=rng)
    x = rng.random((N, 1, side, side)) * (rng.random((N, 1, side, side)) < 0.7)  # some zeros
    twins = {id(m): (n, m) for n, m in net.twin_layers()}
    heads = {id(net.ann_heads[-1]): "ann", id(net.snn_heads[-1]): "snn"}
    seen, lifs = {}, []

    def grab(module, args, out):
        if id(module) in twins:
            name, conv = twins[id(module)]
            seen[(name, args[1])] = (args[0].data.copy(), conv)
        elif id(module) in heads:
            seen[("classifier", heads[id(module)])] = (args[0].data.copy(), module)
        elif type(module).__name__ == "LIF":
            lifs.append(out.data.copy())
    with backend.default_dtype(np.float64), observe(grab):
        m = measure(net, [Tensor(x)])
    for L in m["layers"]:
        for path in ("ann", "snn"):
            a, mod = seen[(L.name, path)]
            spikes = path == "snn" and not L.first
            a = a if spikes else (a != 0)
            if L.kind == "conv":
                eff, dense = brute_synops(a, mod.out_channels, mod.kernel_size, mod.stride,
                                          mod.padding)
            else:
                eff, dense = brute_synops(a, mod.out_features)
            per_image = eff / a.shape[0] * (T if spikes else 1)       # T·N samples, or N
            got = L.synops if path == "snn" else L.ann_synops
            assert got == pytest.approx(per_image, rel=1e-9, abs=1e-9), (L.name, path)
            assert L.dense_macs == dense <= L.macs
    # neuron updates: every LIF neuron at every step; activation sparsity: zeros among them
    updates = sum(1 for y in lifs for t in range(T) for _ in range(y[t, 0].size))
    assert updates == T * sum(L.neurons for L in m["layers"]) == T * sum(m["lif_sizes"].values())
    zeros = sum(int((y == 0).sum()) for y in lifs) / sum(y.size for y in lifs)
    assert activation_sparsity(m["lif_rates"], m["lif_sizes"]) == pytest.approx(zeros, abs=1e-6)
    assert set(m["lif_sizes"]) == {n for n, _ in net.lif_layers()}
    assert all(math.prod(y.shape[2:]) in m["lif_sizes"].values() for y in lifs)


@pytest.mark.gpu
def test_cupy_and_numpy_count_the_same_synops():
    rng = np.random.default_rng(3)
    x = (rng.random((6, 4, 5, 5)) < 0.3).astype(np.float32)
    fan = fanout_map("conv", (4, 5, 5), (3, 3, 3), (4, 3, 3, 3), stride=(2, 2), padding=(1, 1))
    on_gpu = backend.to_device(x)
    assert float(effective_synops(on_gpu, fan)) == float(effective_synops(x, fan))
    assert float(effective_synops(on_gpu, fan, spikes=False)) == float(effective_synops(x, fan))
    images = rng.random((4, 1, 8, 8))
    with backend.default_dtype(np.float64):
        net = lambda: JointNet("resnet10", width=4, image_size=8, in_channels=1, T=2,  # noqa: E731
                               rng=np.random.default_rng(0))
        ref = measure(net(), [Tensor(images)])["layers"]
        with backend.using_backend("cupy"):
            got = measure(net(), [Tensor(backend.to_device(images))])["layers"]
    assert [L.dense_macs for L in got] == [L.dense_macs for L in ref]
    for L, R in zip(got, ref):              # a spike may flip at the threshold
        assert L.synops == pytest.approx(R.synops, rel=2e-2)
        assert L.ann_synops == pytest.approx(R.ann_synops, rel=2e-2)
