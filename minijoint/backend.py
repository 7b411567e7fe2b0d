r"""One array module for NumPy and CuPy.

Every op starts with ``xp = get_array_module(x)`` and allocates its buffers with the
input's dtype, so the same code runs on the CPU (NumPy) and on an NVIDIA GPU (CuPy).
*New* arrays (parameters, data) are created on the **active** backend, which is NumPy
unless :func:`set_backend` chose CuPy. Data crosses between host and device only in
:func:`to_device` and :func:`to_host`.

CuPy is used only when it imports *and* a CUDA device is present.
"""
from __future__ import annotations

import contextlib

import numpy as np

try:  # CuPy is an optional extra for GPU machines.
    import cupy as _cupy
except Exception:  # ImportError, or a broken CUDA install
    _cupy = None

_BACKENDS = ("numpy", "cupy")
_state = {"name": "numpy", "dtype": np.dtype(np.float32)}


_INSTALL = ("pip install 'cupy-cuda12x[ctk]' (CUDA 12 driver) or 'cupy-cuda13x[ctk]' "
            "(CUDA 13 driver), on a machine with an NVIDIA GPU")
_probed = {"module": None, "problem": None}  # gpu_problem's answer for the CuPy it probed


def gpu_problem() -> str | None:
    """Why the CuPy backend cannot be used here, or None when it can.

    The reason names what is missing: CuPy itself; a CUDA device, with CUDA's own error (a
    driver too old for the CuPy wheel reads ``cudaErrorInsufficientDriver``); or the CUDA
    libraries CuPy compiles and multiplies with (NVRTC, cuBLAS), found by running one small
    kernel and one matrix product. The probe runs once per process.
    """
    if _cupy is None:
        return f"CuPy is not installed: {_INSTALL}"
    if _probed["module"] is not _cupy:
        _probed["problem"], _probed["module"] = _probe(_cupy), _cupy
    return _probed["problem"]


def _probe(cupy) -> str | None:
    version = f"CuPy {cupy.__version__}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError, or a missing libcudart
        return f"{version} is installed but CUDA could not be used ({type(e).__name__}: {e})"
    if count < 1:
        return f"{version} is installed but no CUDA device was found"
    try:  # an elementwise kernel (compiled by NVRTC) and a product (cuBLAS)
        a = cupy.arange(4, dtype=np.float32).reshape(2, 2)
        float(((a * 2) @ a).sum())
    except Exception as e:
        return (f"{version} sees {count} CUDA device(s) but could not run a kernel "
                f"({type(e).__name__}: {e}); the CUDA libraries may be missing: "
                f"install the CUDA Toolkit, or {_INSTALL}")
    return None


def gpu_available() -> bool:
    """True when CuPy imports, sees a CUDA device and runs a kernel on it."""
    return gpu_problem() is None


def _module(name: str):
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}: expected one of {_BACKENDS}")
    if name == "cupy":
        problem = gpu_problem()
        if problem is not None:
            raise RuntimeError(f"backend 'cupy' cannot be used here: {problem}")
        return _cupy
    return np


def set_backend(name: str) -> None:
    """Make ``"numpy"`` or ``"cupy"`` the backend on which new arrays are created."""
    _module(name)  # validates
    _state["name"] = name


def get_backend() -> str:
    """Name of the active backend, ``"numpy"`` or ``"cupy"``."""
    return _state["name"]


@contextlib.contextmanager
def using_backend(name: str):
    """Context manager: ``with using_backend("cupy"): ...`` restores the previous backend."""
    old = get_backend()
    set_backend(name)
    try:
        yield _module(name)
    finally:
        set_backend(old)


def active_xp():
    """The array module of the active backend (``numpy`` or ``cupy``)."""
    return _module(_state["name"])


def get_array_module(*arrays):
    """The module (``numpy`` or ``cupy``) that owns these arrays; NumPy for plain scalars."""
    if _cupy is not None:
        return _cupy.get_array_module(*arrays)
    return np


def is_cupy_array(a) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def to_device(a, dtype=None):
    """Copy ``a`` (array, list or scalar) onto the active backend, optionally casting."""
    xp = active_xp()
    if xp is np:
        a = to_host(a)
    return xp.asarray(a, dtype=dtype)


def to_host(a):
    """A NumPy array holding ``a`` (a CuPy array is copied from the device)."""
    if is_cupy_array(a):
        return _cupy.asnumpy(a)
    return np.asarray(a)


def set_default_dtype(dtype) -> None:
    """Floating dtype for new tensors and parameters: float32 (training) or float64 (checks)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _state["dtype"] = dtype


def get_default_dtype() -> np.dtype:
    return _state["dtype"]


@contextlib.contextmanager
def default_dtype(dtype):
    """Context manager: ``with default_dtype(np.float64): ...`` (used by gradient checks)."""
    old = get_default_dtype()
    set_default_dtype(dtype)
    try:
        yield
    finally:
        set_default_dtype(old)
