"""``using_threads``: the one thread setting, and the property it promises — every number of
threads computes the same bits (convolution forward and backward, a whole training run)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

import minijoint.functional as F
from minijoint import Tensor
from minijoint.backend import get_threads, parallel_map, using_threads
from minijoint.functional import conv, windows


@st.composite
def conv_settings(draw):
    """A valid conv2d geometry (maps up to 20 wide, so the whole-row im2col runs too), a
    dtype, whether x needs a gradient, a bias or none, and the budget of a block's col."""
    N, C, OC = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 20))
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    KH = draw(st.integers(1, min(3, H + 2 * PH)))
    KW = draw(st.integers(1, min(3, W + 2 * PW)))
    stride = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((OC, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if draw(st.booleans()) else None
    budget = draw(st.sampled_from([1, 4096, 2**22]))   # 1: a block per sample; 2**22: one block
    return dict(x=x, W=w, b=b, stride=stride, padding=(PH, PW), need_x=draw(st.booleans()),
                budget=budget, seed=int(rng.integers(2**31)))


def conv_results(case, threads):
    """y and every gradient of conv2d, computed on ``threads`` threads."""
    with using_threads(threads):
        x = Tensor(case["x"], requires_grad=case["need_x"])
        W = Tensor(case["W"], requires_grad=True)
        b = None if case["b"] is None else Tensor(case["b"], requires_grad=True)
        y = F.conv2d(x, W, b, stride=case["stride"], padding=case["padding"])
        gy = np.random.default_rng(case["seed"]).standard_normal(y.shape).astype(y.dtype)
        y.backward(gy)
    return [y.data, x.grad, W.grad, None if b is None else b.grad]


@settings(max_examples=40)
@given(conv_settings())
def test_threaded_conv_equals_one_thread_bit_for_bit(case):
    mp = pytest.MonkeyPatch()
    mp.setattr(windows, "_COL_BLOCK_BYTES", case["budget"])
    mp.setattr(conv, "_THREADED_COL_BYTES", 0)     # these small convs on the threads too
    try:
        one = conv_results(case, 1)
        for threads in (2, 3):
            for a, b in zip(one, conv_results(case, threads)):
                assert (a is None) == (b is None)
                if a is not None:
                    assert a.dtype == b.dtype and np.array_equal(a, b), f"{threads} threads differ"
    finally:
        mp.undo()


def test_using_threads_sets_the_pool_and_holds_blas_at_one_thread():
    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    before = blas_threads()
    assert get_threads() == 1
    with using_threads(3) as n:
        assert n == 3 and get_threads() == 3
        assert set(blas_threads()) == {1}
        with using_threads(2):
            assert get_threads() == 2
        assert get_threads() == 3
    assert get_threads() == 1 and blas_threads() == before


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_using_threads_refuses_a_bad_count(n):
    with pytest.raises(ValueError, match="using_threads: n must be an integer >= 1"):
        with using_threads(n):
            pass


def test_parallel_map_keeps_the_order_and_runs_nested_maps_inline():
    with using_threads(2):
        assert parallel_map(np, lambda i: i * i, range(7)) == [i * i for i in range(7)]
        nested = parallel_map(np, lambda i: parallel_map(np, lambda j: (i, j), range(3)), range(4))
    assert nested == [[(i, j) for j in range(3)] for i in range(4)]


def test_training_on_two_threads_is_bit_identical_to_one(tmp_path, monkeypatch):
    """The whole joint training (both networks, factorized weights, all losses): the
    checkpoint after 1 epoch holds the same bits for 1 and 2 threads."""
    monkeypatch.setattr(conv, "_THREADED_COL_BYTES", 0)   # the digits convs are small
    from minijoint.joint.checkpoint import load_checkpoint
    from minijoint.joint.config import TrainConfig
    from minijoint.joint.train import train
    cfg = TrainConfig(mode="full", epochs=1, limit_train=64, limit_test=32)
    states = []
    for threads in (1, 2):
        with using_threads(threads):
            train(cfg, tmp_path / f"t{threads}", log=lambda *a: None)
        states.append(load_checkpoint(tmp_path / f"t{threads}" / "checkpoint.npz")[0])
    one, two = states
    assert one.keys() == two.keys() and len(one) > 50
    for name in one:
        assert np.array_equal(one[name], two[name]), name
