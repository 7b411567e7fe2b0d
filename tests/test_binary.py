"""Spikes kept in 1 bit per value (functional.binary): the round trip is exact, the mark
survives the views a network makes, the LIF op and the convolution reading its spikes keep
one shared copy, and nothing computed from spikes changes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import minijoint.functional as F
from minijoint import Tensor
from minijoint.function import Context
from minijoint.functional.binary import (BinaryArray, PackedBits, binary_empty, binary_owner,
                                         pack_bits, seal_binary)
from minijoint.functional.conv import Conv2dOp
from minijoint.snn import lif, lif_backward, lif_forward


def spikes(values):
    """``values`` (0/1) copied into sealed binary memory, as the LIF op makes them."""
    y = binary_empty(np, values.shape, values.dtype)
    y[...] = values
    return seal_binary(y)


@given(array_shapes(min_dims=1, max_dims=5, max_side=9), st.sampled_from([np.float32, np.float64]),
       st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_packed_bits_round_trip_exactly(shape, dtype, rate, seed):
    """Any shape (sizes that are not a multiple of 8 too), any firing rate."""
    y = (np.random.default_rng(seed).random(shape) < rate).astype(dtype)
    for a in (y, spikes(y)):
        packed = pack_bits(a)
        assert packed.bits.dtype == np.uint8 and packed.bits.size == -(-y.size // 8)
        back = packed.unpack()
        assert back.shape == y.shape and back.dtype == np.uint8
        np.testing.assert_array_equal(back.astype(dtype), y)


def test_the_mark_survives_views_and_arithmetic_drops_it():
    y = spikes((np.arange(24).reshape(2, 3, 4) % 3 == 0).astype(np.float32))
    data = Tensor(y).data                         # a Tensor keeps a plain view
    assert type(data) is np.ndarray and binary_owner(data) is y
    assert binary_owner(data.reshape(6, 4)[1:]) is y
    assert binary_owner(np.ones(3)) is None
    for result in (y * 2, y + data, np.exp(y), y.sum(axis=0)):
        assert not isinstance(result, BinaryArray)
    with pytest.raises(ValueError, match="read-only"):
        data[0, 0, 0] = 0.5                       # sealed: no view can write a non-spike


def test_a_reshape_shares_the_owners_bits_and_a_slice_packs_its_own():
    y = spikes((np.random.default_rng(0).random((4, 2, 3, 5, 5)) < 0.3).astype(np.float32))
    whole = pack_bits(y)
    folded = pack_bits(Tensor(y).data.reshape(8, 3, 5, 5))   # the SNN's time folding
    assert folded.bits is whole.bits and folded.shape == (8, 3, 5, 5)
    part = pack_bits(y[1])
    assert part.bits is not whole.bits
    np.testing.assert_array_equal(part.unpack(), y[1])


def test_lif_op_and_the_conv_reading_its_spikes_keep_one_packed_copy(rng):
    c = Tensor(rng.standard_normal((3, 2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    s = lif(c, v_th=0.3)
    lif_ctx = s.creator.ctx
    assert isinstance(lif_ctx.y, PackedBits)
    W = Tensor(rng.standard_normal((5, 4, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(F.reshape(s, (6, 4, 6, 6)), W, padding=1)
    conv_ctx = y.creator.ctx
    assert isinstance(conv_ctx.x, PackedBits) and conv_ctx.x.bits is lif_ctx.y.bits
    assert conv_ctx.x.bits.nbytes * 32 == s.data.nbytes       # 1 bit for each float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (1, 0)])
def test_conv_of_binary_input_equals_conv_of_the_same_floats(rng, dtype, stride, padding):
    """Every result of the conv is bit-identical whether x is known binary (kept packed) or
    not (kept as floats)."""
    values = (rng.random((6, 3, 7, 7)) < 0.4).astype(dtype)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    gy = rng.standard_normal((6, 4) + (F.conv2d(Tensor(values), Tensor(W), stride=stride,
                                                padding=padding).shape[2:])).astype(dtype)
    results = []
    for x in (values, spikes(values)):
        ctx = Context((True, True, False))
        y = Conv2dOp.forward(ctx, x, W, None, (stride,) * 2, (padding,) * 2)
        assert isinstance(ctx.x, PackedBits) == (x is not values)
        results.append((y,) + Conv2dOp.backward(ctx, gy)[:2])
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_lif_backward_from_packed_spikes_equals_the_float_spikes(rng):
    """The op's backward (spikes unpacked to uint8) gives the same bits as the recursion fed
    the float spikes of lif_forward."""
    c = rng.standard_normal((5, 3, 8)).astype(np.float32)
    gy = rng.standard_normal(c.shape).astype(np.float32)
    for detach in (False, True):
        ct = Tensor(c, requires_grad=True)
        y = lif(ct, 0.5, 0.4, detach_reset=detach)
        y.backward(gy)
        y_float, u_pre = lif_forward(c, 0.5, 0.4, None)
        expected = lif_backward(gy, u_pre, np.asarray(y_float), 0.5, 0.4, None, detach_reset=detach)
        assert np.array_equal(ct.grad, expected.gc)


def test_max_pool_of_spikes_is_marked_binary(rng):
    """The max of spikes is a spike: VGG's pooled spikes reach the next conv known binary."""
    values = (rng.random((4, 3, 6, 6)) < 0.3).astype(np.float32)
    x = Tensor(spikes(values), requires_grad=True)
    y = F.max_pool2d(x, 2, stride=2)
    assert binary_owner(y.data) is not None
    np.testing.assert_array_equal(y.data, F.max_pool2d(Tensor(values), 2, stride=2).data)
    assert binary_owner(F.max_pool2d(Tensor(values), 2).data) is None   # floats stay floats
    z = F.conv2d(y, Tensor(rng.standard_normal((2, 3, 3, 3)).astype(np.float32)), padding=1)
    assert isinstance(z.creator.ctx.x, PackedBits)
