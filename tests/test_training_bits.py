"""A training run computes the same bits as the code before the speed work did.

The digests in tests/data/training_bits.json were recorded by ``tests/training_bits.py``
run against the commit before the threaded, blocked convolution and the 1-bit spikes
(ed54af9), and the code today must reproduce them bit for bit, on one thread and on two.
Bits depend on NumPy and the BLAS kernels of the CPU, so a digest is only compared on the
machine kind it was recorded on; anywhere else the test skips and says how to record one.
"""
import pytest

from minijoint.threads import using_threads
from minijoint.functional import conv, windows

from training_bits import RUNS, machine_key, recorded


def _recorded_or_skip(name):
    want = recorded(machine_key()).get(name)
    if want is None:
        pytest.skip(f"no digest recorded for this machine ({machine_key()}); record one with "
                    "`python tests/training_bits.py --record`, run on the code before a change")
    return want


@pytest.mark.parametrize("name", sorted(RUNS))
def test_training_reproduces_the_recorded_bits(name):
    assert RUNS[name]() == _recorded_or_skip(name)


def test_training_on_two_threads_reproduces_the_recorded_bits(monkeypatch):
    want = _recorded_or_skip("resnet18 float32")
    monkeypatch.setattr(conv, "_THREADED_COL_BYTES", 0)   # these small convs on the threads
    with using_threads(2):
        assert RUNS["resnet18 float32"]() == want


def test_the_digest_sees_a_change_in_the_order_of_a_sum(monkeypatch):
    """The planted change: one sample per block, so each gradient gW is summed over the batch
    in another order. Every value is as right as before, and the digest must still differ."""
    want = _recorded_or_skip("resnet18 float32")
    monkeypatch.setattr(windows, "_COL_BLOCK_BYTES", 1)
    assert RUNS["resnet18 float32"]() != want
