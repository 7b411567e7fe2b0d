# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9 · Going to CIFAR and the GPU
#
# Everything so far ran on 8×8 digits on a CPU. The paper's experiments are ResNet-18 of
# width 64 on 32×32 CIFAR-10, 300 epochs, on four GPUs. This notebook shows that the
# **same code** gets there, with three switches:
#
# 1. `backend="cupy"`: every op is written against an array module `xp` (NumPy or CuPy), so
#    the networks, losses (Eqs. 7–10) and the BPTT of Eq. 4 run on an NVIDIA GPU unchanged;
# 2. `dataset="cifar10"` with `data_path=...`: the official CIFAR files, read from disk,
#    never downloaded, plus the standard augmentation (random crop with padding 4,
#    horizontal flip);
# 3. `model="resnet18"`, `width=64`: the paper's network (the width scales every channel
#    count, so width 8 is the same network, CPU-sized).
#
# The notebook runs its CPU-sized parts anywhere. The parts that need a GPU (CuPy and a CUDA
# device) or the CIFAR files (the `CIFAR_PATH` environment variable) run only when those are
# present; otherwise the notebook says what it skipped. Without the files it writes a tiny
# *stand-in* CIFAR folder in the official file format, so the CIFAR code path still runs.

# %%
# %matplotlib inline
import os
import pickle
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import numpy as np
from matplotlib.figure import Figure

import minijoint
from minijoint import no_grad
from minijoint.data import cifar_augment, horizontal_flip, load_cifar10, random_crop
from minijoint.energy import resnet_mac_count
from minijoint.joint import JointLoss
from minijoint.joint.config import TrainConfig
from minijoint.joint.train import train
from minijoint.models import JointNet
from minijoint.nn import count_parameters

FAST = os.environ.get("MINIJOINT_FAST") == "1"
skipped = []   # what this machine could not run, reported at the end

# %% [markdown]
# ## 1. Is there a GPU?
#
# `minijoint.gpu_available()` is True when CuPy imports **and** sees a CUDA device. The
# backend is chosen per run (`TrainConfig(backend="cupy")`, `--backend cupy`) or per block
# of code with `minijoint.using_backend("cupy")`. Asking for CuPy where there is none fails
# at once with a message saying what is missing.

# %%
GPU = minijoint.gpu_available()
print("active backend:", minijoint.get_backend(), "| GPU available:", GPU)
if not GPU:
    try:
        with minijoint.using_backend("cupy"):
            pass
    except RuntimeError as err:
        print("using_backend('cupy') says:", err)
    skipped.append("GPU: the CuPy vs NumPy comparison and the width-64 timing (no CuPy/CUDA device)")

# %% [markdown]
# ## 2. CIFAR-10 from disk
#
# `load_cifar10(root)` reads the "CIFAR-10 python version": the archive
# `cifar-10-python.tar.gz`, its extracted folder `cifar-10-batches-py/`, or a folder holding
# either. Each of the six files (`data_batch_1` … `data_batch_5`, `test_batch`) is a pickled
# dict with `data`, a uint8 array (n, 3072) — per row the 1024 red, 1024 green and 1024 blue
# pixels of one 32×32 image — and `labels`. It returns float32 images (N, 3, 32, 32) in
# [0, 1] and int64 labels.
#
# Set `CIFAR_PATH` to use the real files. Without them we write a stand-in folder of
# `STANDIN_PER_FILE` synthetic images per file (a coloured bar whose position and colour
# depend on the class) in exactly that format, and load it with the same function.

# %%
STANDIN_PER_FILE = 12


def write_standin_cifar(root, per_file=STANDIN_PER_FILE, seed=0):
    """A folder cifar-10-batches-py/ in the official format, with synthetic images."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_file)
        img = np.full((per_file, 3, 32, 32), 40, np.uint8)
        for n, k in enumerate(labels):
            row = 2 + 3 * k                                   # the bar's row: the class
            img[n, k % 3, row:row + 4, 4:24] = 230            # an off-centre horizontal bar
            img[n, :, row:row + 4, 4:8] = 255                 # a white cap on its left end
        img = np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({b"data": img.reshape(per_file, 3072), b"labels": labels.tolist()}, f,
                        protocol=2)
    return folder


CIFAR_PATH = os.environ.get("CIFAR_PATH")
if CIFAR_PATH and os.path.exists(CIFAR_PATH):
    cifar_root, REAL_CIFAR = CIFAR_PATH, True
else:
    try:
        load_cifar10(CIFAR_PATH or "~/data/cifar10")
    except FileNotFoundError as err:
        print("load_cifar10 without the files says:\n" + str(err) + "\n")
    workdir = tempfile.TemporaryDirectory(prefix="minijoint-09-")
    cifar_root, REAL_CIFAR = write_standin_cifar(workdir.name), False
    skipped.append(f"real CIFAR-10 (CIFAR_PATH not set): used a {6 * STANDIN_PER_FILE}-image "
                   f"synthetic stand-in in the official file format")

t0 = time.perf_counter()
(x_train, y_train), (x_test, y_test) = load_cifar10(cifar_root)
print(f"{'CIFAR-10' if REAL_CIFAR else 'stand-in'} from {cifar_root}: "
      f"train {x_train.shape} {x_train.dtype}, test {x_test.shape}, "
      f"pixels in [{x_train.min():.2f}, {x_train.max():.2f}], {time.perf_counter() - t0:.2f} s")

# %% [markdown]
# ## 3. The CIFAR augmentation
#
# The paper's Section 5.1 does not name its augmentation; minijoint uses the standard CIFAR
# recipe (docs/method.md §7): each training batch is randomly cropped to 32×32 after
# zero-padding 4 pixels on every side (a shift of up to ±4 pixels), then mirrored
# left–right with probability ½. `cifar_augment()` does both on a whole batch at once, on
# the active backend; the random numbers are drawn on the host, so a NumPy and a CuPy run
# with the same seed augment identically (a GPU test checks it:
# `tests/test_data.py::test_gpu_loader_and_augmentation_match_numpy`). `train` switches
# it on for CIFAR by itself (`augment=None` means "on for CIFAR, off for digits").

# %%
batch = x_train[:6]
augment = cifar_augment()
aug = augment(batch, np.random.default_rng(0))

fig = Figure(figsize=(9, 3.2), layout="constrained")
axes = fig.subplots(2, len(batch))
for n in range(len(batch)):
    for row, imgs, title in ((0, batch, "original"), (1, aug, "augmented")):
        axes[row, n].imshow(imgs[n].transpose(1, 2, 0))
        axes[row, n].set_xticks([])
        axes[row, n].set_yticks([])
    axes[0, n].set_title(f"class {y_train[n]}", fontsize="small")
axes[0, 0].set_ylabel("original")
axes[1, 0].set_ylabel("crop + flip")
fig

# %% [markdown]
# Every augmented image is its original shifted by some (dy, dx) ∈ [−4, 4]² (zeros coming
# in at the border) and perhaps mirrored. We can recover which by brute force, which is
# also a check of the two functions.

# %%
def shifted(img, dy, dx):
    """img (C, H, W) moved down by dy and right by dx, zero-filled (pad 4, crop)."""
    C, H, W = img.shape
    pad = np.pad(img, ((0, 0), (4, 4), (4, 4)))
    return pad[:, 4 - dy:4 - dy + H, 4 - dx:4 - dx + W]


def explain(orig, out):
    """(dy, dx, flipped) that turns orig into out, or None."""
    for flipped in (False, True):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                cand = shifted(orig, dy, dx)
                if np.array_equal(cand[..., ::-1] if flipped else cand, out):
                    return dy, dx, flipped
    return None


explained = [explain(b, a) for b, a in zip(batch, aug)]
for n, e in enumerate(explained):
    print(f"image {n}: shift (dy, dx) = ({e[0]:+d}, {e[1]:+d}), flipped = {e[2]}")

# %% [markdown]
# ## 4. A CPU-sized ResNet-18 JointNet on 32×32 images
#
# `JointNet(arch="resnet18", width=8, in_channels=3, image_size=32)`: the paper's network
# (stages of 2 BasicBlocks, the spiking block of Eq. 6, 3×3 stem with no max-pool, four
# branches) at an eighth of its width. Forward both paths on a random batch, time them, and
# scale the count of multiply-accumulates up to width 64.

# %%
N = 8 if FAST else 32
net = JointNet(arch="resnet18", width=8, in_channels=3, image_size=32, num_classes=10, T=4,
               rng=np.random.default_rng(0))
x = np.random.default_rng(1).random((N, 3, 32, 32), dtype=np.float32)
timing = {}
with no_grad():
    net(x[:2])                                   # warm-up (first-call allocations)
    for path in ("ann", "snn"):
        t0 = time.perf_counter()
        out = net(x, paths=(path,))
        timing[path] = time.perf_counter() - t0
out = net(x)                                     # both paths, with the graph for backward
for path in ("ann", "snn"):
    print(f"{path.upper()} forward of {N} images: {timing[path]:.3f} s "
          f"({1e3 * timing[path] / N:.1f} ms/image)")
print("logits", [tuple(z.shape) for z in out.snn_logits])
print("features", [tuple(f.shape) for f in out.snn_feats])

macs8 = resnet_mac_count(width=8)["total"]
macs64 = resnet_mac_count(width=64)["total"]
pc8 = count_parameters(net)
print(f"\nMACs per image: width 8 {macs8 / 1e6:.1f} M, width 64 {macs64 / 1e6:.0f} M "
      f"({macs64 / macs8:.0f}x); twin-conv weights held at width 8: {pc8.held:,}")
# a rough extrapolation: the width-8 time scaled by the MACs, forward + backward ≈ 3x forward
snn_per_epoch = timing["snn"] / N * 50_000 * (macs64 / macs8) * 3
print(f"a width-64 SNN epoch on CIFAR-10 (50k images) on this CPU: of the order of "
      f"{snn_per_epoch / 3600:.0f} h; the paper reports 26.7-36.7 s per epoch on 4 GPUs")

# %%
rates = net.firing_rates()
fig = Figure(figsize=(8, 3), layout="constrained")
ax = fig.subplots()
ax.bar(range(len(rates)), list(rates.values()), color="C1")
ax.set_xticks(range(len(rates)), list(rates), rotation=70, ha="right", fontsize="x-small")
ax.set_ylabel("firing rate")
ax.set_title("Untrained width-8 ResNet-18 SNN on random 32×32 input, per LIF layer")
fig

# %% [markdown]
# ## 5. The same `train` call on the CIFAR path
#
# One epoch on at most the first `limit_train` training images of the CIFAR folder (the
# stand-in holds fewer than that; the real one many more): the CIFAR loader, the
# augmentation, the 32×32 ResNet-18 and the joint loss, end to end on the CPU. Only the
# config differs from notebook 7. The printed counts are those `train` reports using.

# %%
cfg = TrainConfig(mode="full", dataset="cifar10", data_path=cifar_root, model="resnet18",
                  width=4 if FAST else 8, T=4, epochs=1, batch_size=16,
                  limit_train=32 if FAST else 256, limit_test=16 if FAST else 256, seed=0)
runs = tempfile.TemporaryDirectory(prefix="minijoint-09-runs-")
train_log = []


def log_and_keep(*args, **kwargs):
    train_log.append(" ".join(str(a) for a in args))
    print(*args, **kwargs)


t0 = time.perf_counter()
cifar_result = train(cfg, os.path.join(runs.name, "full-cifar10"), log=log_and_keep)
cifar_seconds = time.perf_counter() - t0
n_cifar_train = len(x_train[:cfg.limit_train])     # train() takes the first limit_train images
n_cifar_test = len(x_test[:cfg.limit_test])
print(f"{len(cifar_result['history'])} epoch on {n_cifar_train} training images "
      f"(limit_train = {cfg.limit_train}, {len(x_train)} in the folder), tested on "
      f"{n_cifar_test}: {cifar_seconds:.1f} s")

# %% [markdown]
# ## 6. On a GPU
#
# With CuPy and a device, the same network is built on the GPU (its initial weights are
# drawn on the host from the same seed, so both start identical), and its ANN logits should
# match the NumPy ones up to float32 rounding (the check asks for 1e-3; it runs only where
# there is a GPU). The SNN's spikes can flip where a potential sits within rounding of V_th,
# so for them the cell reports the share of logits that agree. Then the paper's width 64
# gets timed.

# %%
gpu_report = {}
if GPU:
    import cupy

    with minijoint.using_backend("cupy"):
        net_gpu = JointNet(arch="resnet18", width=8, in_channels=3, image_size=32, num_classes=10,
                           T=4, rng=np.random.default_rng(0))
        with no_grad():
            out_gpu = net_gpu(minijoint.to_device(x))
    with no_grad():
        out_cpu = net(x)
    gpu_report["max |ANN logits CPU - GPU|"] = float(np.abs(
        out_cpu.ann_logits[-1].numpy() - out_gpu.ann_logits[-1].numpy()).max())
    gpu_report["SNN spikes agree (fraction of logits within 1e-3)"] = float(np.mean(np.isclose(
        out_cpu.snn_logits[-1].numpy(), out_gpu.snn_logits[-1].numpy(), atol=1e-3)))

    with minijoint.using_backend("cupy"):
        big = JointNet(arch="resnet18", width=64, in_channels=3, image_size=32, num_classes=10,
                       T=4, rng=np.random.default_rng(0))
        xb = minijoint.to_device(np.random.default_rng(2).random((64, 3, 32, 32), dtype=np.float32))
        for rep in range(2):                     # the first call compiles CuPy kernels
            cupy.cuda.Device().synchronize()
            t0 = time.perf_counter()
            o = big(xb)
            loss, _ = JointLoss()(o.ann_logits, o.snn_logits, o.ann_feats, o.snn_feats,
                                  minijoint.to_device(np.arange(64) % 10))
            loss.backward()
            cupy.cuda.Device().synchronize()
            gpu_report["width-64 train step, batch 64 (s)"] = time.perf_counter() - t0
    for k, v in gpu_report.items():
        print(f"{k}: {v:.4g}")
else:
    print("no GPU here: skipped (see the list at the end)")

# %% [markdown]
# ## 7. The paper-sized run, from the command line
#
# On a machine with a GPU and the CIFAR files, these are the commands (the `minijoint`
# console script is the same as `python -m minijoint`). The paper (Section 5.1) trains
# `PAPER_EPOCHS` = 300 epochs with Adam (lr 1e-3, weight decay 5e-4, cosine schedule),
# λ₁ = 1, λ₂ = 0.3 (Eq. 10); the commands use that number.

# %%
PAPER_EPOCHS = 300   # Section 5.1: "we train all models for 300 epochs"
data = CIFAR_PATH or "~/data/cifar10"
commands = [
    f"python -m minijoint train --dataset cifar10 --data-path {data} --model resnet18 "
    f"--width 64 --backend cupy --epochs {PAPER_EPOCHS} --out runs/full-cifar10",
    f"python -m minijoint train --dataset cifar10 --data-path {data} --model resnet18 "
    f"--width 64 --backend cupy --epochs {PAPER_EPOCHS} --mode snn --out runs/snn-cifar10",
    f"python -m minijoint ablation --dataset cifar10 --data-path {data} --model resnet18 "
    f"--width 64 --backend cupy --epochs {PAPER_EPOCHS} --seeds 0 1 2 --out runs/table4-cifar10",
    "python -m minijoint train --resume --out runs/full-cifar10      # after an interruption",
    "python -m minijoint eval runs/full-cifar10/checkpoint.npz",
    "python -m minijoint energy runs/full-cifar10/checkpoint.npz     # Tables 5-6",
]
print("\n".join(commands))

# %%
print("Skipped on this machine:" if skipped else "Nothing skipped: GPU and CIFAR-10 both present.")
for s in skipped:
    print("  -", s)

# %% [markdown]
# ## Checks

# %%
# the loader's layout: float32 (N, 3, 32, 32) in [0, 1], int64 labels in 0..9
assert x_train.dtype == np.float32 and x_train.shape[1:] == (3, 32, 32)
assert 0.0 <= x_train.min() and x_train.max() <= 1.0
assert y_train.dtype == np.int64 and 0 <= y_train.min() and y_train.max() <= 9
if not REAL_CIFAR:
    assert x_train.shape[0] == 5 * STANDIN_PER_FILE and x_test.shape[0] == STANDIN_PER_FILE
# augmentation: same shape and dtype, every image a shift in [-4, 4]^2 of its original,
# maybe mirrored; no padding means no shift, p = 1 means an exact mirror
assert aug.shape == batch.shape and aug.dtype == batch.dtype
assert all(e is not None for e in explained), explained
assert np.array_equal(random_crop(batch, padding=0), batch)
assert np.array_equal(horizontal_flip(batch, p=1.0), batch[..., ::-1])
assert np.array_equal(augment(batch, np.random.default_rng(0)), aug)   # seeded: reproducible

# %%
# the width-8 ResNet-18: four branches with 8, 16, 32, 64 channels, (N, 10) logits,
# firing rates strictly inside (0, 1), a measured forward time
assert [tuple(f.shape) for f in out.snn_feats] == [(N, 8 * 2 ** i) for i in range(4)]
assert all(tuple(z.shape) == (N, 10) for z in out.ann_logits + out.snn_logits)
assert len(rates) == 17 and all(0.0 < r < 1.0 for r in rates.values())   # stem + 16 in blocks
assert timing["ann"] > 0 and timing["snn"] > 0
assert macs64 == 555_422_720 and 50 < macs64 / macs8 < 64   # CIFAR ResNet-18 at w = 64
# the CIFAR training run finished one epoch with both networks evaluated, on the number
# of images printed above (train's own log line says the same counts)
assert len(cifar_result["history"]) == 1 and np.isfinite(cifar_result["loss"])
assert "ann_acc" in cifar_result and "snn_acc" in cifar_result
assert n_cifar_train == min(cfg.limit_train, len(x_train)) > 0
assert any(f"({n_cifar_train} train / {n_cifar_test} test)" in line for line in train_log), train_log
# every command trains the paper's number of epochs
assert PAPER_EPOCHS == 300
assert all(f"--epochs {PAPER_EPOCHS}" in c for c in commands if " train --dataset" in c or " ablation " in c)
# what was skipped matches this machine
assert any(s.startswith("GPU") for s in skipped) == (not GPU)
assert any("CIFAR" in s for s in skipped) == (not REAL_CIFAR)
if GPU:
    assert gpu_report["max |ANN logits CPU - GPU|"] < 1e-3
