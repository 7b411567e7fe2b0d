"""``using_threads``: the one thread setting, and the property it promises — every number of
threads computes the same bits (convolution forward and backward, a whole training run);
the pool it runs (the caller and n − 1 workers) and work handed to the background."""
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

import minijoint.functional as F
import minijoint.threads
from minijoint import Tensor
from minijoint.threads import (Deferred, background_work, get_threads, in_background,
                               parallel_map, using_threads)
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


def test_the_calling_thread_is_one_of_the_n():
    """n threads are the caller and n − 1 workers: no more threads than cores asked for."""
    with using_threads(3):
        parallel_map(np, lambda i: i, range(4))
        workers = {t.name for t in threading.enumerate() if t.name.startswith("minijoint-")}
    assert workers == {"minijoint-0", "minijoint-1"}


def test_parallel_map_hands_on_a_pieces_exception_after_the_others_finished():
    finished = []

    def piece(i):
        if i == 2:
            raise KeyError("piece 2")
        finished.append(i)
        return i
    with using_threads(2), pytest.raises(KeyError, match="piece 2"):
        parallel_map(np, piece, range(6))
    assert sorted(finished) == [0, 1, 3, 4, 5]


def test_in_background_is_deferred_only_inside_background_work_on_threads():
    def square(i):
        return i * i

    def total(parts):
        return np.array(parts, dtype=np.float64)
    direct = in_background(np, square, range(5), total, (5,), np.float64)   # outside: computed now
    assert isinstance(direct, np.ndarray) and direct.tolist() == [0, 1, 4, 9, 16]
    with background_work():
        on_one = in_background(np, square, range(5), total, (5,), np.float64)
        assert isinstance(on_one, np.ndarray)       # one thread: nothing to hand over
        with using_threads(2):
            d = in_background(np, square, range(5), total, (5,), np.float64)
            assert isinstance(d, Deferred) and d.shape == (5,) and d.dtype == np.float64
            assert d.result().tolist() == [0, 1, 4, 9, 16] and d.result() is d.result()


def test_background_work_finishes_every_deferred_even_when_the_block_raises():
    release, done = threading.Event(), []

    def slow(i):
        release.wait(5)
        time.sleep(0.01)
        done.append(i)
        return i
    with using_threads(2):
        with pytest.raises(RuntimeError, match="the block failed"):
            with background_work():
                in_background(np, slow, range(4), list, (4,), np.float64)
                release.set()
                raise RuntimeError("the block failed")
        assert sorted(done) == [0, 1, 2, 3]     # all ran before the block was left


def test_a_deferred_pieces_exception_is_raised_by_result():
    def piece(i):
        if i == 1:
            raise ValueError("bad piece")
        return i
    with using_threads(2), pytest.raises(ValueError, match="bad piece"):
        with background_work():
            in_background(np, piece, range(3), list, (3,), np.float64).result()


def test_a_backward_on_threads_resolves_the_deferred_weight_gradients():
    """A two-layer conv net on 2 threads: every .grad is an array (no Deferred is left) and
    equals the one-thread gradient bit for bit, a weight used twice included."""
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((6, 3, 9, 9)).astype(np.float32)
    w0 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    v0 = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    grads = []
    for threads in (1, 2):
        mp = pytest.MonkeyPatch()
        mp.setattr(conv, "_THREADED_COL_BYTES", 0)
        mp.setattr(windows, "_COL_BLOCK_BYTES", 1)     # a block per sample: many pieces
        try:
            with using_threads(threads):
                x, W = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
                V = Tensor(v0, requires_grad=True)
                y = F.conv2d(F.conv2d(x, W, padding=1), V, padding=1) + F.conv2d(x, W, padding=1)
                (y * y).sum().backward()
        finally:
            mp.undo()
        assert all(isinstance(t.grad, np.ndarray) for t in (x, W, V))
        grads.append([x.grad, W.grad, V.grad])
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


def test_work_in_the_background_keeps_at_most_its_budget_of_arrays_alive(monkeypatch):
    """With room for one piece of work's arrays, handing over a second first finishes the
    first (its slow piece would otherwise still be running)."""
    monkeypatch.setattr(minijoint.threads, "_BACKGROUND_BYTES", 100)

    def slow(i):
        time.sleep(0.2)
        return i
    with using_threads(2), background_work():
        first = in_background(np, slow, range(2), list, (2,), np.float64, holds=80)
        assert first.running()
        second = in_background(np, slow, range(2), list, (2,), np.float64, holds=80)
        assert not first.running() and first.result() == [0, 1]
        assert second.result() == [0, 1]
