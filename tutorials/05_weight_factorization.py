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
# # 5. Weight factorization (Eqs. 11–13)
#
# The second ingredient of Joint A-SNN lets the ANN and the SNN **share part of every
# weight**. Any matrix factors by the singular value decomposition (SVD):
#
# $$W = U\,\Sigma\,V^\top \qquad \text{(Eq. 11)} \qquad\qquad
#   W = \sum_{i=1}^{r} \sigma_i\, u_i v_i^\top \qquad \text{(Eq. 12)}$$
#
# — a weighted sum of r rank-1 matrices. The paper keeps the singular *vectors* shared and
# gives each network its own singular *values*:
#
# $$W_{\mathrm{ANN}} = U\,\Sigma_{\mathrm{ANN}}\,V, \qquad
#   W_{\mathrm{SNN}} = U\,\Sigma_{\mathrm{SNN}}\,V \qquad \text{(Eq. 13)}$$
#
# U, V, Σ_ANN and Σ_SNN are all trained by gradient descent, starting from the SVD of a
# Kaiming-initialised W with Σ_ANN = Σ_SNN. This notebook builds it for a convolution
# kernel, derives the gradients of U, V and Σ and checks them, runs both paths, and counts
# parameters against the paper's Section 4.3.1.
#
# minijoint stores Vᵀ as `Vh` (r × C), as NumPy's SVD returns it, and uses the **thin**
# SVD: r = min(C, OC), U (OC × r), Vh (r × C).

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import matplotlib.pyplot as plt
import numpy as np

import minijoint as mj
import minijoint.functional as F
from minijoint.nn import TwinConv2d, count_parameters, init, rebuild_weight
from minijoint.optim import SGD
from minijoint.plot import plot_singular_values
from minijoint.testing import gradcheck

FAST = os.environ.get("MINIJOINT_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## One SVD per kernel position
#
# A convolution kernel W has shape (OC, C, KH, KW). Section 4.3.2: "we can apply the same SVD
# decomposition in every entry of the kernel" — at each of the KH·KW positions (i, j),
# W[:, :, i, j] is an OC × C matrix with its own SVD. To batch them, **permute** the axes to
# (KH, KW, OC, C); NumPy's SVD then factors the last two axes of every position at once.

# %%
OC, C, KH, KW = 6, 4, 3, 3
W = init.kaiming_normal((OC, C, KH, KW), fan_in=C * KH * KW, rng=np.random.default_rng(7),
                        dtype=np.float64)
W_pos = W.transpose(2, 3, 0, 1)                                # (KH, KW, OC, C): permute
U, sigma, Vh = np.linalg.svd(W_pos, full_matrices=False)      # thin SVD at every position
print("U", U.shape, " sigma", sigma.shape, " Vh", Vh.shape)

W_rebuilt = (U * sigma[..., None, :]) @ Vh                     # Eq. 12, every position
W_back = W_rebuilt.transpose(2, 3, 0, 1)                       # back to (OC, C, KH, KW)
print("rebuild error:", np.abs(W_back - W).max())
print("position (0, 0): σ =", np.round(sigma[0, 0], 3), " = σ of W[:, :, 0, 0]:",
      np.round(np.linalg.svd(W[:, :, 0, 0], compute_uv=False), 3))

# %% [markdown]
# ## Why not reshape?
#
# `W.reshape(KH, KW, OC, C)` has the right shape but the wrong contents: reshape keeps the
# memory order (OC, C, KH, KW) and just cuts it differently, so the "matrix at position
# (0, 0)" holds entries from every kernel position and several channels. Its SVD means
# nothing for the kernel, and a layer that reshapes for the SVD but permutes back to
# (OC, C, KH, KW) in its forward (as the conv needs) starts from a **scrambled** weight: the
# same numbers in other places. (The authors' released code reshapes at this point.)
#
# Colour every entry of W by the kernel position it comes from, then look at what each
# route puts at position (0, 0):

# %%
pos_id = np.broadcast_to(np.arange(KH * KW).reshape(1, 1, KH, KW), W.shape)  # (OC, C, KH, KW)
by_permute = pos_id.transpose(2, 3, 0, 1)[0, 0]               # (OC, C) at position (0, 0)
by_reshape = pos_id.reshape(KH, KW, OC, C)[0, 0]

fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), layout="constrained")
for ax, m, title in ((axes[0], by_permute, "permute: W.transpose(2, 3, 0, 1)[0, 0]"),
                     (axes[1], by_reshape, "reshape: W.reshape(KH, KW, OC, C)[0, 0]")):
    im = ax.imshow(m, cmap="tab10", vmin=-0.5, vmax=9.5)
    for (r, c_), v in np.ndenumerate(m):
        ax.text(c_, r, f"({v // KW},{v % KW})", ha="center", va="center", fontsize=8)
    ax.set_xlabel("input channel c")
    ax.set_ylabel("output channel o")
    ax.set_title(title, fontsize="small")
fig.suptitle("Kernel position (i, j) that each entry of the 'position (0, 0)' matrix comes from")
plt.show()

W_scrambled = ((lambda u, s, vh: (u * s[..., None, :]) @ vh)(
    *np.linalg.svd(W.reshape(KH, KW, OC, C), full_matrices=False))).transpose(2, 3, 0, 1)
moved = np.mean(~np.isclose(W_scrambled, W))
print(f"reshape route: {moved:.0%} of the entries of the initial weight are moved; "
      f"same values: {np.allclose(np.sort(W_scrambled.ravel()), np.sort(W.ravel()))}")

# %% [markdown]
# ## The layer: `TwinConv2d` and `rebuild_weight`
#
# minijoint's `TwinConv2d` (factorized with `wft=True`, the default; `wft=False` gives each
# path its own W) does the permuted per-position SVD at init and holds U (KH, KW, OC, r),
# Vh (KH, KW, r, C), σ_ANN and σ_SNN (KH, KW, r). `rebuild_weight(U, σ, Vh)` is the
# differentiable Eq. 12/13, `layer.weight(path)` permutes its result back, and
# `layer(x, path)` rebuilds, then convolves. At init
# both paths rebuild exactly the Kaiming draw (the same seed gives the same W as above).

# %%
with mj.default_dtype(np.float64):
    layer = TwinConv2d(C, OC, (KH, KW), padding=1, rng=np.random.default_rng(7))
W_ann0, W_snn0 = layer.weight("ann").numpy(), layer.weight("snn").numpy()
print("layer.weight('ann') == W:", np.allclose(W_ann0, W),
      "   ann == snn:", np.allclose(W_ann0, W_snn0))
print(layer)

# %% [markdown]
# ## Gradients of U, V and Σ
#
# Let G = ∂L/∂W at one kernel position. Differentiate W = U diag(σ) Vh:
# dW = dU·diag(σ)·Vh + U·diag(dσ)·Vh + U·diag(σ)·dVh, and dL = ⟨G, dW⟩ (sum of elementwise
# products). Moving each d· to the right of the inner product with the trace's cyclic rule:
#
# $$\bar g_U = G\,V_h^\top \mathrm{diag}(\sigma), \qquad
#   \bar g_{V_h} = \mathrm{diag}(\sigma)\,U^\top G, \qquad
#   \bar g_{\sigma_k} = u_k^\top G\, v_k = \left[\mathrm{diag}(U^\top G\, V_h^\top)\right]_k$$
#
# Check them twice: against the engine on a real convolution loss, and against finite
# differences with the gradient checker.

# %%
x = rng.standard_normal((2, C, 5, 5))
R = rng.standard_normal((2, OC, 5, 5))                          # a random upstream gradient


def conv_loss(W_t):
    """L = ⟨conv2d(x, W), R⟩, a scalar."""
    return (F.conv2d(mj.Tensor(x), W_t, padding=1) * mj.Tensor(R)).sum()


# G = ∂L/∂W from the engine, with W as a plain leaf
W_leaf = mj.Tensor(W.copy(), requires_grad=True)
conv_loss(W_leaf).backward()
G = W_leaf.grad.transpose(2, 3, 0, 1)                           # (KH, KW, OC, C)

# the formulas, every position at once
gU_hand = G @ np.swapaxes(Vh, -1, -2) * sigma[..., None, :]
gVh_hand = sigma[..., :, None] * (np.swapaxes(U, -1, -2) @ G)
gsigma_hand = np.einsum("...ok,...oc,...kc->...k", U, G, Vh)

# the engine, through rebuild_weight
U_t, s_t, Vh_t = (mj.Tensor(a.copy(), requires_grad=True) for a in (U, sigma, Vh))
conv_loss(F.transpose(rebuild_weight(U_t, s_t, Vh_t), (2, 3, 0, 1))).backward()
for name, hand, eng in (("U", gU_hand, U_t.grad), ("Vh", gVh_hand, Vh_t.grad),
                        ("sigma", gsigma_hand, s_t.grad)):
    print(f"ḡ{name}: max |by hand − engine| = {np.abs(hand - eng).max():.2e}")

err_rebuild = gradcheck(rebuild_weight, U, sigma, Vh)
print(f"gradcheck(rebuild_weight): max relative error {err_rebuild:.2e}")

# %% [markdown]
# ## Two paths, one set of singular vectors
#
# `layer(x, "ann")` and `layer(x, "snn")` run the same convolution with W_ANN and W_SNN. U
# and Vh collect the gradient of **both** paths; each σ only its own. Check with a loss on
# each path separately, then on their sum — and with the gradient checker over all four
# parameters at once.

# %%
xa, xs = rng.standard_normal((2, C, 5, 5)), rng.standard_normal((2, C, 5, 5))
Ra, Rs = rng.standard_normal((2, OC, 5, 5)), rng.standard_normal((2, OC, 5, 5))


def path_loss(paths):
    total = 0.0
    for path, xx, RR in (("ann", xa, Ra), ("snn", xs, Rs)):
        if path in paths:
            total = total + (layer(mj.Tensor(xx), path) * mj.Tensor(RR)).sum()
    return total


def grads_of(paths):
    layer.zero_grad()
    path_loss(paths).backward()
    return {name: None if p.grad is None else p.grad.copy() for name, p in layer.named_parameters()}


g_ann, g_snn, g_both = grads_of({"ann"}), grads_of({"snn"}), grads_of({"ann", "snn"})
print("after the ANN loss alone, sigma_snn.grad is", g_ann["sigma_snn"])
print("U.grad(both) == U.grad(ann) + U.grad(snn):",
      np.allclose(g_both["U"], g_ann["U"] + g_snn["U"]))
params = [layer.U, layer.Vh, layer.sigma_ann, layer.sigma_snn]
err_paths = gradcheck(lambda *ps: path_loss({"ann", "snn"}), *params)
print(f"gradcheck over U, Vh, σ_ANN, σ_SNN: {err_paths:.2e}")

# %% [markdown]
# Training moves σ_ANN and σ_SNN apart. Give the two paths different goals (each path fits
# its own random target convolution) and take some SGD steps; then plot σ_ANN against σ_SNN
# for every position and index — at init every point lies on the diagonal.

# %%
targets = {p: rng.standard_normal((2, OC, 5, 5)) for p in ("ann", "snn")}
opt = SGD(layer.parameters(), lr=0.03)
steps = 20 if FAST else 100
for step in range(steps):
    opt.zero_grad()
    loss = 0.0
    for path, xx in (("ann", xa), ("snn", xs)):
        diff = layer(mj.Tensor(xx), path) - mj.Tensor(targets[path])
        loss = loss + (diff * diff).mean()
    loss.backward()
    opt.step()
gap = np.abs(layer.sigma_ann.numpy() - layer.sigma_snn.numpy()).mean()
print(f"after {steps} steps: mean |σ_ANN − σ_SNN| = {gap:.4f}")
plot_singular_values(layer)

# %% [markdown]
# ## Counting parameters (Section 4.3.1)
#
# Per kernel position, with r = min(C, OC):
#
# | scheme | weights per position |
# |---|---|
# | separate W_ANN, W_SNN (baseline) | 2·C·OC |
# | the paper's formula (full SVD: U is OC × OC, V is C × C) | C² + OC² + 2r |
# | minijoint (thin SVD: U is OC × r, Vh is r × C) | r·(C + OC) + 2r |
#
# The paper: "for most layers C = OC, so our method only has 2C additional parameters";
# "for the downsampling layers, C_out = 2C_in and thus our method has 20% more parameters".
# `count_parameters` reports all three; first check it against the formulas on a few layers.

# %%
def formulas(C, OC, k):
    r, P = min(C, OC), k * k
    return {"separate": 2 * C * OC * P, "paper": (C * C + OC * OC + 2 * r) * P,
            "factorized": (r * (C + OC) + 2 * r) * P}


checked = []
for C_, OC_, k in [(4, 6, 3), (8, 8, 3), (8, 16, 3), (8, 16, 1)]:
    fact, sep = TwinConv2d(C_, OC_, k, rng=rng), TwinConv2d(C_, OC_, k, wft=False, rng=rng)
    n_f, n_s = count_parameters(fact), count_parameters(sep)
    checked.append((formulas(C_, OC_, k), n_f, n_s, fact.num_parameters(), sep.num_parameters()))
    print(f"C={C_:2d} OC={OC_:2d} k={k}: {n_f}")

# %% [markdown]
# Now the paper's ResNet-18 (width 64) convolutions, from the formulas: the 3×3 convolutions
# with C = OC, the first convolution of each down-sampling stage (C → 2C) and its 1×1
# shortcut.

# %%
shapes = [("3×3, 64→64", 64, 64, 3), ("3×3, 128→128", 128, 128, 3), ("3×3, 512→512", 512, 512, 3),
          ("3×3, 64→128", 64, 128, 3), ("3×3, 256→512", 256, 512, 3), ("1×1, 256→512", 256, 512, 1)]
table = {name: formulas(C_, OC_, k) for name, C_, OC_, k in shapes}
print(f"{'layer':14s} {'separate':>10s} {'paper':>10s} {'ours':>10s}  paper/sep  ours/sep")
for name, t in table.items():
    print(f"{name:14s} {t['separate']:10d} {t['paper']:10d} {t['factorized']:10d}"
          f"  {t['paper'] / t['separate']:9.3f} {t['factorized'] / t['separate']:9.3f}")

fig, ax = plt.subplots(figsize=(8, 3.6))
xs_ = np.arange(len(table))
for i, key in enumerate(["paper", "factorized"]):
    ax.bar(xs_ + (i - 0.5) * 0.38, [t[key] / t["separate"] for t in table.values()], 0.38,
           label={"paper": "paper's formula (full SVD)", "factorized": "minijoint (thin SVD)"}[key])
ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="separate W_ANN, W_SNN")
ax.set_xticks(xs_, list(table), fontsize="small")
ax.set_ylabel("weights / separate baseline")
ax.set_title("Parameter count of a factorized layer pair (Section 4.3.1)")
ax.set_ylim(0, 1.6)
ax.legend(fontsize="small", loc="upper center", ncols=3)
plt.show()

# %% [markdown]
# * C = OC: the paper's count is 2C² + 2C per position against 2C² — exactly "2C
#   additional", and the thin SVD gives the same number (r = C).
# * C → 2C: the paper's formula gives C² + 4C² + 2C ≈ 5C² against 4C², i.e. **25%** more
#   (the text says 20%: 20% is the baseline's shortfall relative to the paper's count,
#   4/5). With the thin SVD, U is 2C × C, and the count r·(C + OC) + 2r = 3C² + 2C is about
#   **25% fewer** than the baseline: the full SVD stores C extra columns of U that multiply
#   nothing.
#
# ## Checks

# %%
# Permute-SVD-rebuild is exact, position by position; reshape scrambles.
assert np.allclose(W_back, W, atol=1e-12)
for i in range(KH):
    for j in range(KW):
        assert np.allclose(sigma[i, j], np.linalg.svd(W[:, :, i, j], compute_uv=False))
assert np.all(by_permute == 0) and len(np.unique(by_reshape)) > 1
assert moved > 0.5 and not np.allclose(W_scrambled, W)
assert np.allclose(np.sort(W_scrambled.ravel()), np.sort(W.ravel()))   # the same numbers, moved
# The layer starts at the Kaiming draw on both paths.
assert np.allclose(W_ann0, W) and np.allclose(W_snn0, W)

# %%
# Gradients of U, Vh, σ: the formulas, the engine and finite differences agree.
assert np.allclose(gU_hand, U_t.grad) and np.allclose(gVh_hand, Vh_t.grad)
assert np.allclose(gsigma_hand, s_t.grad)
assert err_rebuild < 1e-5 and err_paths < 1e-5
# Each σ only hears its own path; U and Vh hear both.
assert g_ann["sigma_snn"] is None and g_snn["sigma_ann"] is None
assert not np.allclose(g_ann["U"], 0) and not np.allclose(g_snn["U"], 0)
for name in ("U", "Vh"):
    assert np.allclose(g_both[name], g_ann[name] + g_snn[name])
assert np.allclose(g_both["sigma_ann"], g_ann["sigma_ann"])
assert np.allclose(g_both["sigma_snn"], g_snn["sigma_snn"])
# Training separates the singular values.
assert gap > 1e-3

# %%
# count_parameters matches the three formulas and the weights actually held.
for f, n_f, n_s, held_f, held_s in checked:
    assert (n_f.factorized, n_f.separate, n_f.paper) == (f["factorized"], f["separate"], f["paper"])
    assert n_f.held == f["factorized"] == held_f
    assert n_s.held == f["separate"] == held_s
# Section 4.3.1's arithmetic: +2C per position when C = OC, +25% (not 20%) for C → 2C.
for C_ in (64, 128, 512):
    t = formulas(C_, C_, 1)
    assert t["paper"] - t["separate"] == 2 * C_ == t["factorized"] - t["separate"]
t = table["3×3, 64→128"]
assert abs(t["paper"] / t["separate"] - 1.25) < 0.01
assert abs(t["factorized"] / t["separate"] - 0.75) < 0.01
print("all checks passed")
