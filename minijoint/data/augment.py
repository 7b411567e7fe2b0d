r"""Batch augmentation on the active backend: random crop with padding, horizontal flip.

Both work on a whole batch ``x`` of shape (N, C, H, W) at once with array operations on
``xp`` (NumPy or CuPy), without a Python loop over images. The random numbers (crop offsets,
flip coins) are drawn on the host from a NumPy ``Generator`` and moved to the device, so a
NumPy run and a CuPy run with the same seed augment identically.

Notation: N batch, C channels, H×W image, P padding, S×S crop, (OY, OX) crop offsets.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..random import get_rng

__all__ = ["random_crop", "horizontal_flip", "cifar_augment", "normalize"]


def _check_batch(x, name):
    if not (isinstance(x, np.ndarray) or backend.is_cupy_array(x)):
        raise TypeError(f"{name}: x must be a NumPy/CuPy array (N, C, H, W) (for a Tensor pass "
                        f"t.data), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name}: x must be 4-D (N, C, H, W), got shape {x.shape}")


def random_crop(x, size=None, padding: int = 4, rng: np.random.Generator | None = None):
    r"""Zero-pad every image by ``padding`` on each side, then cut a random S×S window.

    .. math::
        \tilde x = \text{pad}(x, P),\qquad
        \text{out}[n, c, i, j] = \tilde x[n, c, OY_n + i, OX_n + j],

    with :math:`OY_n \sim U\{0, …, H + 2P - S\}` drawn for the whole batch first, then
    :math:`OX_n \sim U\{0, …, W + 2P - S\}` (``rng.integers``). The window is gathered with
    index arithmetic: rows :math:`OY_n + i` and columns :math:`OX_n + j` broadcast to
    (N, C, S, S) in one fancy-indexing step.

    x: (N, C, H, W) array; size: int S or (SH, SW), default (H, W); returns (N, C, SH, SW)
    in x's dtype on x's device.
    """
    _check_batch(x, "random_crop")
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    if size is None:
        size = (H, W)
    SH, SW = (size, size) if np.isscalar(size) else tuple(size)
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"random_crop: padding must be >= 0, got {padding}")
    if not (0 < SH <= H + 2 * padding and 0 < SW <= W + 2 * padding):
        raise ValueError(f"random_crop: crop size {(SH, SW)} must fit the padded image "
                         f"{(H + 2 * padding, W + 2 * padding)}")
    rng = get_rng(rng)
    oy = rng.integers(0, H + 2 * padding - SH + 1, size=N)
    ox = rng.integers(0, W + 2 * padding - SW + 1, size=N)

    P = padding
    xpad = xp.pad(x, ((0, 0), (0, 0), (P, P), (P, P))) if P else x
    rows = xp.asarray(oy[:, None] + np.arange(SH))  # (N, SH), on x's device
    cols = xp.asarray(ox[:, None] + np.arange(SW))  # (N, SW)
    n = xp.arange(N)[:, None, None, None]
    c = xp.arange(C)[None, :, None, None]
    return xpad[n, c, rows[:, None, :, None], cols[:, None, None, :]]


def horizontal_flip(x, rng: np.random.Generator | None = None, p: float = 0.5):
    r"""Mirror each image left–right with probability ``p``.

    .. math::
        \text{out}[n, c, i, j] = \begin{cases} x[n, c, i, W-1-j] & u_n < p \\
                                               x[n, c, i, j] & \text{otherwise} \end{cases}

    with :math:`u_n \sim U[0, 1)` (``rng.random(N)``). x: (N, C, H, W); returns the same shape.
    """
    _check_batch(x, "horizontal_flip")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"horizontal_flip: p must be in [0, 1], got {p}")
    xp = backend.get_array_module(x)
    flip = get_rng(rng).random(x.shape[0]) < p
    flip = xp.asarray(flip)[:, None, None, None]
    return xp.where(flip, x[..., ::-1], x)


def cifar_augment(rng: np.random.Generator | None = None, padding: int = 4, p: float = 0.5):
    r"""The standard CIFAR training augmentation: ``random_crop`` (pad 4, crop back to H×W)
    then ``horizontal_flip`` (p = 0.5), as one callable ``augment(x, rng=None)``.

    The rng given at call time wins (the :class:`~minijoint.data.DataLoader` passes one
    derived from its seed and the epoch, so augmented epochs are reproducible and
    resumable); without one the callable draws from ``rng`` given here (or the shared
    generator of :mod:`minijoint.random`).
    """
    default_rng = rng

    def augment(x, rng=None):
        rng = get_rng(default_rng if rng is None else rng)
        x = random_crop(x, None, padding=padding, rng=rng)
        return horizontal_flip(x, rng=rng, p=p)

    return augment


def normalize(x, mean, std):
    r"""Per-channel standardization :math:`(x - \mu_c) / \sigma_c` of (N, C, H, W) or (C, H, W).

    ``mean`` and ``std`` are sequences of length C (e.g. the CIFAR values in
    :mod:`minijoint.data.cifar`); the result keeps x's dtype (float32 stays float32).
    """
    xp = backend.get_array_module(x)
    if getattr(x, "dtype", np.dtype(object)).kind != "f":
        raise TypeError(f"normalize: x must be a floating array, got {type(x).__name__} "
                        f"of dtype {getattr(x, 'dtype', None)}")
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    C = x.shape[-3] if x.ndim >= 3 else None
    if C is None or len(mean) != C or len(std) != C:
        raise ValueError(f"normalize: x must be (N, C, H, W) or (C, H, W) with C = len(mean) = "
                         f"len(std), got x shape {x.shape}, {len(mean)} means, {len(std)} stds")
    if np.any(std <= 0):
        raise ValueError(f"normalize: std must be positive, got {std.tolist()}")
    m = xp.asarray(mean.astype(x.dtype)).reshape(C, 1, 1)
    s = xp.asarray(std.astype(x.dtype)).reshape(C, 1, 1)
    return (x - m) / s
