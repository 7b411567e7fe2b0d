r"""Seeded random numbers, so a run is reproducible.

Every random draw in minijoint (initial weights, shuffling, augmentation) comes from a
NumPy ``Generator`` on the host, so NumPy and CuPy runs start from identical weights.
``minijoint.random.seed(s)`` resets the shared generator; functions that draw also take
an explicit ``rng`` argument.
"""
from __future__ import annotations

import numpy as np

_rng = [np.random.default_rng(0)]


def seed(s: int) -> None:
    """Reset the shared generator to seed ``s`` (a whole number >= 0)."""
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
        raise ValueError(f"minijoint.random.seed: expected a whole number >= 0, got {s!r}")
    _rng[0] = np.random.default_rng(s)


def get_rng(rng: np.random.Generator | None = None) -> np.random.Generator:
    """``rng`` if given, else the shared generator."""
    return _rng[0] if rng is None else rng
