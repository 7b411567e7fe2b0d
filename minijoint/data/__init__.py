r"""Datasets and batches (docs/method.md §9). Knows no network: imports only the engine.

* :func:`load_digits` — the built-in default (scikit-learn's 8×8 digits, fixed split)
* :func:`load_cifar10`, :func:`load_cifar100`, :func:`load_tiny_imagenet` — read from a
  path you give; never download
* :func:`load_dataset` — any of them by name, with a :class:`DatasetInfo`
* :class:`DataLoader` — seeded, resumable mini-batches on the active backend
* :func:`random_crop`, :func:`horizontal_flip`, :func:`cifar_augment`, :func:`normalize`
"""
from .digits import *  # noqa: F401,F403
from .cifar import *  # noqa: F401,F403
from .tiny_imagenet import *  # noqa: F401,F403
from .augment import *  # noqa: F401,F403
from .loader import *  # noqa: F401,F403
