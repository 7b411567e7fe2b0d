r"""Checkpoints that are never half-written.

A checkpoint is one ``.npz`` file: every array under its path (``model/…``, ``optim/…``)
and one JSON string ``meta`` holding everything else (config, epoch, step, scheduler,
metrics history, the optimizer's scalars). It is written to a temporary file in the same
folder, flushed to disk, then renamed over the old one: a crash mid-write leaves the
previous checkpoint intact. A checkpoint never holds NaN or inf: :func:`save_checkpoint`
refuses such arrays, and :func:`load_checkpoint` (``finite=True``) refuses such a file.
"""
from __future__ import annotations

import contextlib
import json
import os
import zipfile

import numpy as np

from ..backend import to_host


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


TEMP_PREFIX = ".tmp-"   # every file minijoint writes is first written as .tmp-<name>-<pid>-<hex>


def write_atomic(path, write) -> None:
    """Write a file all at once or not at all: ``write(f)`` fills a temporary file in the
    same folder (created with the user's umask, like any file), which is flushed to disk
    and renamed over ``path``; the folder's entry is synced too. On any failure the
    temporary file is removed and the old ``path``, if any, is untouched. ``write`` may
    also be ``bytes`` or ``str``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f"{TEMP_PREFIX}{os.path.basename(path)}-{os.getpid()}-"
                               f"{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(write, (bytes, str)):
                f.write(write.encode() if isinstance(write, str) else write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder) -> None:
    """Make the rename itself durable (a crash right after could otherwise undo it)."""
    with contextlib.suppress(OSError):  # not every platform or file system allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def non_finite(arrays: dict) -> list:
    """Names of the floating arrays in ``arrays`` that hold NaN or ±inf, in order."""
    return [k for k, v in arrays.items()
            if getattr(v, "dtype", None) is not None and v.dtype.kind in "fc"
            and not bool(np.isfinite(to_host(v)).all())]


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> array) and ``meta`` (JSON-able, may nest arrays) atomically.

    Refuses (:class:`CheckpointError`, nothing written) when any array holds NaN or inf:
    a checkpoint on disk is always one a run can go on from.
    """
    flat = {f"a/{k}": to_host(v) for k, v in arrays.items()}
    meta = _pack(meta, "m", flat)
    bad = non_finite(flat)
    if bad:
        names = [k.split("/", 1)[1] for k in bad]
        raise CheckpointError(f"refusing to write {path}: {len(bad)} array(s) hold NaN or inf "
                              f"(first: {', '.join(names[:3])})")
    flat["meta"] = np.array(json.dumps(meta))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, **flat))


def load_checkpoint(path, finite: bool = True):
    """``(arrays, meta)`` as saved; a clear :class:`CheckpointError` if unreadable, or (with
    ``finite``) if any array holds NaN or inf, as files written before that was refused can."""
    if os.path.isdir(path):
        raise FileNotFoundError(f"{path} is a folder; pass its checkpoint file "
                                f"({os.path.join(path, 'checkpoint.npz')})")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
        meta = json.loads(str(flat.pop("meta")))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); "
                              "delete it or restore a good copy") from None
    if finite:
        bad = non_finite(flat)
        if bad:
            raise CheckpointError(f"checkpoint {path} holds NaN or inf in {len(bad)} array(s) "
                                  f"(first: {', '.join(k.split('/', 1)[-1] for k in bad[:3])}): "
                                  "it was saved by a run that diverged and cannot be evaluated")
    arrays = {k[2:]: v for k, v in flat.items() if k.startswith("a/")}
    return arrays, _unpack(meta, flat)


def _pack(obj, key, flat):
    """JSON-able copy of ``obj`` with every array moved into ``flat``."""
    if isinstance(obj, dict):
        return {str(k): _pack(v, f"{key}/{k}", flat) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_pack(v, f"{key}/{i}", flat) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):  # a NumPy scalar: a plain JSON number
        return obj.item()
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        flat[key] = to_host(obj)
        return {"__array__": key}
    return obj


def _unpack(obj, flat):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return flat[obj["__array__"]]
        return {k: _unpack(v, flat) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, flat) for v in obj]
    return obj
