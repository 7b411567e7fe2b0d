r"""Tiny-ImageNet (200 classes, 64×64 RGB) from its standard folder (docs/method.md §9). Never downloads.

Expected layout under ``root`` (the extracted ``tiny-imagenet-200/`` folder, or a folder
containing it)::

    wnids.txt                         one WordNet id per line; line k is class k
    train/<wnid>/images/*.JPEG        500 training images per class
    val/images/*.JPEG                 10,000 validation images
    val/val_annotations.txt           "<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>" per line

The labelled validation set serves as the test split (the official test images carry no
labels). Labels follow the order of ``wnids.txt``. Images are decoded with Pillow (a
dependency of matplotlib); grey images are converted to RGB.

Returned layout: ``(x_train, y_train), (x_test, y_test)`` with x float32 (N, 3, 64, 64)
in [0, 1] (pixel / 255) and y int64, NumPy on the host.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_tiny_imagenet", "tiny_imagenet_classes", "TINY_IMAGENET_MEAN", "TINY_IMAGENET_STD"]

# Per-channel statistics of the Tiny-ImageNet training images in [0, 1].
TINY_IMAGENET_MEAN = (0.4802, 0.4481, 0.3975)
TINY_IMAGENET_STD = (0.2302, 0.2265, 0.2262)

_FOLDER = "tiny-imagenet-200"
_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
_EXPECTED = (
    "minijoint never downloads. Expected the extracted folder tiny-imagenet-200/ (or a folder "
    "containing it) with:\n"
    "  wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, val/val_annotations.txt.\n"
    f"Get tiny-imagenet-200.zip from {_URL} (see https://www.image-net.org) and unzip it.")


def _locate(root) -> Path:
    path = Path(root).expanduser()
    for folder in (path, path / _FOLDER):
        if (folder / "wnids.txt").is_file():
            missing = [p for p in ("train", "val/images", "val/val_annotations.txt")
                       if not (folder / p).exists()]
            if missing:
                raise FileNotFoundError(f"Tiny-ImageNet: '{folder}' lacks {', '.join(missing)}.\n"
                                        + _EXPECTED)
            return folder
    if path.is_file() and path.suffix == ".zip":
        raise FileNotFoundError(f"Tiny-ImageNet: '{path}' is the zip archive; unzip it and pass "
                                f"the folder.\n" + _EXPECTED)
    raise FileNotFoundError(f"Tiny-ImageNet not found at '{path}' (no wnids.txt there or in "
                            f"{_FOLDER}/ below it).\n" + _EXPECTED)


def _read_image(path: Path) -> np.ndarray:
    """uint8 (3, 64, 64) from one image file; ValueError for an unreadable or wrong-size image."""
    from PIL import Image  # Pillow ships with matplotlib

    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise ValueError(f"Tiny-ImageNet: cannot decode image '{path}' "
                         f"({type(err).__name__}: {err})") from err
    if a.shape != (64, 64, 3):
        raise ValueError(f"Tiny-ImageNet: image '{path}' must be 64×64 RGB, "
                         f"got {a.shape[1]}×{a.shape[0]}")
    return a.transpose(2, 0, 1)


def _stack(files, labels):
    x = np.empty((len(files), 3, 64, 64), dtype=np.uint8)
    for i, f in enumerate(files):
        x[i] = _read_image(f)
    x = x.astype(np.float32)
    x /= np.float32(255.0)
    return x, np.asarray(labels, dtype=np.int64).reshape(-1)


def _images_in(folder: Path):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def tiny_imagenet_classes(root) -> list:
    """The class ids (wnids) in label order: the lines of ``wnids.txt`` under ``root``."""
    path = _locate(root) / "wnids.txt"
    wnids = [w.strip() for w in path.read_text().splitlines() if w.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise ValueError(f"Tiny-ImageNet: '{path}' must list distinct class ids, one per line; "
                         f"got {len(wnids)} lines, {len(set(wnids))} distinct")
    return wnids


def load_tiny_imagenet(root, limit_per_class: int | None = None):
    r"""Tiny-ImageNet as ``((x_train, y_train), (x_test, y_test))`` (test = the labelled val set).

    x float32 (N, 3, 64, 64) in [0, 1], y int64 in 0..199 (the line of the class in
    ``wnids.txt``). ``limit_per_class=k`` keeps, for quick runs, the first k images of each
    class: by file name in train, in annotation order in val (``k=10`` reads 2,000 + 2,000).
    """
    if root is None:
        raise ValueError("Tiny-ImageNet: a root path is needed.\n" + _EXPECTED)
    if limit_per_class is not None and (not isinstance(limit_per_class, (int, np.integer))
                                        or limit_per_class < 1):
        raise ValueError(f"load_tiny_imagenet: limit_per_class must be a positive integer or "
                         f"None, got {limit_per_class!r}")
    folder = _locate(root)
    wnids = tiny_imagenet_classes(folder)
    label_of = {w: k for k, w in enumerate(wnids)}
    cap = limit_per_class

    train_files, train_labels = [], []
    for k, w in enumerate(wnids):
        images = folder / "train" / w / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"Tiny-ImageNet: class {w} (line {k + 1} of wnids.txt) has "
                                    f"no folder '{images}'.\n" + _EXPECTED)
        files = _images_in(images)[:cap]
        train_files += files
        train_labels += [k] * len(files)

    val_files, val_labels, seen = [], [], {}
    annotations = folder / "val" / "val_annotations.txt"
    for n, line in enumerate(annotations.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2 or fields[1] not in label_of:
            raise ValueError(f"Tiny-ImageNet: '{annotations}' line {n} must read "
                             f"'<file>\\t<wnid>\\t...' with a wnid from wnids.txt, got {line!r}")
        k = label_of[fields[1]]
        if cap is not None and seen.get(k, 0) >= cap:
            continue
        seen[k] = seen.get(k, 0) + 1
        f = folder / "val" / "images" / fields[0]
        if not f.is_file():
            raise FileNotFoundError(f"Tiny-ImageNet: '{annotations}' line {n} names '{f}', "
                                    f"which does not exist.\n" + _EXPECTED)
        val_files.append(f)
        val_labels.append(k)
    return _stack(train_files, train_labels), _stack(val_files, val_labels)
