r"""Initial values for parameters.

Kaiming (He et al., 2015) keeps the variance of activations constant through ReLU
layers: with ``fan_in`` inputs per output (``C·KH·KW`` for a convolution, ``in`` for a
linear layer),

    normal:   W ~ N(0, σ²),        σ = √(2 / fan_in)
    uniform:  W ~ U(−a, a),        a = √(6 / fan_in)   (same variance a²/3 = 2/fan_in)

Every draw is made on the host by a NumPy Generator (:func:`minijoint.random.get_rng`)
in float64, then cast to the default dtype and copied to the active backend, so a seed
gives the same weights under NumPy and CuPy, float32 and float64 (up to rounding).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..random import get_rng

__all__ = ["kaiming_normal", "kaiming_uniform", "zeros", "ones"]


def _check_shape(fn: str, shape) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"{fn}: shape must be non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def _check_fan_in(fn: str, fan_in) -> float:
    if isinstance(fan_in, bool) or not isinstance(fan_in, (int, float, np.integer, np.floating)) \
            or not fan_in > 0:
        raise ValueError(f"{fn}: fan_in must be a positive number, got {fan_in!r}")
    return float(fan_in)


def _on_device(host: np.ndarray, dtype):
    return backend.to_device(host, dtype=backend.get_default_dtype() if dtype is None else dtype)


def kaiming_normal(shape, fan_in, rng=None, dtype=None):
    r"""An array of ``shape`` drawn from N(0, 2/fan_in) (He normal, for ReLU layers)."""
    shape = _check_shape("kaiming_normal", shape)
    std = math.sqrt(2.0 / _check_fan_in("kaiming_normal", fan_in))
    return _on_device(get_rng(rng).standard_normal(shape) * std, dtype)


def kaiming_uniform(shape, fan_in, rng=None, dtype=None):
    r"""An array of ``shape`` drawn from U(−a, a), a = √(6/fan_in) (He uniform)."""
    shape = _check_shape("kaiming_uniform", shape)
    bound = math.sqrt(6.0 / _check_fan_in("kaiming_uniform", fan_in))
    return _on_device(get_rng(rng).uniform(-bound, bound, size=shape), dtype)


def zeros(shape, dtype=None):
    """An array of zeros on the active backend (default dtype unless given)."""
    return _on_device(np.zeros(_check_shape("zeros", shape)), dtype)


def ones(shape, dtype=None):
    """An array of ones on the active backend (default dtype unless given)."""
    return _on_device(np.ones(_check_shape("ones", shape)), dtype)
