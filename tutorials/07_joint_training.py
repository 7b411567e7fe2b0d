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
# # 7 · Joint training on digits, and the ablation of Table 4
#
# Notebook 6 computed the joint loss on one batch. Here we train with it. One function,
# `minijoint.joint.train.train(TrainConfig(...), out_dir)`, runs every row of the paper's
# ablation (Table 4); the `mode` picks what trains and with which loss:
#
# | mode | what trains | loss |
# |---|---|---|
# | `ann` | the ANN alone | CE of its classifier |
# | `snn` | the SNN alone | CE of its classifier |
# | `kd` | the SNN, taught by a frozen trained ANN | CE + λ₁·KL (final outputs) |
# | `joint-ce-kld` | both, separate weights | L_CE + λ₁·L_KLD (Eqs. 7–8, four branches) |
# | `joint-ce-kld-norm` | both, separate weights | L of Eq. 10 |
# | `wft` | both, factorized weights (Eq. 13) | CE(ANN) + CE(SNN) |
# | `full` | both, factorized weights | L of Eq. 10 — the paper's method |
#
# Each step (Algorithm 1 of the paper) runs the networks, computes the loss, back-propagates
# through both (through time for the SNN, Eq. 4) and takes one Adam step. With factorized
# weights the shared U and Vh receive the sum of the ANN's and the SNN's gradients, while
# σ_ANN and σ_SNN each get only their own path's. So σ_ANN and σ_SNN, equal at
# initialisation, **drift apart**: section 3 watches that happen.
#
# Every run writes a folder: `config.json`, `metrics.csv` (one row per epoch), `curves.png`
# and `checkpoint.npz`. Here they go to a temporary directory.

# %%
# %matplotlib inline
import dataclasses
import os
import sys
import tempfile

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import numpy as np
from matplotlib.figure import Figure

from minijoint.joint.ablation import format_table
from minijoint.joint.checkpoint import load_checkpoint
from minijoint.joint.config import TrainConfig
from minijoint.joint.modes import MODES
from minijoint.joint.runlog import read_metrics
from minijoint.joint.train import CHECKPOINT, load_trained, train
from minijoint.models import JointNet
from minijoint.nn import observe, singular_value_drift, singular_values
from minijoint.plot import plot_singular_value_drift, plot_singular_values, plot_training_curves

FAST = os.environ.get("MINIJOINT_FAST") == "1"
runs = tempfile.TemporaryDirectory(prefix="minijoint-07-")   # removed when the kernel exits
RUNS = runs.name

# One base configuration for every run (the same seed, data, network and schedule).
# Fast mode (the test suite): a sliver of the data, 2 epochs, under a minute.
# Full mode: all 1437 training and 360 test digits, 10 epochs per mode; about 5 minutes
# on 2 CPU cores with single-threaded BLAS (OMP_NUM_THREADS=1), longer on a busy machine.
base = TrainConfig(dataset="digits", model="resnet10", width=8, T=4, batch_size=32 if FAST else 64,
                   epochs=2 if FAST else 10, lr=1e-3, weight_decay=5e-4,
                   lambda_kld=1.0, lambda_norm=0.3, seed=0,
                   limit_train=64 if FAST else None, limit_test=32 if FAST else None)
print(base)


def run_dir(mode):
    return os.path.join(RUNS, mode, "seed0")   # the layout run_ablation uses


results = {}   # mode -> final metrics row (with its "history")

# %% [markdown]
# ## 1. The ANN alone, the SNN alone, and the full method
#
# The same call three times, only `mode` changes. `train` prints one line per epoch with the
# running means of the loss terms, and returns the last epoch's metrics.

# %%
for mode in ("ann", "snn"):
    results[mode] = train(dataclasses.replace(base, mode=mode), run_dir(mode))

# %% [markdown]
# For `full` we also want to see the singular values move. `train` does not need to know:
# `minijoint.nn.observe(callback)` calls `callback(module, args, output)` after every module's
# forward, so a callback that catches the whole `JointNet` in training mode takes a snapshot
# `{layer: (σ_ANN, σ_SNN)}` once per training step (before that step's update).

# %%
snapshots = []


def record_sigma(module, args, output):
    if isinstance(module, JointNet) and module.training:
        snapshots.append(singular_values(module))


with observe(record_sigma):
    results["full"] = train(dataclasses.replace(base, mode="full"), run_dir("full"))

full_model, _, _ = load_trained(os.path.join(run_dir("full"), CHECKPOINT))
snapshots.append(singular_values(full_model))   # after the last step
print(f"{len(snapshots)} snapshots of {len(snapshots[0])} factorized layers")

# %% [markdown]
# ## 2. Training curves
#
# `metrics.csv` holds, per epoch, the epoch means of the loss terms (`loss`, `ce`, `kld`,
# `norm`, `ce_ann`, `ce_snn`), the test accuracies, each LIF layer's firing rate and the
# training seconds. `read_metrics` reads it back; `plot_training_curves` draws it.

# %%
hist = {m: read_metrics(run_dir(m)) for m in ("ann", "snn", "full")}
print("columns:", ", ".join(hist["full"][0]))
plot_training_curves(run_dir("full"))

# %%
fig = Figure(figsize=(6, 3.5), layout="constrained")
ax = fig.subplots()
for i, (m, key) in enumerate((("ann", "ann_acc"), ("snn", "snn_acc"), ("full", "ann_acc"),
                              ("full", "snn_acc"))):
    ax.plot([r["epoch"] for r in hist[m]], [r[key] for r in hist[m]], marker="o",
            linestyle="--" if m == "full" else "-", color=f"C{i}",
            label=f"{key[:3].upper()} in `{m}`")
ax.axhline(0.1, color="0.5", linewidth=0.8, label="chance")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.set_title("Trained alone vs. trained jointly")
ax.legend(fontsize="small")
fig

# %% [markdown]
# ## 3. σ_ANN vs σ_SNN (Eq. 13)
#
# At initialisation every factorized layer has σ_ANN = σ_SNN (one SVD of one Kaiming draw,
# Eqs. 11–12). Training moves each σ with its own path's gradient only, so the points leave the
# diagonal. The drift is the mean |σ_ANN − σ_SNN| per layer, against the training step.

# %%
plot_singular_values(full_model)

# %%
fig = plot_singular_value_drift(snapshots)
fig.axes[0].set_xlabel("training step")
fig

# %% [markdown]
# ## 4. The ablation of Table 4 on digits
#
# The paper's Table 4 trains ResNet-18 on CIFAR-10; here the same seven modes run on digits
# with the base configuration above. `ann`, `snn` and `full` are done; the loop trains the
# other four. `kd` needs a trained ANN teacher: the `ann` run's checkpoint is exactly that.
#
# `minijoint.joint.ablation.run_ablation(modes, seeds, base, out_dir)` does the same loop
# over several seeds and writes `table4.md` (the command line: `python -m minijoint ablation
# --seeds 0 1 2`).

# %%
for mode in ("kd", "joint-ce-kld", "joint-ce-kld-norm", "wft"):
    teacher = os.path.join(run_dir("ann"), CHECKPOINT) if mode == "kd" else None
    results[mode] = train(dataclasses.replace(base, mode=mode, teacher=teacher), run_dir(mode))


# %%
def table_row(mode):
    r = results[mode]
    row = {"mode": mode, "n": 1,
           "sec_per_epoch": float(np.mean([h["seconds"] for h in r["history"]]))}
    for key in ("snn_acc", "ann_acc"):
        if key in r:
            row[key] = (100 * r[key], 0.0)
    return row


rows = [table_row(m) for m in MODES]
print(format_table(rows, n_seeds=1))

# %%
fig = Figure(figsize=(8, 3.5), layout="constrained")
ax = fig.subplots()
names = list(MODES)
ax.bar(np.arange(len(names)) - 0.2, [results[m].get("snn_acc", 0) * 100 for m in names], 0.4,
       color="C1", label="SNN, ours on digits")
ax.bar(np.arange(len(names)) + 0.2, [results[m].get("ann_acc", 0) * 100 for m in names], 0.4,
       color="C0", label="ANN, ours on digits")
ax.plot(np.arange(len(names)), [MODES[m].paper_acc for m in names], "k*", markersize=10,
        label="paper (CIFAR-10, ResNet-18)")
ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
ax.set_ylabel("test accuracy (%)")
ax.set_title("Table 4 on digits" + (" (fast mode: barely trained)" if FAST else ""))
ax.set_ylim(0, 105)
ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
fig

# %% [markdown]
# The same `full` mode once more, with the feature loss weighted 100 times less
# (`lambda_norm=0.003` instead of the paper's 0.3; see notebook 6 on the scale of $L_{Norm}$):

# %%
results["full λ₂=0.003"] = train(dataclasses.replace(base, mode="full", lambda_norm=0.003),
                                 os.path.join(RUNS, "full-lambda0.003", "seed0"))
for m in ("full", "full λ₂=0.003"):
    r = results[m]
    print(f"{m:14s} SNN {r['snn_acc']:.2%}  ANN {r['ann_acc']:.2%}  "
          f"final-epoch norm term {r['norm']:.1f} vs ce {r['ce']:.1f}")

# %% [markdown]
# **Reading the table.** One seed on 360 test images (one image is 0.28 %) separates
# nothing smaller than about ±1 %, and in fast mode the networks have seen 64 images twice,
# so the numbers only show that every mode runs. For the ordering question, run the full
# ablation over three seeds and more epochs. What to expect, from an independent PyTorch
# implementation on digits (SPEC §5; width 16, 3 seeds): with two blocks per stage
# (`--model resnet18`) and λ₂ = 0.3, the modes that include $L_{Norm}$ (`joint-ce-kld-norm`,
# `full`) came out *worst*, because the feature distance dominates the loss (notebook 6),
# while with `lambda_norm=0.003` the full method came out best; with one block per stage
# (`resnet10`, used here) all modes ended within noise of each other (~97 %). The gradient
# problem that the branches address (Section 4.1) grows with depth.
#
# The time column is the other half of Table 4: the joint modes run two networks, so expect
# them to cost more per epoch than `snn` alone, as in the paper (26.7 s against 36.7 s per
# epoch). On a shared machine this column is noisy.

# %%
secs = {m: float(np.mean([h["seconds"] for h in results[m]["history"]])) for m in MODES}
n_train = 1437 if base.limit_train is None else base.limit_train
per_image = {m: s / n_train for m, s in secs.items()}
full_size = sum(per_image.values()) * 1437 * 40 * 3     # 7 modes x 40 epochs x 3 seeds
print(f"this notebook's runs: {sum(s * base.epochs for s in secs.values()):.0f} s of training")
print(f"the full ablation at this width (7 modes x 3 seeds x 40 epochs on all 1437 digits) "
      f"would take about {full_size / 3600:.1f} h on this machine")
print("command line:  python -m minijoint ablation --width 8 --seeds 0 1 2 --out runs/ablation")

# %% [markdown]
# ## A stop-gradient check you get for free
#
# `joint-ce-kld` and `joint-ce-kld-norm` differ only in $\lambda_2 L_{Norm}$, and with separate
# weights nothing of the SNN reaches the ANN except through the distillation terms, which are
# cut by the stop-gradient. So the ANN must follow the **bit-identical** trajectory in both
# runs, whatever the SNN does. The checkpoints tell.

# %%
ann_names = load_trained(os.path.join(run_dir("joint-ce-kld"), CHECKPOINT))[0].ann_state_names()
ck_a, _ = load_checkpoint(os.path.join(run_dir("joint-ce-kld"), CHECKPOINT))
ck_b, _ = load_checkpoint(os.path.join(run_dir("joint-ce-kld-norm"), CHECKPOINT))
ann_same = all(np.array_equal(ck_a["model/" + n], ck_b["model/" + n]) for n in ann_names)
snn_names = [k for k in ck_a if k.startswith("model/") and k[6:] not in ann_names]
snn_diff = max(float(np.abs(ck_a[k] - ck_b[k]).max()) for k in snn_names)
print(f"{len(ann_names)} ANN tensors identical: {ann_same}; "
      f"largest SNN weight difference: {snn_diff:.3g}")

# %% [markdown]
# ## Checks

# %%
E = base.epochs
# every run left a metrics row per epoch and a checkpoint
for m in MODES:
    assert len(read_metrics(run_dir(m))) == E, m
    assert os.path.isfile(os.path.join(run_dir(m), CHECKPOINT)), m
# each mode trains what Table 4 says: ann has no SNN, snn no ANN, the joint modes both
assert "snn_acc" not in results["ann"] and "ann_acc" in results["ann"]
assert "ann_acc" not in results["snn"] and "snn_acc" in results["snn"]
assert all("ann_acc" in results[m] and "snn_acc" in results[m]
           for m in ("joint-ce-kld", "joint-ce-kld-norm", "wft", "full"))
# the loss terms each mode uses, and only those
assert results["snn"]["kld"] == 0 and results["snn"]["norm"] == 0
assert results["wft"]["kld"] == 0 and results["wft"]["norm"] == 0
assert results["joint-ce-kld"]["kld"] > 0 and results["joint-ce-kld"]["norm"] == 0
assert results["full"]["kld"] > 0 and results["full"]["norm"] > 0
# training works: the ANN's training loss falls from the first epoch to the last
assert hist["ann"][-1]["ce"] < hist["ann"][0]["ce"], [r["ce"] for r in hist["ann"]]

# %%
# Eq. 13: sigma_ANN = sigma_SNN exactly before the first update, apart after training
drift = singular_value_drift(snapshots)
assert all(d[0] == 0.0 for d in drift.values())
assert all(d[-1] > 0.0 for d in drift.values())
# and the untrained net agrees: at init both paths hold the same singular values
fresh = singular_values(JointNet(width=8, rng=np.random.default_rng(0)))
assert all(np.array_equal(a, s) for a, s in fresh.values())
# the stop-gradient: the ANN's trajectory is bit-identical with and without L_Norm,
# while the SNN's differs
assert ann_same and snn_diff > 0
assert [r["ce_ann"] for r in read_metrics(run_dir("joint-ce-kld"))] == \
       [r["ce_ann"] for r in read_metrics(run_dir("joint-ce-kld-norm"))]
