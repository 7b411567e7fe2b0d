r"""Batches for training: :class:`DataLoader`, and :func:`load_dataset` by name.

The loader moves the whole dataset to the active backend once, at construction; each
batch is then a gather on the device. Epoch ``e`` is shuffled by
``np.random.default_rng([seed, e])`` and augmented by ``np.random.default_rng([seed, e, 1])``,
so any epoch can be replayed on its own (``set_epoch(e)``): a resumed run sees the same
batches as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..tensor import Tensor
from .augment import normalize as _normalize
from .cifar import (CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, load_cifar10,
                    load_cifar100)
from .digits import load_digits
from .tiny_imagenet import (TINY_IMAGENET_MEAN, TINY_IMAGENET_STD, load_tiny_imagenet,
                            tiny_imagenet_classes)

__all__ = ["DataLoader", "DatasetInfo", "load_dataset", "DATASETS"]


class DataLoader:
    r"""Iterate over ``(x, y)`` in mini-batches: yields ``(Tensor xb, yb)``.

    x: array (N, ...) (e.g. float32 (N, C, H, W)), kept in its dtype; y: integer array (N,),
    yielded as an int64 array. Both live on the backend that was active when the loader was
    built. ``augment``, if given, is called as ``augment(xb, rng)`` on each raw device batch
    (e.g. :func:`~minijoint.data.cifar_augment`). ``len(loader)`` is the number of batches:
    :math:`\lceil N/B \rceil`, or :math:`\lfloor N/B \rfloor` with ``drop_last``.

    Each ``iter(loader)`` runs the next epoch (0, 1, 2, …); ``set_epoch(e)`` makes the next
    iteration epoch ``e``.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, augment=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative integer, got {seed!r}")
        if augment is not None and not callable(augment):
            raise TypeError(f"DataLoader: augment must be a callable augment(x, rng) or None, "
                            f"got {type(augment).__name__}")
        x = x.data if isinstance(x, Tensor) else x
        x_shape, y_shape = np.shape(x), np.shape(y)
        if len(x_shape) < 1 or len(y_shape) != 1 or x_shape[0] != y_shape[0]:
            raise ValueError(f"DataLoader: x must be (N, ...) and y must be (N,) with the same N, "
                             f"got x shape {x_shape} and y shape {y_shape}")
        y_dtype = y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype
        if y_dtype.kind not in "iu":
            raise TypeError(f"DataLoader: y must hold integer class labels, got dtype {y_dtype}")
        self.x = backend.to_device(x)  # the only host -> device copy
        self.y = backend.to_device(y, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.augment = augment
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch`` (e.g. when resuming)."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be a non-negative integer, "
                             f"got {epoch!r}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of epoch ``epoch`` (host int64 array of length N)."""
        n = self.num_samples
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        return self._batches(epoch)

    def _batches(self, epoch: int):
        xp = backend.get_array_module(self.x)
        order = xp.asarray(self.order(epoch))  # one small copy per epoch
        aug_rng = np.random.default_rng([self.seed, epoch, 1])
        B = self.batch_size
        for i in range(len(self)):
            idx = order[i * B:(i + 1) * B]
            xb, yb = self.x[idx], self.y[idx]
            if self.augment is not None:
                xb = self.augment(xb, aug_rng)
            yield Tensor(xb), yb


@dataclass(frozen=True)
class DatasetInfo:
    """What a network needs to know about a dataset: classes, channels, image size, stats."""
    name: str
    num_classes: int
    in_channels: int
    image_size: tuple  # (H, W)
    mean: tuple        # per channel, of the training images in [0, 1]
    std: tuple


DATASETS = ("digits", "cifar10", "cifar100", "tiny-imagenet")


def load_dataset(name: str, root=None, normalize: bool = False, **options):
    r"""Load a dataset by name: ``(x_train, y_train), (x_test, y_test), info = load_dataset(...)``.

    name: one of ``DATASETS``; ``"digits"`` needs no ``root``, the others need the path
    their loader documents (:func:`load_cifar10`, :func:`load_cifar100`,
    :func:`load_tiny_imagenet`). ``options`` go to that loader (e.g. ``limit_per_class``,
    ``label_mode``). With ``normalize=True`` x is standardized per channel with ``info.mean``
    and ``info.std``; otherwise x stays in [0, 1]. Returns NumPy arrays and a
    :class:`DatasetInfo`.
    """
    key = str(name).lower().replace("_", "-")
    aliases = {"cifar-10": "cifar10", "cifar-100": "cifar100", "tinyimagenet": "tiny-imagenet"}
    key = aliases.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if key != "digits" and root is None:
        raise ValueError(f"load_dataset({key!r}) needs root=<path to the dataset files>; "
                         f"minijoint never downloads (only 'digits' is built in)")
    if key == "digits":
        (x_tr, y_tr), (x_te, y_te) = load_digits(**options)
        mean, std = (float(x_tr.mean()),), (float(x_tr.std()),)
        info = DatasetInfo("digits", 10, 1, (8, 8), mean, std)
    elif key == "cifar10":
        (x_tr, y_tr), (x_te, y_te) = load_cifar10(root, **options)
        info = DatasetInfo("cifar10", 10, 3, (32, 32), CIFAR10_MEAN, CIFAR10_STD)
    elif key == "cifar100":
        (x_tr, y_tr), (x_te, y_te) = load_cifar100(root, **options)
        k = 20 if options.get("label_mode") == "coarse" else 100
        info = DatasetInfo("cifar100", k, 3, (32, 32), CIFAR100_MEAN, CIFAR100_STD)
    else:
        (x_tr, y_tr), (x_te, y_te) = load_tiny_imagenet(root, **options)
        k = len(tiny_imagenet_classes(root))  # 200 for the official folder
        info = DatasetInfo("tiny-imagenet", k, 3, (64, 64), TINY_IMAGENET_MEAN, TINY_IMAGENET_STD)
    if normalize:
        x_tr, x_te = _normalize(x_tr, info.mean, info.std), _normalize(x_te, info.mean, info.std)
    return (x_tr, y_tr), (x_te, y_te), info
