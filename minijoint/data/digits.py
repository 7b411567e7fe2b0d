r"""The embedded default dataset: UCI handwritten digits, bundled with scikit-learn (docs/method.md §9).

1,797 grey images of 8×8 pixels with values 0…16, ten classes (0–9), about 180 per class.
They ship inside scikit-learn, so nothing is ever downloaded. minijoint splits them once,
stratified and with a fixed seed, into 1,437 training and 360 test images.

Returned layout (the same for every loader in :mod:`minijoint.data`)::

    (x_train, y_train), (x_test, y_test)
    x: float32 (N, 1, 8, 8) in [0, 1]  (pixel / 16)
    y: int64   (N,)          in {0, …, 9}
"""
from __future__ import annotations

import numpy as np

__all__ = ["load_digits", "stratified_split", "DIGITS_TEST_SIZE", "DIGITS_SEED"]

DIGITS_TEST_SIZE = 360  # 1797 - 360 = 1437 training images
DIGITS_SEED = 0


def stratified_split(y, test_size: int, seed: int = 0):
    r"""Indices ``(train_idx, test_idx)`` with each class represented in proportion.

    Class :math:`k` with :math:`n_k` samples gets :math:`t_k` test samples, where
    :math:`t_k = \lfloor \text{test\_size}\cdot n_k / N \rfloor` plus one for the classes with
    the largest remainders (ties to the lower class index) until
    :math:`\sum_k t_k = \text{test\_size}`. Within a class the test samples are the first
    :math:`t_k` of a permutation drawn from ``np.random.default_rng(seed)``, classes visited
    in ascending order, so the split depends only on ``y``, ``test_size`` and ``seed``.
    Both index arrays are sorted ascending (int64).
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"stratified_split: y must be a 1-D integer array, got "
                         f"shape {y.shape} dtype {y.dtype}")
    n = len(y)
    if not 0 < test_size < n:
        raise ValueError(f"stratified_split: test_size must be in 1..{n - 1} for {n} samples, "
                         f"got {test_size}")
    classes, counts = np.unique(y, return_counts=True)
    share = test_size * counts / n
    n_test = np.floor(share).astype(np.int64)
    short = test_size - int(n_test.sum())
    # largest remainder first; a stable sort keeps the lower class index first on ties
    order = np.argsort(-(share - n_test), kind="stable")
    n_test[order[:short]] += 1

    rng = np.random.default_rng(seed)
    test_idx = []
    for k, t in zip(classes, n_test):
        members = np.flatnonzero(y == k)
        test_idx.append(members[rng.permutation(len(members))[:t]])
    test_idx = np.sort(np.concatenate(test_idx)).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    train_idx = np.flatnonzero(~is_test).astype(np.int64)
    return train_idx, test_idx


def load_digits(test_size: int = DIGITS_TEST_SIZE, seed: int = DIGITS_SEED):
    r"""The scikit-learn digits as ``((x_train, y_train), (x_test, y_test))``, NumPy on the host.

    x is float32 (N, 1, 8, 8) scaled to [0, 1] by :math:`x = \text{pixel}/16`; y is int64.
    The defaults give the fixed split used throughout minijoint: 1,437 train / 360 test,
    stratified by class (see :func:`stratified_split`).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(y, test_size, seed)
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])
