"""The backend: choosing NumPy or CuPy, moving data, the default dtype."""
import re
from pathlib import Path

import numpy as np
import pytest

import minijoint
from minijoint import backend


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu': expected one of \('numpy', 'cupy'\)"):
        minijoint.set_backend("tpu")
    assert minijoint.get_backend() == "numpy"


def test_cupy_here_is_used_or_refused_with_the_reason():
    """Runs on every machine: with a usable GPU the backend switches to CuPy; without one,
    ``set_backend`` refuses with this machine's own reason (``gpu_problem()``)."""
    problem = minijoint.gpu_problem()
    if problem is None:
        with minijoint.using_backend("cupy"):
            assert minijoint.get_backend() == "cupy"
            assert backend.is_cupy_array(backend.to_device([1.0]))
    else:
        with pytest.raises(RuntimeError, match=r"backend 'cupy' cannot be used here: "
                                               + re.escape(problem)):
            minijoint.set_backend("cupy")
    assert minijoint.get_backend() == "numpy"


class _FakeCuPy:
    """Stands in for the ``cupy`` module: ``count`` devices (or ``device_error`` raised by
    ``cuda.runtime.getDeviceCount``), and arrays from NumPy unless ``kernel_error``."""

    __version__ = "14.2.0"

    def __init__(self, count=1, device_error=None, kernel_error=None):
        self.device_calls = 0
        fake = self

        class runtime:  # noqa: N801 (CuPy's name)
            @staticmethod
            def getDeviceCount():  # noqa: N802
                fake.device_calls += 1
                if device_error is not None:
                    raise device_error
                return count

        self.cuda = type("cuda", (), {"runtime": runtime})
        self.kernel_error = kernel_error

    def arange(self, *args, **kwargs):
        if self.kernel_error is not None:
            raise self.kernel_error
        return np.arange(*args, **kwargs)


_DRIVER = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient "
                       "for CUDA runtime version")
_NVRTC = RuntimeError("DynamicLibNotFoundError: libnvrtc.so.13")


@pytest.mark.parametrize("fake, reason", [
    (None, r"CuPy is not installed: pip install 'cupy-cuda12x\[ctk\]' \(CUDA 12 driver\) "
           r"or 'cupy-cuda13x\[ctk\]' \(CUDA 13 driver\)"),
    (_FakeCuPy(count=0), r"CuPy 14\.2\.0 is installed but no CUDA device was found"),
    (_FakeCuPy(device_error=_DRIVER),
     r"CuPy 14\.2\.0 is installed but CUDA could not be used \(RuntimeError: "
     r"cudaErrorInsufficientDriver: CUDA driver version is insufficient"),
    (_FakeCuPy(kernel_error=_NVRTC),
     r"CuPy 14\.2\.0 sees 1 CUDA device\(s\) but could not run a kernel \(RuntimeError: "
     r"DynamicLibNotFoundError: libnvrtc\.so\.13\); the CUDA libraries may be missing"),
], ids=["no-cupy", "no-device", "old-driver", "no-nvrtc"])
def test_each_reason_the_gpu_is_unusable_is_named(monkeypatch, fake, reason):
    monkeypatch.setattr(backend, "_cupy", fake)
    assert not minijoint.gpu_available()
    assert re.match(reason, minijoint.gpu_problem())
    with pytest.raises(RuntimeError, match=r"backend 'cupy' cannot be used here: " + reason):
        minijoint.set_backend("cupy")
    assert minijoint.get_backend() == "numpy"


def test_a_working_device_is_probed_once(monkeypatch):
    fake = _FakeCuPy(count=2)
    monkeypatch.setattr(backend, "_cupy", fake)
    assert minijoint.gpu_problem() is None and minijoint.gpu_available()
    assert fake.device_calls == 1          # the answer is kept: to_device asks on every call
    other = _FakeCuPy(count=0)             # ... for the CuPy it probed, not another one
    monkeypatch.setattr(backend, "_cupy", other)
    assert "no CUDA device" in minijoint.gpu_problem() and other.device_calls == 1


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


def _xp_names() -> set[str]:
    """Every ``xp.name`` (and ``xp.linalg.name`` ...) the package's source calls or reads."""
    root = Path(minijoint.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        found.update(re.findall(r"\bxp\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)",
                                path.read_text()))
    return found


def _missing(module, names) -> list[str]:
    def has(dotted):
        obj = module
        for part in dotted.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return sorted(n for n in names if not has(n))


def test_the_xp_scan_finds_the_array_api_the_package_uses():
    names = _xp_names()
    assert {"zeros", "empty", "matmul", "pad", "add.at"} <= names, sorted(names)
    assert _missing(np, names) == []
    assert _missing(np, {"no_such_function"}) == ["no_such_function"]  # the check can fail


def test_every_xp_name_exists_in_cupy():
    """Runs wherever CuPy imports, with or without a GPU: attributes need no device."""
    cupy = pytest.importorskip("cupy")
    assert _missing(cupy, _xp_names()) == []
