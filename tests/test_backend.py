"""The backend: choosing NumPy or CuPy, moving data, the default dtype."""
import numpy as np
import pytest

import minijoint
from minijoint import backend


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu': expected one of \('numpy', 'cupy'\)"):
        minijoint.set_backend("tpu")
    assert minijoint.get_backend() == "numpy"


@pytest.mark.skipif(minijoint.gpu_available(), reason="CuPy and a device are present")
def test_cupy_without_cupy_or_device_says_which_is_missing():
    with pytest.raises(RuntimeError, match="needs CuPy, which is not installed|no CUDA device was found"):
        minijoint.set_backend("cupy")
    assert minijoint.get_backend() == "numpy"


def test_using_backend_restores_previous():
    with minijoint.using_backend("numpy") as xp:
        assert xp is np
    assert minijoint.get_backend() == "numpy"


def test_default_dtype_and_data_movement():
    assert minijoint.Tensor([1.0, 2.0]).dtype == np.float32
    with minijoint.default_dtype(np.float64):
        assert minijoint.Tensor([1.0]).dtype == np.float64
    assert minijoint.get_default_dtype() == np.float32
    assert minijoint.Tensor(np.ones(2, np.float64)).dtype == np.float64  # arrays keep theirs
    assert minijoint.Tensor([1, 2]).dtype.kind == "i"
    with pytest.raises(ValueError, match="float32 or float64"):
        minijoint.set_default_dtype(np.float16)
    a = backend.to_device([1.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(backend.to_host(a), [1.0, 2.0])
    assert isinstance(backend.to_host(a), np.ndarray)


@pytest.mark.gpu
def test_round_trip_through_the_gpu():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with minijoint.using_backend("cupy"):
        d = backend.to_device(x)
        assert backend.is_cupy_array(d)
        np.testing.assert_array_equal(backend.to_host(d * 2), x * 2)
