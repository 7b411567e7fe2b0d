"""Digests of short training runs, for tests/test_training_bits.py.

A digest is the SHA-256 of every loss and every parameter and buffer after a few training
steps. Speed work (blocked and threaded convolutions, spikes stored as bits, other copies)
must not change a single bit of it on the same NumPy and BLAS; the digests in
``tests/data/training_bits.json`` were recorded by running this file::

    python tests/training_bits.py            # prints this machine's key and digests
    python tests/training_bits.py --record   # adds them to tests/data/training_bits.json

It uses only the public API (models, losses, optimizer, ``train``), so the same file runs
against older commits, which is how a recorded digest is tied to the code before a change.
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import minijoint as mj
from minijoint.joint.loss import JointLoss
from minijoint.models import JointNet
from minijoint.optim import Adam

RECORD = Path(__file__).with_name("data") / "training_bits.json"


def machine_key() -> str:
    """What the bits may depend on: NumPy's version, the BLAS (its kernels are chosen per
    CPU family) and the CPU architecture."""
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    own = [i for i in blas if "numpy" in Path(i["filepath"]).parent.name]   # numpy.libs
    blas = own or blas   # SciPy and others may load a BLAS of their own beside NumPy's
    libs = ", ".join(f"{i['internal_api']} {i['version']} {i.get('architecture')}" for i in blas)
    return f"numpy {np.__version__}; {libs or 'no BLAS found'}; {platform.machine()}"


def _hash_state(h, model) -> None:
    for name, a in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(mj.to_host(a)).tobytes())


def resnet_digest(dtype: str) -> str:
    """Three Adam steps of ANN + SNN (factorized weights, the full loss of Eq. 10) on a
    ResNet-18 of width 4, T = 2, batch 8, 32×32×3: every convolution path runs (3×3 on
    32×32, 16×16, 8×8 and 4×4 maps, stride 2, the 1×1 shortcuts; inputs that are spikes
    and inputs that are not; batches cut into more than one block)."""
    h = hashlib.sha256()
    with mj.default_dtype(np.dtype(dtype)):
        model = JointNet(arch="resnet18", num_classes=10, width=4, in_channels=3,
                         image_size=32, T=2, rng=np.random.default_rng(0))
        opt = Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
        loss_fn = JointLoss()
        rng = np.random.default_rng(1)
        for _ in range(3):
            x = mj.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(dtype))
            y = rng.integers(0, 10, 8)
            out = model(x)
            loss = loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats, y)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            h.update(np.asarray(loss.data).tobytes())
        _hash_state(h, model)
    return h.hexdigest()


def digits_digest() -> str:
    """One epoch of the command line's joint training on 64 digits (``train``), read back
    from the checkpoint it writes."""
    from minijoint.joint.checkpoint import load_checkpoint
    from minijoint.joint.config import TrainConfig
    from minijoint.joint.train import train
    h = hashlib.sha256()
    with tempfile.TemporaryDirectory() as tmp:
        train(TrainConfig(mode="full", epochs=1, limit_train=64, limit_test=32),
              str(Path(tmp) / "run"), log=lambda *a: None)
        arrays = load_checkpoint(Path(tmp) / "run" / "checkpoint.npz")[0]
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


RUNS = {"resnet18 float32": lambda: resnet_digest("float32"),
        "resnet18 float64": lambda: resnet_digest("float64"),
        "digits joint": digits_digest}


def recorded(key: str) -> dict:
    """The digests recorded for ``key`` ({} if none)."""
    return json.loads(RECORD.read_text()).get(key, {}) if RECORD.exists() else {}


if __name__ == "__main__":
    with threadpool_limits(1):
        key, digests = machine_key(), {name: run() for name, run in RUNS.items()}
    print(json.dumps({key: digests}, indent=1))
    if "--record" in sys.argv[1:]:
        table = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        if key in table and table[key] != digests:
            sys.exit(f"{RECORD} already holds other digests for this machine; not replaced")
        table[key] = digests
        RECORD.parent.mkdir(exist_ok=True)
        RECORD.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"recorded in {RECORD}")
