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
# # 1. The LIF neuron (Eqs. 1–3)
#
# A spiking network computes with **spikes**: each neuron outputs 0 or 1 at every time step
# t = 1..T. Between spikes it keeps a state, its **membrane potential** u. This notebook
# follows one Leaky Integrate-and-Fire (LIF) neuron step by step, measures how its leak τ
# and threshold V_th set its firing rate, and ends with the classifier that integrates
# without firing (Eq. 3).
#
# The paper's LIF (Section 3.1), with u⁰ = 0 and input current cᵗ:
#
# $$u^{t,\mathrm{pre}} = \tau\,u^{t-1} + c^{t}, \qquad c^t = W x^t \qquad \text{(Eq. 1)}$$
#
# $$y^{t} = H\!\left(u^{t,\mathrm{pre}} - V_{th}\right), \qquad
#   u^{t} = u^{t,\mathrm{pre}}\,(1 - y^{t}) \qquad \text{(Eq. 2)}$$
#
# * τ ∈ (0, 1) is the **leak**: each step the neuron keeps a fraction τ of its potential;
# * H is the Heaviside step: the neuron **fires** (y = 1) when u_pre crosses V_th;
# * the **hard reset** u = u_pre·(1 − y) sets the potential to 0 after a spike.
#
# **At the threshold itself** the paper and the code part ways. The paper's Eq. 2 fires when
# u_pre > V_th, strictly. minijoint, like the authors' released code and SpikingJelly, fires
# when u_pre ≥ V_th, i.e. it takes H(0) = 1. The two rules differ only when u_pre lands
# exactly on V_th: almost never for real-valued inputs, but float32 rounding can land there.
# docs/method.md §10 lists this among the departures from the paper's text.
#
# minijoint's defaults are the authors' released code: τ = 0.25, V_th = 0.5, T = 4.

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import matplotlib.pyplot as plt
import numpy as np

import minijoint.functional as F
from minijoint.nn import Linear, readout
from minijoint.plot import plot_membrane
from minijoint.snn import lif_forward, Rectangle

FAST = os.environ.get("MINIJOINT_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Eqs. 1–2 in five lines
#
# Before using the library, write the recursion out. `lif_by_hand` is Eq. 1 and Eq. 2 for
# one neuron, with the threshold tie decided as minijoint decides it (≥, see above; pass
# `strict=True` for the paper's >). It returns u_pre (the potential *before* the reset,
# which is what the threshold sees) and the spikes y.

# %%
def lif_by_hand(c, tau=0.25, v_th=0.5, strict=False):
    """One neuron, Eqs. 1–2: c (T,) → (u_pre (T,), y (T,)). Fires on u_pre ≥ V_th
    (minijoint, the released code), or on u_pre > V_th with strict=True (the paper's Eq. 2)."""
    u, u_pre, y = 0.0, [], []
    for c_t in c:
        up = tau * u + c_t               # Eq. 1: leak, then integrate
        crossed = up > v_th if strict else up >= v_th
        fire = 1.0 if crossed else 0.0   # Eq. 2: fire at the threshold ...
        u = up * (1.0 - fire)            # ... and reset to 0
        u_pre.append(up)
        y.append(fire)
    return np.array(u_pre), np.array(y)


T = 12
c = np.full(T, 0.3)                      # a constant input current
u_pre_hand, y_hand = lif_by_hand(c)
print("u_pre:", np.round(u_pre_hand, 3))
print("y:    ", y_hand.astype(int))

# %% [markdown]
# With τ = 0.25 and c = 0.3 the potential climbs 0.3 → 0.375 → … toward c/(1 − τ) = 0.4,
# which is *below* V_th = 0.5: the neuron never fires. The leak wins.
#
# The tie, once: a current of exactly V_th = 0.5 reaches the threshold at the first step.
# minijoint's rule fires there, the paper's strict one does not; away from the tie the two
# agree.

# %%
c_tie = np.full(4, 0.5)
print("c = 0.5, fire on ≥ (minijoint):", lif_by_hand(c_tie)[1].astype(int),
      "  fire on > (Eq. 2 as printed):", lif_by_hand(c_tie, strict=True)[1].astype(int))
c_random = np.random.default_rng(1).uniform(0.0, 1.0, 200)   # real-valued: no ties
same_off_tie = np.array_equal(lif_by_hand(c_random)[1], lif_by_hand(c_random, strict=True)[1])
print("200 random currents, both rules give the same spikes:", same_off_tie)

# %% [markdown]
# The library runs the same recursion over a whole tensor of shape (T, N, ...) at once:
# `lif_forward(c, tau, v_th, surrogate)` returns the spikes and u_pre. (The surrogate only
# matters for the backward pass — notebook 2.) Three neurons with currents 0.3, 0.45 and 0.8:

# %%
c3 = np.tile(np.array([0.3, 0.45, 0.8]), (T, 1))         # (T, K): K = 3 neurons
y3, u_pre3 = lif_forward(c3, tau=0.25, v_th=0.5, surrogate=Rectangle())
print("spikes per neuron:", y3.sum(axis=0))
plot_membrane(u_pre3, y3, v_th=0.5)

# %% [markdown]
# Read the plot: neuron 1 (c = 0.45) is below V_th at t = 1, keeps τ·0.45 of it, crosses
# V_th at t = 2, fires (star) and resets to 0; then it repeats — a **regular spike train**
# with one spike every two steps. Neuron 2 (c = 0.8) is above
# threshold from the first step and fires every step: u_pre = c each time, since the reset
# leaves nothing to leak.
#
# ## How τ and V_th set the firing rate
#
# Under a constant current c, every reset returns the neuron to u = 0, so the firing is
# periodic. Starting from 0, after k steps u_pre = c·(1 + τ + … + τᵏ⁻¹) = c·(1 − τᵏ)/(1 − τ).
# So the neuron fires every k steps, with k the smallest integer where that reaches V_th,
# and its rate is 1/k. If c/(1 − τ) < V_th it never fires: the **rheobase** (the smallest
# current that ever makes it fire) is c* = V_th·(1 − τ).
#
# * a **larger τ** (less leak) lowers the rheobase: weak inputs add up over time;
# * a **larger V_th** raises it and slows the firing.
#
# Measure it: run many neurons, each with its own constant current, and count spikes.

# %%
T_rate = 200 if FAST else 1000
currents = np.linspace(0.0, 1.2, 241)


def firing_rate(currents, tau, v_th, T=T_rate):
    """Measured spikes per step for constant currents (one neuron per current)."""
    c = np.tile(currents, (T, 1))                                   # (T, K)
    y, _ = lif_forward(c, tau=tau, v_th=v_th, surrogate=Rectangle())
    return y.mean(axis=0)


def predicted_rate(c, tau, v_th, k_max=10_000):
    """1/k with k the smallest step count where c(1 − τᵏ)/(1 − τ) ≥ V_th (0 if never)."""
    if c / (1 - tau) < v_th:
        return 0.0
    k = 1
    while c * (1 - tau**k) / (1 - tau) < v_th and k < k_max:
        k += 1
    return 1.0 / k


settings = [(0.25, 0.5), (0.5, 0.5), (0.9, 0.5), (0.5, 1.0)]
rates = {s: firing_rate(currents, *s) for s in settings}

fig, ax = plt.subplots(figsize=(6.5, 4))
for i, (tau, v_th) in enumerate(settings):
    ax.plot(currents, rates[(tau, v_th)], drawstyle="steps-post", color=f"C{i}",
            label=f"τ = {tau}, V_th = {v_th}")
    ax.axvline(v_th * (1 - tau), color=f"C{i}", linestyle=":", linewidth=1)
ax.set_xlabel("constant input current c")
ax.set_ylabel("firing rate (spikes per step)")
ax.set_title("Firing rate of a LIF neuron; dotted: rheobase V_th·(1 − τ)")
ax.legend()
plt.show()

# %% [markdown]
# The curves are staircases (rates 1/k: 1, ½, ⅓, …) that start at the rheobase and reach 1
# once c ≥ V_th (then every step fires). Doubling V_th (red vs orange) shifts the whole
# staircase right by a factor 2: only the ratio c/V_th matters. The measured rates match
# the formula (checked at the end, up to the T-step count's rounding).
#
# ## The readout integrates without firing (Eq. 3)
#
# A classifier needs logits that can be negative and graded; a spike count is neither. The
# paper's last layer therefore does not fire: it **integrates** its input current over the
# T steps and averages,
#
# $$y_{\mathrm{net}} = \frac{1}{T}\sum_{t=1}^{T} c^{t}_{\mathrm{net}}
#   = \frac{1}{T}\sum_{t=1}^{T} W x^{t} \qquad \text{(Eq. 3)}$$
#
# Because W is linear this equals W applied to the **firing rate** of the last spiking
# layer: y_net = W·((1/T)·Σₜ xᵗ). In minijoint the classifier runs at every step (time
# folded into the batch) and `readout` averages over t (`mode="sum"` is the released code's
# variant, T times larger).

# %%
T_read, N, D, K = 8, 5, 20, 3
c_hidden = rng.uniform(0.0, 1.0, size=(T_read, N, D))         # currents of a hidden LIF layer
x_spikes, _ = lif_forward(c_hidden, 0.25, 0.5, Rectangle())    # (T, N, D) spikes
head = Linear(D, K, rng=np.random.default_rng(1))
per_step = head(x_spikes.astype(np.float32))                   # W xᵗ + b at every t: (T, N, K)
y_net = readout(per_step)                                      # Eq. 3: mean over t, (N, K)
print("logits of sample 0:", np.round(y_net.numpy()[0], 3))

# Running mean (1/t)·Σ_{s ≤ t} W xˢ: how the logits settle as more steps are integrated.
running = np.cumsum(per_step.numpy(), axis=0) / np.arange(1, T_read + 1)[:, None, None]
fig, ax = plt.subplots(figsize=(6, 3.5))
for k in range(K):
    ax.plot(np.arange(1, T_read + 1), per_step.numpy()[:, 0, k], "o:", color=f"C{k}", alpha=0.5)
    ax.plot(np.arange(1, T_read + 1), running[:, 0, k], "-", color=f"C{k}", label=f"logit {k}")
ax.axhline(0, color="k", linewidth=0.8)
ax.set_xlabel("time step t")
ax.set_ylabel("classifier output")
ax.set_title("Readout (Eq. 3): dotted W xᵗ per step, solid the running mean")
ax.legend()
plt.show()

# %% [markdown]
# The per-step outputs jump with the spikes; the mean is smooth and, unlike a spike count,
# can be negative. At t = T the solid lines end at `y_net`.
#
# ## Checks
#
# What this notebook claimed, asserted:

# %%
# The library's LIF is Eqs. 1–2 written by hand, and its output is exactly 0/1.
y1, u_pre1 = lif_forward(c[:, None], 0.25, 0.5, Rectangle())
assert np.allclose(u_pre1[:, 0], u_pre_hand) and np.array_equal(y1[:, 0], y_hand)
assert set(np.unique(y3)) <= {0.0, 1.0}
# c = 0.3: u_pre climbs 0.3, 0.375, ... toward 0.4 < V_th and never fires.
assert np.allclose(u_pre_hand[:2], [0.3, 0.375]) and np.all(np.diff(u_pre_hand) >= 0)
assert np.all(u_pre_hand < 0.4) and abs(u_pre_hand[-1] - 0.4) < 1e-6 and y_hand.sum() == 0
# The tie: at u_pre = V_th minijoint (and its library LIF) fires, Eq. 2's strict > does not;
# away from ties both rules give the same spikes.
assert np.array_equal(lif_by_hand(c_tie)[1], [1, 1, 1, 1])
assert lif_by_hand(c_tie, strict=True)[1][0] == 0
assert np.array_equal(lif_forward(c_tie[:, None], 0.25, 0.5, Rectangle())[0][:, 0], [1, 1, 1, 1])
assert same_off_tie
# The three example neurons: never / one spike every two steps / every step, with u_pre = c.
assert y3[:, 0].sum() == 0
assert np.array_equal(y3[:, 1], np.tile([0.0, 1.0], T // 2))
assert y3[:, 2].sum() == T and np.allclose(u_pre3[:, 2], 0.8)

# %%
for (tau, v_th), r in rates.items():
    rheobase = v_th * (1 - tau)
    assert np.all(r[currents < rheobase - 1e-9] == 0), "fired below the rheobase"
    assert np.all(r[currents >= v_th] == 1.0), "c ≥ V_th must fire every step"
    assert np.all(np.diff(r) >= 0), "rate must not fall as the current grows"
    # measured rate = 1/k up to counting whole periods within T steps (exactly at the
    # rheobase u_pre reaches V_th only in the limit, and rounding decides: skip that point)
    pred = np.array([predicted_rate(ci, tau, v_th) for ci in currents])
    away = np.abs(currents - rheobase) > 1e-6
    assert np.all(np.abs(r - pred)[away] <= 1.0 / T_rate + 1e-12), (tau, v_th)
# Less leak (larger τ) fires at least as often; a higher threshold at most as often.
assert np.all(rates[(0.9, 0.5)] >= rates[(0.5, 0.5)])
assert np.all(rates[(0.5, 0.5)] >= rates[(0.25, 0.5)])
assert np.all(rates[(0.5, 1.0)] <= rates[(0.5, 0.5)])
# Doubling V_th stretches the staircase by 2 along c: rate(2c, 2 V_th) = rate(c, V_th).
half = currents <= currents[-1] / 2
assert np.array_equal(rates[(0.5, 1.0)][::2][:half.sum()], rates[(0.5, 0.5)][half])

# %%
# Eq. 3: the mean over t of W xᵗ equals W applied to the firing rate.
rate_in = x_spikes.mean(axis=0).astype(np.float32)            # (N, D)
assert np.allclose(y_net.numpy(), head(rate_in).numpy(), atol=1e-5)
assert y_net.shape == (N, K) and (y_net.numpy() < 0).any()     # logits can be negative
# At t = T the running mean ends at y_net; mode="sum" is T times the mean.
assert np.allclose(running[-1], y_net.numpy(), atol=1e-6)
assert np.allclose(readout(per_step, mode="sum").numpy(), T_read * y_net.numpy(), atol=1e-5)
# minijoint's defaults: τ = 0.25, V_th = 0.5, T = 4
from minijoint.joint.config import TrainConfig
assert (TrainConfig().tau, TrainConfig().v_th, TrainConfig().T) == (0.25, 0.5, 4)
print("all checks passed")
