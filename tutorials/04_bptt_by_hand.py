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
# # 4. BPTT through a LIF neuron, by hand (Eq. 4)
#
# Notebook 2 replaced the spike's derivative by a surrogate. Here we follow the gradient
# through the *time steps* of a LIF layer: backpropagation through time (BPTT). The paper
# writes the weight gradient of a layer c = W x feeding LIF neurons as
#
# $$\frac{\partial L}{\partial W} = \sum_t
#   \frac{\partial L}{\partial y^{t}}\,
#   \frac{\partial y^{t}}{\partial u^{t,\mathrm{pre}}}\,
#   \frac{\partial u^{t,\mathrm{pre}}}{\partial c^{t}}\,
#   \frac{\partial c^{t}}{\partial W} \qquad \text{(Eq. 4)}$$
#
# Eq. 4 is compact: the membrane carries each step's potential into the next (Eq. 1), so
# ∂L/∂u_preᵗ also collects the influence of u_preᵗ on all *later* steps. Written out, for
# t = T..1, with s the surrogate (Eq. 5) and ḡuᵗ = ∂L/∂uᵗ:
#
# | factor | formula | `LIFTrace` field, row t |
# |---|---|---|
# | upstream ∂L/∂yᵗ | from the layers above | `gy[t]` |
# | ∂yᵗ/∂u_preᵗ | s(u_preᵗ) | `s[t]` |
# | ∂uᵗ/∂u_preᵗ (reset, Eq. 2) | (1 − yᵗ) − u_preᵗ·s(u_preᵗ) | `du_dupre[t]` |
# | ∂L/∂uᵗ (leak, Eq. 1: uᵗ enters u_preᵗ⁺¹ = τ·uᵗ + cᵗ⁺¹) | τ·∂L/∂u_preᵗ⁺¹, and 0 at t = T | `gu[t]` |
# | ∂L/∂u_preᵗ | gyᵗ·sᵗ + ḡuᵗ·∂uᵗ/∂u_preᵗ | `g_upre[t]` |
# | ∂L/∂cᵗ (∂u_pre/∂c = 1) | = ∂L/∂u_preᵗ | `gc[t]` |
#
# Row t of `gu` is one step *behind* the row of `g_upre` it comes from:
# `gu[t] = τ·g_upre[t+1]`. The recursion walks backwards: ∂L/∂u_preᵗ⁺¹ gives ḡuᵗ, which
# gives ∂L/∂u_preᵗ, and so on down to t = 1. Finally ḡW = Σₜ ḡcᵗ · xᵗᵀ, since
# ∂cᵗ/∂W = xᵗ. minijoint's LIF op runs exactly this recursion in `lif_backward`, which
# returns every factor per step as a `LIFTrace`.

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import matplotlib.pyplot as plt
import numpy as np

import minijoint as mj
import minijoint.functional as F
from minijoint.nn import readout
from minijoint.snn import Rectangle, Sigmoid, lif, lif_backward, lif_forward
from minijoint.testing import GradcheckError, gradcheck

FAST = os.environ.get("MINIJOINT_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## A linear layer feeding LIF neurons
#
# Input spikes-or-currents x (T, N, I), weight W (O, I), currents cᵗ = W xᵗ (Eq. 1), LIF
# neurons (Eqs. 1–2), then a fixed readout (Eq. 3) and cross-entropy. Everything in float64,
# so that finite differences are meaningful later. Passing `traces=[]` to `lif` collects
# the `LIFTrace` of its backward.

# %%
T, N, I, O, K = 6, 8, 5, 3, 2
TAU, V_TH = 0.25, 0.5
x = rng.uniform(0.0, 1.0, (T, N, I))          # layer input at every step
W0 = rng.normal(0.1, 0.5, (O, I))             # the weight we differentiate
W_out = rng.normal(0.0, 1.0, (K, O))          # a fixed readout
labels = rng.integers(0, K, N)


def loss_fn(W, surrogate=Rectangle(), smooth=False, detach_reset=False, traces=None, tau=TAU):
    """L(W) = CE(readout(W_out · LIF(W x)), labels)."""
    c = F.linear(mj.Tensor(x), W)                                   # (T, N, O)
    y = lif(c, tau, V_TH, surrogate, detach_reset=detach_reset, smooth=smooth,
            traces=traces)
    return F.cross_entropy(readout(F.linear(y, mj.Tensor(W_out))), labels)


W = mj.Tensor(W0.copy(), requires_grad=True)
traces = []
loss = loss_fn(W, traces=traces)
loss.backward()
trace = traces[0]
print(f"L = {loss.item():.4f};  trace fields of shape {trace.gc.shape} (T, N, O)")

# %% [markdown]
# ## The per-step terms
#
# One neuron, step by step: the one with the most steps inside the surrogate's support,
# among those that fire. We also need the forward quantities u_pre and y, which
# `lif_forward` recomputes from c.

# %%
c0 = np.einsum("oi,tni->tno", W0, x)                              # cᵗ = W xᵗ
y_sp, u_pre = lif_forward(c0, TAU, V_TH, Rectangle())
busy = (trace.s > 0).sum(axis=0) + 100 * (y_sp.sum(axis=0) > 0)   # (N, O)
n, o = np.unravel_index(np.argmax(busy), busy.shape)
print(f"neuron: sample {n}, output {o}")
print(" t |    c   u_pre  y |   gy        s   du/du_pre    gu       g_upre")
for t in range(T):
    print(f"{t + 1:2d} | {c0[t, n, o]:6.3f} {u_pre[t, n, o]:6.3f} {y_sp[t, n, o]:2.0f} | "
          f"{trace.gy[t, n, o]:+.5f} {trace.s[t, n, o]:4.1f} {trace.du_dupre[t, n, o]:+8.3f}  "
          f"{trace.gu[t, n, o]:+.5f} {trace.g_upre[t, n, o]:+.5f}")

# %% [markdown]
# (gy is the same at every step: the readout averages over t, Eq. 3, so each step's spikes
# count equally.) Read a row from right to left: ∂L/∂u_preᵗ is the direct term gyᵗ·sᵗ
# (this step's spike) plus ḡuᵗ·∂uᵗ/∂u_preᵗ (what this step's potential does to later
# steps). After a spike (y = 1) the reset gives ∂u/∂u_pre = −u_pre·s: in the surrogate's
# view a higher potential makes the spike, and so the reset to 0, more certain. Below the
# threshold but inside the support the same term makes it 1 − u_pre·s instead of 1.
#
# ## Reassembled by hand
#
# Now write the recursion ourselves, from the table above, and assemble ḡW = Σₜ ḡcᵗ·xᵗᵀ.

# %%
def bptt_by_hand(gy, u_pre, y, tau, v_th, surrogate, detach_reset=False):
    """∂L/∂u_preᵗ for t = T..1: the recursion of the table, one step at a time."""
    g_upre = np.zeros_like(gy)
    gu = np.zeros_like(gy[0])                                      # ḡu^T = 0
    for t in reversed(range(len(gy))):
        s = surrogate.grad(u_pre[t], v_th)                          # ∂yᵗ/∂u_preᵗ (Eq. 5)
        du = 1.0 - y[t] if detach_reset else (1.0 - y[t]) - u_pre[t] * s
        g_upre[t] = gy[t] * s + gu * du
        gu = tau * g_upre[t]                                        # ḡuᵗ⁻¹ = τ·ḡu_preᵗ
    return g_upre


gc_hand = bptt_by_hand(trace.gy, u_pre, y_sp, TAU, V_TH, Rectangle())
gW_hand = np.einsum("tno,tni->oi", gc_hand, x)                     # Σₜ ḡcᵗ · xᵗᵀ  (Eq. 4)
print("max |ḡW by hand − engine| =", np.abs(gW_hand - W.grad).max(),
      "  (|ḡW| up to", np.abs(W.grad).max().round(5), ")")

# %% [markdown]
# The same numbers, to rounding. The trace is not a re-computation for show: `LIFOp.backward`
# runs `lif_backward`'s code, the recursion vectorized over (N, O), and returns `trace.gc`.
#
# ## Finite differences need the smooth mode
#
# Can we check ḡW against finite differences? Not in spiking mode: L(W) is piecewise
# constant (a small change of W rarely flips a spike), so its finite difference is 0 almost
# everywhere — the surrogate gradient is *not* the derivative of the spiking network.

# %%
eps = 1e-6
j = np.unravel_index(np.argmax(np.abs(W.grad)), W0.shape)         # the largest gradient
e_j = np.zeros_like(W0)
e_j[j] = 1.0
fd_spiking = (loss_fn(mj.Tensor(W0 + eps * e_j)).item()
              - loss_fn(mj.Tensor(W0 - eps * e_j)).item()) / (2 * eps)
j = tuple(int(k) for k in j)
print(f"spiking mode, W{j}: finite difference {fd_spiking:.3g}, "
      f"surrogate gradient {W.grad[j]:.3g}")

# %% [markdown]
# In **smooth mode** the neuron fires y = P(u_pre) instead of a spike, with P the primitive of
# the surrogate (notebook 2). Then s = P′ is the true derivative, the same recursion is the
# *exact* gradient of this smooth network, and central differences must agree up to their
# own truncation and rounding error (the check at the end asks for 1e-6, relative).
# Sigmoid(α = 4) has no kinks, so every W is safe to test.

# %%
sg = Sigmoid(4.0)
W_s = mj.Tensor(W0.copy(), requires_grad=True)
traces_s = []
loss_fn(W_s, sg, smooth=True, traces=traces_s).backward()
tr_s = traces_s[0]
gW_smooth = np.einsum("tno,tni->oi", tr_s.gc, x)

fd_smooth = np.zeros_like(W0)
for idx in np.ndindex(*W0.shape):
    e = np.zeros_like(W0)
    e[idx] = eps
    fd_smooth[idx] = (loss_fn(mj.Tensor(W0 + e), sg, smooth=True).item()
                      - loss_fn(mj.Tensor(W0 - e), sg, smooth=True).item()) / (2 * eps)
err_smooth_fd = np.abs(gW_smooth - fd_smooth).max() / np.abs(fd_smooth).max()
# and with the library's checker (random upstream gradient, every element)
err_smooth_check = gradcheck(lambda W: loss_fn(W, sg, smooth=True), W0)
print(f"smooth mode: relative error by hand {err_smooth_fd:.2e}, gradcheck {err_smooth_check:.2e}")

# %% [markdown]
# ## What detaching the reset changes
#
# Many SNN codes **detach the reset**: they treat the reset uᵗ = u_preᵗ·(1 − yᵗ) as if yᵗ
# were a constant, which drops the term −u_preᵗ·s(u_preᵗ) from ∂uᵗ/∂u_preᵗ. The forward is
# unchanged; only the temporal path of the gradient changes:
#
# * after a spike, ∂u/∂u_pre becomes 0 instead of −u_pre·s: no gradient flows back through a
#   spike;
# * without a spike but inside the surrogate's support, it becomes 1 instead of 1 − u_pre·s.

# %%
W_d = mj.Tensor(W0.copy(), requires_grad=True)
traces_d = []
loss_d = loss_fn(W_d, detach_reset=True, traces=traces_d)
loss_d.backward()
tr_d = traces_d[0]
gc_hand_d = bptt_by_hand(tr_d.gy, u_pre, y_sp, TAU, V_TH, Rectangle(), detach_reset=True)
cosine = float((W.grad * W_d.grad).sum() / np.linalg.norm(W.grad) / np.linalg.norm(W_d.grad))
print(f"same loss: {loss.item():.6f} vs {loss_d.item():.6f};  "
      f"cosine(ḡW, ḡW detached) = {cosine:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
steps = np.arange(1, T + 1)
ax = axes[0]
ax.plot(steps, trace.du_dupre[:, n, o], "o-", label="reset kept: (1 − y) − u_pre·s")
ax.plot(steps, tr_d.du_dupre[:, n, o], "s--", label="reset detached: 1 − y")
ax.scatter(steps[y_sp[:, n, o] > 0], np.zeros(int(y_sp[:, n, o].sum())), marker="*", s=150,
           color="k", zorder=3, label="spike")
ax.set_xlabel("time step t")
ax.set_title(f"∂uᵗ/∂u_preᵗ for one neuron")
ax.legend(fontsize="x-small")
ax = axes[1]
direct = trace.gy[:, n, o] * trace.s[:, n, o]
ax.bar(steps - 0.2, direct, 0.4, label="direct: gyᵗ·sᵗ")
ax.bar(steps + 0.2, trace.g_upre[:, n, o] - direct, 0.4, label="through later steps: ḡuᵗ·∂u/∂u_pre")
ax.plot(steps, trace.g_upre[:, n, o], "k.-", label="∂L/∂u_preᵗ = ∂L/∂cᵗ")
ax.axhline(0, color="0.5", linewidth=0.8)
ax.set_xlabel("time step t")
ax.set_title("The two parts of ∂L/∂u_preᵗ (reset kept)")
ax.legend(fontsize="x-small")
W_sd = mj.Tensor(W0.copy(), requires_grad=True)
loss_fn(W_sd, sg, smooth=True, detach_reset=True).backward()
gW_smooth_detached = W_sd.grad
ax = axes[2]
scale = np.abs(fd_smooth).max()
ax.semilogy(np.abs(gW_smooth - fd_smooth).ravel() / scale, "o", label="reset kept (exact BPTT)")
ax.semilogy(np.abs(gW_smooth_detached - fd_smooth).ravel() / scale, "x",
            label="reset detached")
ax.set_xlabel("element of W (flattened)")
ax.set_ylabel("|ḡW − finite difference| / max |FD|")
ax.set_title("Smooth mode: backprop vs finite differences")
ax.legend(fontsize="x-small")
plt.show()

# %% [markdown]
# Here the two gradients point almost the same way (the cosine printed above; the checks
# ask for more than 0.95): each step back multiplies the temporal path by τ, so with
# τ = 0.25 it is weak next to the direct terms gyᵗ·sᵗ. How much the reset term turns ḡW
# depends on τ (and on the data); measure rather than assume:

# %%
def detach_cosine(tau):
    grads = []
    for detach in (False, True):
        Wt = mj.Tensor(W0.copy(), requires_grad=True)
        loss_fn(Wt, detach_reset=detach, tau=tau).backward()
        grads.append(Wt.grad.ravel())
    return float(grads[0] @ grads[1] / np.linalg.norm(grads[0]) / np.linalg.norm(grads[1]))


cosines = {tau: detach_cosine(tau) for tau in (0.25, 0.5, 0.75, 0.95)}
for tau, cos in cosines.items():
    print(f"τ = {tau}: cosine(kept, detached) = {cos:.3f}, "
          f"angle {np.degrees(np.arccos(min(cos, 1.0))):.1f}°")

# %% [markdown]
# At every τ above, detaching keeps the gradient's direction roughly (cosines above 0.9,
# checked at the end) and saves a multiply, but it is no longer the derivative of the
# network we run: in smooth mode (right panel above) the exact BPTT matches finite
# differences to rounding, while the detached one is off by far more (both printed below),
# and the gradient checker rejects it.

# %%
try:
    gradcheck(lambda W: loss_fn(W, sg, smooth=True, detach_reset=True), W0)
    detached_error = None
except GradcheckError as e:
    detached_error = e
    print("GradcheckError:", e)
err_detached_fd = np.abs(gW_smooth_detached - fd_smooth).max() / np.abs(fd_smooth).max()
print(f"smooth mode, max |ḡW − finite difference| / max |FD|: exact BPTT {err_smooth_fd:.1e}, "
      f"reset detached {err_detached_fd:.1e}")

# %% [markdown]
# minijoint keeps the reset in the gradient by default (`detach_reset=False`), as the
# authors' code does; `nn.LIF(detach_reset=True)` and `JointNet(detach_reset=True)` switch
# it.
#
# ## Checks

# %%
# The trace's fields are the table's formulas; gu[t] = ∂L/∂uᵗ = τ·∂L/∂u_preᵗ⁺¹ sits one
# row behind the g_upre it comes from, and is 0 at t = T.
s_check = Rectangle().grad(u_pre, V_TH)
assert np.array_equal(trace.s, s_check)
assert np.allclose(trace.du_dupre, (1 - y_sp) - u_pre * s_check)
assert np.allclose(trace.g_upre, trace.gy * trace.s + trace.gu * trace.du_dupre)
assert np.allclose(trace.gu[:-1], TAU * trace.g_upre[1:]) and np.all(trace.gu[-1] == 0)
assert trace.gc is trace.g_upre
# gy is the same at every step: the readout averages over t (Eq. 3)
assert np.allclose(trace.gy, trace.gy[:1])

# %%
# Eq. 4 reassembled by hand equals the engine's ∂L/∂W, with and without the reset term.
assert np.allclose(gc_hand, trace.gc, rtol=1e-12, atol=1e-15)
assert np.allclose(gW_hand, W.grad, rtol=1e-10, atol=1e-15)
assert np.allclose(np.einsum("tno,tni->oi", gc_hand_d, x), W_d.grad, rtol=1e-10, atol=1e-15)
assert np.abs(W.grad).max() > 1e-4                 # a real gradient, not zeros

# %%
# Spiking mode: FD sees nothing. Smooth mode: BPTT is the exact gradient.
assert fd_spiking == 0.0 and abs(W.grad[j]) > 1e-4
assert err_smooth_fd < 1e-6 and err_smooth_check < 1e-5
# Detaching the reset: same forward, different gradient, not the smooth network's gradient.
assert loss.item() == loss_d.item()
assert not np.allclose(W.grad, W_d.grad) and cosine > 0.95
# the angle depends on τ, but the direction stays roughly the same at every τ tried
assert all(cos > 0.9 for cos in cosines.values())
assert max(cosines.values()) - min(cosines.values()) > 1e-3
# in smooth mode the detached gradient misses the finite differences by orders of magnitude more
assert err_detached_fd > 1e3 * err_smooth_fd
assert np.all(tr_d.du_dupre == 1 - y_sp)
assert detached_error is not None
print("all checks passed")
