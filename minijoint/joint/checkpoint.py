r"""Checkpoints that are never half-written.

A checkpoint is one ``.npz`` file: every array under its path (``model/…``, ``optim/…``)
and one JSON string ``meta`` holding everything else (config, epoch, step, scheduler,
metrics history, the optimizer's scalars). It is written to a temporary file in the same
folder, flushed to disk, then renamed over the old one: a crash mid-write leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from ..backend import to_host


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> array) and ``meta`` (JSON-able, may nest arrays) atomically."""
    flat = {f"a/{k}": to_host(v) for k, v in arrays.items()}
    meta = _pack(meta, "m", flat)
    flat["meta"] = np.array(json.dumps(meta))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **flat)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    """``(arrays, meta)`` as saved; a clear :class:`CheckpointError` if unreadable."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
        meta = json.loads(str(flat.pop("meta")))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); "
                              "delete it or restore a good copy") from None
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
