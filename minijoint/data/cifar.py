r"""CIFAR-10 and CIFAR-100 from the official "python version" files (docs/method.md §9). Never downloads.

``root`` may be any of

* the archive itself: ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``;
* its extracted folder: ``cifar-10-batches-py/`` (``data_batch_1`` … ``data_batch_5``,
  ``test_batch``) / ``cifar-100-python/`` (``train``, ``test``);
* a folder that contains either of the above (the extracted folder wins).

Each file is a pickle (written by Python 2) of a dict with ``b"data"``, a uint8 array
(n, 3072) whose row is the 1024 red, then 1024 green, then 1024 blue pixels of a 32×32
image in row-major order, and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` /
``b"coarse_labels"`` (CIFAR-100). The row reshapes directly to (3, 32, 32).

Returned layout: ``(x_train, y_train), (x_test, y_test)`` with x float32 (N, 3, 32, 32)
in [0, 1] (pixel / 255) and y int64, NumPy on the host.

The pickles are read with a restricted unpickler that only rebuilds NumPy arrays, so a
file from elsewhere cannot run code while it loads.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .augment import normalize

__all__ = ["load_cifar10", "load_cifar100", "cifar_normalize",
           "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD"]

# Per-channel mean and standard deviation of the training images in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class _Spec:
    title: str        # "CIFAR-10"
    archive: str      # file name of the official archive
    folder: str       # folder the archive extracts to
    train: tuple      # file names of the training batches inside the folder
    test: tuple


_CIFAR10 = _Spec("CIFAR-10", "cifar-10-python.tar.gz", "cifar-10-batches-py",
                 tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",))
_CIFAR100 = _Spec("CIFAR-100", "cifar-100-python.tar.gz", "cifar-100-python",
                  ("train",), ("test",))

# The only globals a CIFAR pickle needs: NumPy's array reconstruction (old and new module
# paths, protocols 2–5) and the latin-1 codec that protocol 2 uses for raw bytes.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def _expected(spec: _Spec) -> str:
    files = ", ".join(spec.train + spec.test)
    return (f"minijoint never downloads. Put one of these there:\n"
            f"  - the archive {spec.archive} (the \"{spec.title} python version\"), "
            f"or a folder holding it;\n"
            f"  - its extracted folder {spec.folder}/ with {files} "
            f"(or a folder that contains {spec.folder}/).\n"
            f"Get the archive from {CIFAR_URL} (\"{spec.title} python version\").")


def _locate(root, spec: _Spec):
    """('archive', path) or ('folder', path) for ``root``; FileNotFoundError otherwise."""
    path = Path(root).expanduser()
    if path.is_file():
        return "archive", path
    if path.is_dir():
        files = spec.train + spec.test
        for folder in (path, path / spec.folder):
            present = [f for f in files if (folder / f).is_file()]
            if folder.is_dir() and (present or folder.name == spec.folder):
                missing = [f for f in files if f not in present]
                if missing:
                    raise FileNotFoundError(
                        f"{spec.title}: folder '{folder}' lacks {', '.join(missing)}.\n"
                        + _expected(spec))
                return "folder", folder
        if (path / spec.archive).is_file():
            return "archive", path / spec.archive
    raise FileNotFoundError(f"{spec.title} not found at '{path}'.\n" + _expected(spec))


def _read_files(kind: str, path: Path, spec: _Spec) -> dict:
    """Raw bytes of every batch file, by name, from the folder or (in one pass) the archive."""
    names = spec.train + spec.test
    if kind == "folder":
        return {n: (path / n).read_bytes() for n in names}
    found = {}
    try:
        with tarfile.open(path, "r|gz") as tar:  # stream: one sequential pass
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and parts[-1] in names and parts[:-1] in ([], [spec.folder]):
                    found[parts[-1]] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as err:  # zlib.error is an OSError too
        raise ValueError(f"{spec.title}: '{path}' is not a readable .tar.gz archive "
                         f"({type(err).__name__}: {err}). Expected the official "
                         f"{spec.archive} from {CIFAR_URL}.") from err
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{spec.title}: archive '{path}' has no {spec.folder}/"
                         f"{', '.join(missing)}; is it the official {spec.archive}?")
    return found


def _parse_batch(raw: bytes, where: str, label_key: str, num_classes: int):
    """(uint8 (n, 3072), int64 (n,)) from one pickled batch; ValueError saying what is wrong."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # truncated, corrupt or foreign pickles fail in many ways
        raise ValueError(f"{where}: not a valid CIFAR pickle ({type(err).__name__}: {err}); "
                         f"the file may be truncated, re-extract it from the archive") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a pickled dict with 'data' and '{label_key}', "
                         f"got {type(obj).__name__}")
    obj = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in obj or label_key not in obj:
        raise ValueError(f"{where}: expected keys 'data' and '{label_key}', "
                         f"got {sorted(map(str, obj))}")
    data, labels = obj["data"], np.asarray(obj[label_key])
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{where}: 'data' must be an array (n, 3072) = 3×32×32 pixels per row, "
                         f"got {getattr(data, 'shape', type(data).__name__)}")
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu" or data.size and (data.min() < 0 or data.max() > 255):
            raise ValueError(f"{where}: 'data' must hold uint8 pixels 0..255, got {data.dtype}")
        data = data.astype(np.uint8)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise ValueError(f"{where}: '{label_key}' must be {len(data)} integers (one per row of "
                         f"'data'), got shape {labels.shape} dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{where}: labels must lie in 0..{num_classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    return data, labels.astype(np.int64)


def _load(root, spec: _Spec, label_key: str, num_classes: int):
    if root is None:
        raise ValueError(f"{spec.title}: a root path is needed.\n" + _expected(spec))
    kind, path = _locate(root, spec)
    raw = _read_files(kind, path, spec)
    out = []
    for names in (spec.train, spec.test):
        parts = [_parse_batch(raw[n], f"{spec.title} file '{path}{'/' if kind == 'folder' else ':'}"
                              f"{n}'", label_key, num_classes) for n in names]
        x = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32).astype(np.float32)
        x /= np.float32(255.0)
        out.append((x, np.concatenate([p[1] for p in parts])))
    return tuple(out)


def load_cifar10(root):
    r"""CIFAR-10 as ``((x_train, y_train), (x_test, y_test))``: 50,000 / 10,000 images,
    x float32 (N, 3, 32, 32) in [0, 1], y int64 in 0..9. See the module docstring for ``root``."""
    return _load(root, _CIFAR10, "labels", 10)


def load_cifar100(root, label_mode: str = "fine"):
    r"""CIFAR-100 as ``((x_train, y_train), (x_test, y_test))``: 50,000 / 10,000 images,
    x float32 (N, 3, 32, 32) in [0, 1], y int64: the 100 ``"fine"`` classes (default) or
    the 20 ``"coarse"`` superclasses. See the module docstring for ``root``."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"load_cifar100: label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    return _load(root, _CIFAR100, f"{label_mode}_labels", 100 if label_mode == "fine" else 20)


def cifar_normalize(x, dataset: str = "cifar10"):
    r"""Standardize CIFAR images per channel, :math:`(x - \mu_c)/\sigma_c`, with the standard
    training-set statistics (``CIFAR10_MEAN``/``CIFAR10_STD`` or the CIFAR-100 ones).
    x: (N, 3, H, W) or (3, H, W) float array on either backend; returns the same shape."""
    stats = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD)}
    if dataset not in stats:
        raise ValueError(f"cifar_normalize: dataset must be 'cifar10' or 'cifar100', got {dataset!r}")
    return normalize(x, *stats[dataset])
