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
# # 6 · Self-distillation: the branches and the joint loss (Eqs. 7–10)
#
# Notebooks 1–5 built the pieces: the LIF neuron (Eqs. 1–3), surrogate gradients (Eqs. 4–5),
# the residual block whose skip connection `y = g(f(x) + x)` (Eq. 6) cannot rescue a spiking
# network on its own, and the factorized weights (Eqs. 11–13). This notebook puts an ANN and
# an SNN side by side and looks at the loss that ties them together (Section 4.2):
#
# 1. **the branches**: after each of the four stages, global average pooling (GAP) and a
#    fully connected head give features $F_i$ and logits $z_i$, for the ANN and for the SNN;
# 2. **each loss part on a real batch of digits**, computed by `JointLoss` and again by hand:
#
#    $$L_{CE} = \sum_{i=1}^4 CE(z_{ANN,i}, y) + \sum_{i=1}^4 CE(z_{SNN,i}, y) \qquad (Eq.\ 7)$$
#    $$L_{KLD} = \sum_{i=1}^4 \kappa^2\, KL\big(\mathrm{softmax}(\mathrm{sg}(z_{ANN,i})/\kappa)\,\big\|\,\mathrm{softmax}(z_{SNN,i}/\kappa)\big) \qquad (Eq.\ 8)$$
#    $$L_{Norm} = \sum_{i=1}^4 \mathrm{mean}_n\, \| \mathrm{sg}(F_{ANN,i}) - F_{SNN,i} \|^2 \qquad (Eq.\ 9)$$
#    $$L = L_{CE} + \lambda_1 L_{KLD} + \lambda_2 L_{Norm} \qquad (Eq.\ 10)$$
#
#    where sg(·) is a **stop-gradient** (`detach` in the paper);
# 3. **what the stop-gradient does**: the ANN's own gradients do not change when λ₁, λ₂ do;
# 4. **the scale of $L_{Norm}$**: why λ₂ = 0.3 is a much stronger pull than it looks.

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import numpy as np
from matplotlib.figure import Figure

import minijoint.functional as F
from minijoint.data import load_digits
from minijoint.joint import JointLoss
from minijoint.models import JointNet

FAST = os.environ.get("MINIJOINT_FAST") == "1"
BATCH = 64 if FAST else 256
print("fast mode" if FAST else "full mode", "- batch of", BATCH, "digits")

# %% [markdown]
# ## 1. One network, two paths, four branches
#
# `JointNet` holds both networks over one architecture. Here: `resnet10` (one residual block
# per stage, enough for 8×8 digits) of width 8, so the stages have 8, 16, 32, 64 channels and
# spatial sides 8, 4, 2, 1. The SNN runs for T = 4 steps; its first conv + BN sees the analog
# image (direct encoding) and everything after it sees spikes.
#
# With `wft=True` (the default, the paper's full method) every convolution is factorized
# (Eq. 13): U and Vh are **shared**, σ_ANN and σ_SNN are each path's own. BatchNorm and the
# branch heads are never shared.

# %%
(x_train, y_train), _ = load_digits()
x, y = x_train[:BATCH], y_train[:BATCH]

net = JointNet(arch="resnet10", width=8, T=4, num_classes=10, in_channels=1, image_size=8,
               rng=np.random.default_rng(0))
out = net(x)

print(f"{'branch':>6} {'ANN logits':>11} {'ANN F_i':>9} {'SNN F_i':>9}  ANN F range      SNN F range")
for i in range(4):
    fa, fs = out.ann_feats[i].numpy(), out.snn_feats[i].numpy()
    print(f"{i + 1:>6} {str(out.ann_logits[i].shape):>11} {str(fa.shape):>9} {str(fs.shape):>9}  "
          f"[{fa.min():.2f}, {fa.max():5.2f}]   [{fs.min():.2f}, {fs.max():.2f}]")

# %% [markdown]
# The SNN's features are **firing rates**: GAP of the spikes, averaged over the T steps, so
# they lie in [0, 1] by construction. The ANN's are GAP of ReLU activations: non-negative but
# unbounded, and their largest values grow with depth (the ranges printed above), past 1 by
# the last branch. Keep that in mind for $L_{Norm}$ below.
#
# The SNN's logits are its head applied to those rates, which is exactly Eq. 3's integrating
# readout $\frac1T\sum_t W x^t$ (the head is linear, so averaging before or after it is the same).

# %% [markdown]
# ### The body: residual blocks, Eq. 6
#
# Every stage is made of residual blocks $y = g(f(x) + x)$ (Eq. 6): $f$ is conv–BN–$g$–conv–BN,
# and $g$ is ReLU in the ANN and LIF in the SNN. Recompute stage 1's block by hand on the
# stem's spikes and compare with the block itself. Then look at the reason Section 4.1 gives
# for adding branches at all: ReLU passes a gradient wherever its input is positive, but the
# (rectangle) surrogate of the LIF only where $0 < u^{pre} < 1$, so the gradient that reaches
# the early layers through a deep SNN thins out.

# %%
from minijoint import Tensor
from minijoint.nn import fold_time, unfold_time
from minijoint.snn import Rectangle, lif_forward

T = net.T
block = net.stages[0].units[0]                    # 8 -> 8 channels: identity shortcut
s0 = net.stem.forward_snn(Tensor(x), T)            # (T, N, 8, 8, 8) spikes
f_s = unfold_time(block.unit2(fold_time(block.lif1(unfold_time(block.unit1(fold_time(s0), "snn"), T))),
                              "snn"), T)          # f(x) = BN(conv(LIF(BN(conv x))))
c = f_s + s0                                       # f(x) + x: the current of the block's last LIF
y_hand, u_pre = lif_forward(c.data, 0.25, 0.5, Rectangle())   # g = LIF (Eq. 6, Eqs. 1-2)
y_block = block.forward_snn(s0)
print("Eq. 6 by hand == the block's output:", np.array_equal(y_hand, y_block.data))

h0 = net.stem.forward_ann(Tensor(x))
z_ann = block.unit2(F.relu(block.unit1(h0, "ann")), "ann") + h0   # f(x) + x in the ANN
relu_open = float((z_ann.data > 0).mean())
lif_open = float(((u_pre > 0) & (u_pre < 1)).mean())
print(f"fraction of units passing a gradient through g: ReLU {relu_open:.2f}, "
      f"LIF surrogate {lif_open:.2f}")

# %% [markdown]
# ## 2. Each loss part, by `JointLoss` and by hand
#
# `JointLoss` takes the four lists (ANN logits, SNN logits, ANN features, SNN features) and the
# labels, and returns the total (a Tensor to back-propagate) and the parts as floats.

# %%
loss_fn = JointLoss(lambda_kld=1.0, lambda_norm=0.3, temperature=1.0)
print(loss_fn)
total, parts = loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats, y)
for k, v in parts.items():
    print(f"  {k:7s} {v:9.4f}")
print(f"  total   {float(total.data):9.4f}")

# %% [markdown]
# Now the same numbers in plain NumPy, one branch at a time.
#
# **Eq. 7**, cross-entropy: $CE(z, y) = \mathrm{mean}_n\,[-\log \mathrm{softmax}(z_n)_{y_n}]$, eight of them.
#
# **Eq. 8**, with $p = \mathrm{softmax}(z_{ANN}/\kappa)$ (the teacher) and
# $q = \mathrm{softmax}(z_{SNN}/\kappa)$
# (the student): $\kappa^2 \cdot \mathrm{mean}_n \sum_k p_{nk} (\log p_{nk} - \log q_{nk})$.
#
# **Eq. 9**: the squared distance between the pooled features, summed over channels and
# averaged over the batch. The paper writes $|y_{SNN}|$; firing rates are already ≥ 0, so
# the absolute value changes nothing.

# %%
def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


kappa = loss_fn.temperature
per_branch = {"CE ANN": [], "CE SNN": [], "KL": [], "Norm": []}
for i in range(4):
    za, zs = out.ann_logits[i].numpy(), out.snn_logits[i].numpy()
    fa, fs = out.ann_feats[i].numpy(), out.snn_feats[i].numpy()
    per_branch["CE ANN"].append(-log_softmax(za)[np.arange(len(y)), y].mean())
    per_branch["CE SNN"].append(-log_softmax(zs)[np.arange(len(y)), y].mean())
    log_p, log_q = log_softmax(za / kappa), log_softmax(zs / kappa)
    per_branch["KL"].append(kappa ** 2 * (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean())
    per_branch["Norm"].append(((fa - np.abs(fs)) ** 2).sum(axis=1).mean())

ce_hand = sum(per_branch["CE ANN"]) + sum(per_branch["CE SNN"])        # Eq. 7
kld_hand = sum(per_branch["KL"])                                        # Eq. 8
norm_hand = sum(per_branch["Norm"])                                     # Eq. 9
total_hand = ce_hand + 1.0 * kld_hand + 0.3 * norm_hand                 # Eq. 10
for name, hand, lib in (("L_CE", ce_hand, parts["ce"]), ("L_KLD", kld_hand, parts["kld"]),
                        ("L_Norm", norm_hand, parts["norm"]), ("L", total_hand, float(total.data))):
    print(f"{name:7s} by hand {hand:9.4f}   JointLoss {lib:9.4f}")

# %%
fig = Figure(figsize=(9, 3.5), layout="constrained")
ax_l, ax_r = fig.subplots(1, 2)
w = 0.2
for j, (name, vals) in enumerate(per_branch.items()):
    ax_l.bar(np.arange(1, 5) + (j - 1.5) * w, vals, w, label=name, color=f"C{j}")
ax_l.set_xticks(range(1, 5), [f"branch {i}" for i in range(1, 5)])
ax_l.set_ylabel("loss (batch mean)")
ax_l.set_title("Each term of Eqs. 7–9, per branch (at init)")
ax_l.legend(fontsize="small")
terms = {"L_CE": parts["ce"], "λ₁·L_KLD": 1.0 * parts["kld"], "λ₂·L_Norm": 0.3 * parts["norm"]}
ax_r.bar(list(terms), list(terms.values()), color=["C0", "C2", "C3"])
ax_r.set_title(f"Eq. 10: L = {float(total.data):.1f}")
ax_r.set_ylabel("contribution to L")
fig

# %% [markdown]
# At initialisation the eight cross-entropies sit near $\log 10 \approx 2.3$ each (a
# uniform guess; within 1 of it, checked at the end), every KL term is smaller than every
# cross-entropy (both networks are equally clueless), and the feature distance grows branch
# by branch: deeper stages have more channels to sum over and larger ANN activations.
#
# ## 3. What the stop-gradient does
#
# In Eqs. 8–9 the ANN's outputs are wrapped in sg(·): `JointLoss` calls `.detach()` on them.
# The distillation terms should pull the SNN towards the ANN, never the ANN towards the SNN
# (the paper: otherwise "the ANN's output will be pulled over to the SNN's output, leading
# to an accuracy decrease").
#
# Test it: back-propagate the loss once with λ₁ = λ₂ = 0 (plain Eq. 7) and once with
# (λ₁, λ₂) = (1, 0.3), and compare every parameter's gradient. With factorized weights the
# parameters fall into three groups:
#
# * **ANN only**: σ_ANN, the ANN's BatchNorm, the ANN's heads: must be **identical**;
# * **SNN only**: σ_SNN, the SNN's BatchNorm, the SNN's heads: must **change**;
# * **shared** U and Vh: they receive the sum of both paths' gradients (Eq. 13), so they
#   change too, through the SNN's half only.
#
# A third run removes the stop-gradient (teacher logits and features not detached) to show
# what it protects against.

# %%
ann_ids = {id(p) for p in net.ann_parameters()}
snn_ids = {id(p) for p in net.snn_parameters()}


def group(p):
    if id(p) in ann_ids and id(p) in snn_ids:
        return "shared"
    return "ANN only" if id(p) in ann_ids else "SNN only"


def no_stopgrad_loss(o, target, lam1, lam2):
    """Eq. 10 WITHOUT the stop-gradient: the mistake the paper warns about."""
    ce = sum(F.cross_entropy(z, target) for z in o.ann_logits + o.snn_logits)
    kld = sum(F.kl_div(s, a) for a, s in zip(o.ann_logits, o.snn_logits))
    norm = sum(F.mse_loss(s, a, reduction="batchmean") for a, s in zip(o.ann_feats, o.snn_feats))
    return ce + lam1 * kld + lam2 * norm


def gradients(lam1, lam2, stopgrad=True):
    """{name: gradient copy} after one forward + backward of Eq. 10 on the batch."""
    net.zero_grad()
    o = net(x)
    if stopgrad:
        loss, _ = JointLoss(lambda_kld=lam1, lambda_norm=lam2)(
            o.ann_logits, o.snn_logits, o.ann_feats, o.snn_feats, y)
    else:
        loss = no_stopgrad_loss(o, y, lam1, lam2)
    loss.backward()
    return {n: p.grad.copy() for n, p in net.named_parameters()}


groups = {n: group(p) for n, p in net.named_parameters()}
g_ce = gradients(0.0, 0.0)
g_joint = gradients(1.0, 0.3)
g_leak = gradients(1.0, 0.3, stopgrad=False)


def change(ga, gb, names):
    """Largest relative change of a gradient over ``names``."""
    return max(np.abs(ga[n] - gb[n]).max() / (np.abs(ga[n]).max() + 1e-30) for n in names)


print(f"{'group':9s} {'#params':>7s}  {'λ=(1,0.3) vs λ=0':>18s}  {'no stop-gradient vs λ=0':>24s}")
for gname in ("ANN only", "SNN only", "shared"):
    names = [n for n, gr in groups.items() if gr == gname]
    print(f"{gname:9s} {len(names):7d}  {change(g_ce, g_joint, names):18.3g}  "
          f"{change(g_ce, g_leak, names):24.3g}")

# %%
names = list(groups)


def rel(ga, gb):
    """‖ḡa − ḡb‖ / ‖ḡa‖ per parameter."""
    return [np.linalg.norm(ga[n] - gb[n]) / (np.linalg.norm(ga[n]) + 1e-30) for n in names]


colors = {"ANN only": "C0", "SNN only": "C1", "shared": "C2"}
fig = Figure(figsize=(10, 3.8), layout="constrained")
axes = fig.subplots(1, 2, sharey=True)
for ax, other, title in ((axes[0], g_joint, "with stop-gradient (JointLoss)"),
                         (axes[1], g_leak, "without stop-gradient")):
    r = np.maximum(rel(g_ce, other), 1e-12)   # exact zeros drawn at the floor 1e-12
    ax.scatter(np.arange(len(names)), r, c=[colors[groups[n]] for n in names], s=12)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("parameter (definition order)")
for g, c in colors.items():
    axes[0].scatter([], [], c=c, label=g)
axes[0].legend(fontsize="small")
axes[0].set_ylabel("‖ḡ(λ=(1, 0.3)) − ḡ(λ=0)‖ / ‖ḡ(λ=0)‖")
fig

# %% [markdown]
# Left: every ANN-only parameter sits at the floor (its gradient is *bit for bit* the same),
# while the SNN-only and shared parameters move. Right: without the stop-gradient the
# distillation terms reach the ANN too.
#
# ## 4. The scale of $L_{Norm}$ (docs/method.md §5)
#
# λ₂ = 0.3 looks like a gentle weight. But $L_{Norm}$ compares ANN features, which are
# unbounded, with SNN firing rates in [0, 1], and sums the squared gap over every channel
# (8 + 16 + 32 + 64 = 120 here; 960 at the paper's width 64). Two measurements:
#
# * the distributions of $F_{ANN,i}$ and $F_{SNN,i}$;
# * the gradient each term alone sends to the SNN's own parameters.

# %%
snn_only = [n for n, gr in groups.items() if gr == "SNN only"]
g_kld_only = gradients(1.0, 0.0)
g_norm_only = gradients(0.0, 0.3)


def grad_norm(g):
    """‖ḡ‖ over all the SNN's own parameters."""
    return np.sqrt(sum(float((g[n].astype(np.float64) ** 2).sum()) for n in snn_only))


push = {"L_CE": grad_norm(g_ce),
        "λ₁·L_KLD": grad_norm({n: g_kld_only[n] - g_ce[n] for n in snn_only}),
        "λ₂·L_Norm (λ₂=0.3)": grad_norm({n: g_norm_only[n] - g_ce[n] for n in snn_only})}
for k, v in push.items():
    print(f"‖gradient on the SNN's own parameters‖ from {k:20s} {v:8.4f}")
share = 0.3 * parts["norm"] / float(total.data)
print(f"\nλ₂·L_Norm is {share:.0%} of L at λ₂ = 0.3; at λ₂ = 0.003 it would be "
      f"{0.003 * parts['norm'] / (parts['ce'] + parts['kld'] + 0.003 * parts['norm']):.1%}")

# %%
fig = Figure(figsize=(10, 3.5), layout="constrained")
axes = fig.subplots(1, 4)
for i, ax in enumerate(axes):
    fa, fs = out.ann_feats[i].numpy().ravel(), out.snn_feats[i].numpy().ravel()
    bins = np.linspace(0, max(fa.max(), 1.0), 30)
    ax.hist(fa, bins, alpha=0.6, color="C0", label="ANN F (GAP of ReLU)")
    ax.hist(fs, bins, alpha=0.6, color="C1", label="SNN F (firing rate)")
    ax.set_title(f"branch {i + 1} ({out.ann_feats[i].shape[1]} ch)")
    ax.set_xlabel("feature value")
axes[0].legend(fontsize="x-small")
fig

# %% [markdown]
# This batch is one untrained network's. What the weight does in training is measured
# elsewhere: notebook 7 trains `full` at λ₂ = 0.3 and at 0.003 and prints λ₂·L_Norm's share
# of the loss in each, and docs/method.md §5 reports how the modes with $L_{Norm}$ ranked in
# an independent PyTorch implementation over several seeds. The authors' released code
# weights the feature loss by 1e-6 times a sum over a batch of 1024, about 1e-3 per sample
# (docs/method.md §7a). So λ₂ stays a parameter (`--lambda-norm`), at the paper's 0.3 by
# default.

# %% [markdown]
# ## Checks
# What this notebook showed, asserted.

# %%
# Eqs. 7-10 by hand agree with JointLoss
assert np.isclose(ce_hand, parts["ce"], rtol=1e-4)
assert np.isclose(kld_hand, parts["kld"], rtol=1e-4)
assert np.isclose(norm_hand, parts["norm"], rtol=1e-4)
assert np.isclose(total_hand, float(total.data), rtol=1e-4)
assert np.isclose(parts["ce_ann"] + parts["ce_snn"], parts["ce"], rtol=1e-5)
# four branches per path, logits (N, 10), features (N, C_i) with C_i = 8, 16, 32, 64
assert [f.shape for f in out.ann_feats] == [(BATCH, 8 * 2 ** i) for i in range(4)]
assert all(z.shape == (BATCH, 10) for z in out.ann_logits + out.snn_logits)
# SNN features are firing rates in [0, 1] (so Eq. 9's |y_SNN| is a no-op)
assert all(0.0 <= f.numpy().min() and f.numpy().max() <= 1.0 for f in out.snn_feats)
# Eq. 6: the spiking block is LIF(f(x) + x), and its LIF passes gradient to fewer units than ReLU
assert np.array_equal(y_hand, y_block.data)
assert 0.0 < lif_open < relu_open <= 1.0
# at init every CE is near log(10): no branch knows anything yet; every KL is smaller than
# every CE, and the feature distance grows branch by branch
assert all(abs(v - np.log(10)) < 1.0 for v in per_branch["CE ANN"] + per_branch["CE SNN"])
assert max(per_branch["KL"]) < min(per_branch["CE ANN"] + per_branch["CE SNN"])
assert np.all(np.diff(per_branch["Norm"]) > 0)
# the ANN's largest pooled feature grows with depth and leaves [0, 1]; the SNN's stay inside
ann_max = [f.numpy().max() for f in out.ann_feats]
assert np.all(np.diff(ann_max) > 0) and ann_max[-1] > 1.0
# the SNN's logits are its head applied to the firing rates (Eq. 3, the head being linear)
assert all(np.allclose(net.snn_heads[i](out.snn_feats[i]).numpy(), out.snn_logits[i].numpy(),
                       atol=1e-5) for i in range(4))

# %%
# stop-gradient: the ANN's own gradients are bit-identical for lambda = 0 and (1, 0.3) ...
ann_only = [n for n, gr in groups.items() if gr == "ANN only"]
assert ann_only and all(np.array_equal(g_ce[n], g_joint[n]) for n in ann_only)
# ... while the SNN's own and the shared U, Vh gradients change
assert change(g_ce, g_joint, snn_only) > 1e-3
assert change(g_ce, g_joint, [n for n, gr in groups.items() if gr == "shared"]) > 1e-3
# without the stop-gradient, the distillation terms reach the ANN
assert change(g_ce, g_leak, ann_only) > 1e-3
# the scale of L_Norm: at lambda2 = 0.3 it pushes the SNN harder than the KL term does
assert push["λ₂·L_Norm (λ₂=0.3)"] > push["λ₁·L_KLD"]
