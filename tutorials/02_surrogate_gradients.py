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
# # 2. Why spikes have no gradient, and surrogates (Eqs. 4–6)
#
# Training a network means following ∂L/∂W downhill. For a LIF layer (notebook 1) the chain
# rule over the time steps gives (Section 4.1)
#
# $$\frac{\partial L}{\partial W} = \sum_t
#   \frac{\partial L}{\partial y^{t}}\,
#   \frac{\partial y^{t}}{\partial u^{t,\mathrm{pre}}}\,
#   \frac{\partial u^{t,\mathrm{pre}}}{\partial c^{t}}\,
#   \frac{\partial c^{t}}{\partial W} \qquad \text{(Eq. 4)}$$
#
# The second factor is the derivative of the spike y = H(u_pre − V_th): a step function. This
# notebook shows why that factor breaks gradient descent, what the **surrogate** derivatives
# of Eq. 5 put in its place, and why even with surrogates and skip connections (Eq. 6) the
# gradient of a deep spiking network tends to explode or vanish.

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import matplotlib.pyplot as plt
import numpy as np

import minijoint as mj
import minijoint.functional as F
from minijoint.nn import Linear, readout
from minijoint.plot import plot_surrogates
from minijoint.snn import ATan, Rectangle, Sigmoid, Triangle, lif

FAST = os.environ.get("MINIJOINT_FAST") == "1"
V_TH = 0.5

# %% [markdown]
# ## The Heaviside's derivative is 0 or ∞
#
# Estimate dH/du with a central difference (H(u + ε) − H(u − ε)) / 2ε. Away from the
# threshold both values are equal: the estimate is exactly 0. Within ε of V_th it is
# 1/(2ε), which grows without bound as ε shrinks. The paper: "the actual updates for
# weights would either be 0 or infinity".

# %%
def heaviside(u):
    return (u >= V_TH).astype(float)


u = np.linspace(0.0, 1.0, 2001)
fig, ax = plt.subplots(figsize=(6, 3.5))
fd_peaks = {}
for i, eps in enumerate([0.1, 0.03, 0.01]):
    fd = (heaviside(u + eps) - heaviside(u - eps)) / (2 * eps)
    fd_peaks[eps] = fd.max()
    ax.plot(u, fd, color=f"C{i}", label=f"ε = {eps}: peak {fd.max():.3g}")
ax.set_xlabel("membrane potential u_pre")
ax.set_ylabel("(H(u+ε) − H(u−ε)) / 2ε")
ax.set_title("Finite differences of the spike: 0, or 1/(2ε) → ∞ at V_th")
ax.legend()
plt.show()

# %% [markdown]
# ## Surrogates (Eq. 5)
#
# The fix: keep H in the forward pass, but in the backward pass use a bump-shaped
# **surrogate** s(u) ≈ ∂y/∂u_pre. The paper's Eq. 5 gives two:
#
# $$\text{Triangle: } s(u) = \gamma\,\max\!\left(0,\; 1 - \left|\tfrac{u}{V_{th}} - 1\right|\right),
# \qquad \text{Rectangle: }
# s(u) = \tfrac{1}{a}\,\mathbb{1}\!\left[\,|u - V_{th}| < \tfrac{a}{2}\right]
# \qquad \text{(Eq. 5)}$$
#
# and minijoint adds the Sigmoid and ATan surrogates of SpikingJelly and snnTorch. Each has a
# **primitive** P with P′ = s — a smooth spike. The primitive is what makes the backward
# checkable: in `smooth` mode the LIF fires P(u_pre) instead of H(u_pre − V_th), and the
# hand-written backward becomes the exact gradient (notebook 4).
#
# | surrogate | support | peak | area = P(∞) − P(−∞) |
# |---|---|---|---|
# | Rectangle(a) | V_th ± a/2 | 1/a | 1 |
# | Triangle(γ) | (0, 2V_th) | γ | γ·V_th |
# | Sigmoid(α) | ℝ | α/4 | 1 |
# | ATan(α) | ℝ | α/2 | 1 |
#
# Rectangle with a = 1 and V_th = 0.5 (minijoint's default) is the straight-through
# estimator: gradient 1 on u ∈ (0, 1).

# %%
surrogates = [Rectangle(1.0), Triangle(1.0), Sigmoid(4.0), ATan(2.0)]
plot_surrogates(surrogates, v_th=V_TH)

# %% [markdown]
# Check the table numerically rather than trusting it: the **peak** is the maximum of s on
# a fine grid, the **area** the integral of s (trapezoid rule on a wide grid), and on any
# interval ∫ₐᵇ s = P(b) − P(a) — the fundamental theorem of calculus, which ties each
# surrogate to its primitive. ATan's tails decay like 1/u², so its integral over a finite
# window misses a little area; compare it with P over the same window. (The trapezoid rule
# is exact for the Triangle's straight pieces but off by up to one grid step h where the
# Rectangle jumps.)

# %%
h = 2e-4 if FAST else 5e-5                          # grid step of the wide grid
u_wide = V_TH + np.arange(-200.0, 200.0 + h / 2, h)
u_fine = np.linspace(V_TH - 2.0, V_TH + 2.0, 400_001)
table = []
for sg in surrogates:
    s_wide = sg.grad(u_wide, V_TH)
    area_num = np.sum((s_wide[1:] + s_wide[:-1]) * np.diff(u_wide)) / 2   # trapezoid rule
    area_window = sg.primitive(u_wide[-1:], V_TH)[0] - sg.primitive(u_wide[:1], V_TH)[0]
    peak_num = sg.grad(u_fine, V_TH).max()
    table.append((sg, peak_num, sg.peak(V_TH), area_num, area_window, sg.area(V_TH)))
    print(f"{sg!r:20s} peak {peak_num:.4f} (table {sg.peak(V_TH):.4f})   "
          f"∫s {area_num:.4f} = P(b)−P(a) {area_window:.4f}   (table area {sg.area(V_TH):.4f})")

# %% [markdown]
# The surrogate is what the engine uses: a single LIF step (T = 1) sends back
# ∂L/∂c = ∂L/∂y · s(u_pre), with u_pre = c.

# %%
c = mj.Tensor(np.linspace(-0.5, 1.5, 9)[None, :], requires_grad=True)   # (T=1, N=9)
y = lif(c, surrogate=Triangle(1.0))
y.backward(np.ones(y.shape, dtype=y.dtype))
print("u_pre:        ", np.round(c.numpy()[0], 2))
print("spike y:      ", y.numpy()[0])
print("∂L/∂c = s(u): ", np.round(c.grad[0], 3))

# %% [markdown]
# ## The gradient still explodes or vanishes (Section 4.1, Eq. 6)
#
# Through L spiking layers, the backward multiplies the gradient by one surrogate factor per
# layer (and step). Each factor is s(u_pre) — zero outside the support, up to the peak
# inside — times the weights. If the typical factor is above 1 the gradient **explodes**
# toward the input; below 1 it **vanishes**. A ReLU network has factors of exactly 1 on its
# active units.
#
# ANNs cure depth with skip connections, y = g(f(x) + x) (Eq. 6): the identity path carries
# the gradient past f. The paper's argument: for g = LIF this does not help, because g sits
# *after* the sum. With ReLU, a unit that is active keeps being active along the skip path
# (x > 0 plus a small f(x) stays > 0), so the identity passes its gradient with factor 1.
# A spiking neuron that receives a spike through the skip (x = 1) has u_pre ≈ 1 + f(x):
# whenever f(x) ≥ 0 that is at or above 2V_th = 1, outside the support of Rectangle(1) and
# of the Triangle, so its surrogate factor is 0 and the skip path carries *no* gradient —
# for the very neurons whose spikes carry the information forward.
#
# Measure it. A stack of L linear layers, each followed by ReLU (ANN) or LIF (SNN, T steps,
# Eq. 3 readout), cross-entropy at the top. `retain_grad()` keeps ∂L/∂h_l on every layer's
# output h_l. Plain stack: h_{l+1} = g(W_l h_l); residual: h_{l+1} = g(W_l h_l + h_l) with
# W_l scaled by 1/√L, the usual way to keep a residual stack's activations from growing
# with depth.

# %%
T, N, D, L, K = 4, 64, 64, 10, 10
data_rng = np.random.default_rng(0)
x0 = data_rng.random((N, D)).astype(np.float32)     # analog input, fed at every step
labels = data_rng.integers(0, K, N)


def layer_gradients(kind, residual, surrogate=None):
    """‖∂L/∂h_l‖ for l = 1..L, the share of active units (h_l > 0) per layer, and the share
    of *blocked* skip paths per layer l = 1..L−1: among the units active in h_l, those whose
    activation derivative at layer l+1 is 0 (LIF: the surrogate s(u_pre); ReLU: the unit is
    off). kind: "ann" (ReLU) or "snn" (LIF)."""
    init = np.random.default_rng(1)                  # the same weights for every variant
    layers = [Linear(D, D, rng=init) for _ in range(L)]
    if residual:
        for lin in layers:
            lin.W.data *= L ** -0.5
    head = Linear(D, K, rng=init)
    h = mj.Tensor(np.broadcast_to(x0, (T, N, D)).copy()) if kind == "snn" else mj.Tensor(x0)
    outputs, traces = [], []
    for lin in layers:
        c = lin(h) + h if residual else lin(h)       # Eq. 6 with f = linear, g = LIF / ReLU
        if kind == "snn":
            traces.append([])
            h = lif(c, surrogate=surrogate, traces=traces[-1])
        else:
            h = F.relu(c)
        outputs.append(h.retain_grad())
    logits = readout(head(h)) if kind == "snn" else head(h)   # Eq. 3 for the SNN
    F.cross_entropy(logits, labels).backward()
    norms = np.array([np.linalg.norm(h.grad) for h in outputs])
    active = [h.data > 0 for h in outputs]
    # derivative of layer l+1's activation is zero: s(u_pre) = 0, or ReLU off
    zero = [tr[0].s == 0 for tr in traces] if traces else [~a for a in active]
    blocked = np.array([zero[l + 1][active[l]].mean() for l in range(L - 1)])
    return norms, np.array([a.mean() for a in active]), blocked


variants = [("ANN (ReLU)", "ann", None),
            ("SNN Rectangle(a=0.5)", "snn", Rectangle(0.5)),
            ("SNN Rectangle(a=1)", "snn", Rectangle(1.0)),
            ("SNN Rectangle(a=2)", "snn", Rectangle(2.0)),
            ("SNN Triangle(γ=1)", "snn", Triangle(1.0))]
results = {(name, res): layer_gradients(kind, res, sg)
           for name, kind, sg in variants for res in (False, True)}

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, res in zip(axes, (False, True)):
    for i, (name, _, _) in enumerate(variants):
        norms = results[(name, res)][0]
        ax.plot(np.arange(1, L + 1), norms / norms[-1], marker="o", color=f"C{i}", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_title("residual, y = g(f(x) + x) (Eq. 6)" if res else "plain stack, y = g(f(x))")
axes[0].set_ylabel("‖∂L/∂h_l‖ / ‖∂L/∂h_L‖")
axes[1].legend(fontsize="small")
plt.show()

# %% [markdown]
# Read the curves from right (the output) to left (the input):
#
# * **ANN**: near 1 at every depth (within a factor of 3, checked at the end), with and
#   without the skip connection.
# * **SNN, plain stack**: the surrogate's shape sets the trend — the tall narrow Rectangle
#   (a = 0.5, peak 2) *explodes* toward the input; the wide flat one (a = 2, peak ½) and
#   the Triangle (peak 1, but mostly met below its peak) *vanish*. No single width is
#   right for every layer and input.
# * **SNN, residual**: the skip connection does not rescue it. Every surrogate except the
#   exploding one vanishes *faster* than in the plain stack, while the ANN's gradient
#   stays near 1.
#
# Why, in numbers: among the units that are active in layer l (a spike, or ReLU > 0), the
# share whose derivative at layer l + 1 is exactly 0 — a skip path that carries no gradient
# (for the SNN counted over every (neuron, step) pair).

# %%
open_all = {}   # the product over layers of the share of skip paths left open
for name in ("ANN (ReLU)", "SNN Rectangle(a=1)", "SNN Triangle(γ=1)"):
    _, active, blocked = results[(name, True)]
    open_all[name] = float(np.prod(1 - blocked))
    print(f"residual {name:20s} active {active.mean():.2f}   "
          f"blocked skip paths per layer: {np.round(blocked, 2)} (mean {blocked.mean():.2f}); "
          f"product of the open shares {open_all[name]:.3g}")

# %% [markdown]
# In the residual ANN about one active unit in ten is switched off by the next layer. In the
# residual SNN about half of the spikes that arrive through the skip land outside the
# surrogate's support: u_pre ≈ 1 + f(x) is at or above 2V_th = 1 whenever f(x) ≥ 0 (both
# surrogates here have support (0, 1), hence the identical rows). Compounded over the nine
# skip connections (the product of the open shares, as if each layer blocked independently),
# the identity route stays open for about a third of the paths in the ANN and for well
# under 1 % in the SNN. This is the paper's motivation for the rest of the method: let
# an ANN, whose gradients do flow, guide the SNN through losses attached to *every* stage
# (notebook 6).

# %% [markdown]
# ## A surrogate of your own: SuperSpike, checked, then trained
#
# Any bump with a primitive can stand in for ∂y/∂u_pre. SuperSpike (Zenke & Ganguli 2018)
# takes the derivative of the fast sigmoid x/(1 + β|x|), with x = u − V_th:
#
# $$s(u) = \frac{1}{(1 + \beta |x|)^2}, \qquad
# P(u) = \frac{1}{\beta}\left(1 + \frac{\beta x}{1 + \beta |x|}\right)$$
#
# so the primitive is the fast sigmoid itself, lifted to start from 0 at u → −∞.
# Its peak is 1, at the threshold; its area 2/β; its support all of ℝ, with tails that
# fall off like 1/x², as ATan's do. It has one **kink**: at V_th the slope of s jumps from
# +2β to −2β, so s is not differentiable there. A subclass of `Surrogate` writes all of
# that down: `grad` (s), `primitive` (P), `peak`, `area`, and, where they differ from the
# defaults (ℝ and no kinks), `support` and `kinks`. `get_array_module` picks NumPy or
# CuPy, whichever holds `u`.

# %%
from minijoint.backend import get_array_module
from minijoint.snn import Surrogate
from minijoint.testing import check_surrogate


class SuperSpike(Surrogate):
    r"""SuperSpike's surrogate (Zenke & Ganguli 2018), x = u − V_th:

    s(u) = 1/(1 + β|x|)²                 peak 1 at V_th, area 2/β, support ℝ, kink at V_th
    P(u) = (1 + βx/(1 + β|x|))/β         the fast sigmoid, from 0 (u → −∞) to 2/β
    """

    def __init__(self, beta=10.0):
        self.beta = float(beta)

    def grad(self, u, v_th, out=None):
        xp = get_array_module(u)
        s = 1.0 / (1.0 + self.beta * xp.abs(u - v_th)) ** 2
        if out is None:
            return s
        out[...] = s
        return out

    def primitive(self, u, v_th):
        xp = get_array_module(u)
        bx = self.beta * (u - v_th)
        return (1.0 + bx / (1.0 + xp.abs(bx))) / self.beta

    def peak(self, v_th):
        return 1.0

    def area(self, v_th):
        return 2.0 / self.beta

    def kinks(self, v_th):
        return (float(v_th),)


superspike = SuperSpike(10.0)
report = check_surrogate(superspike, v_th=V_TH)
print(report)

# %% [markdown]
# `check_surrogate` tests every promise the class makes, one line each, and names the worst
# point it met: **primitive**, P′ = s by finite differences from the threshold out to
# |u − V_th| = 10⁴; **nonnegative**; the **claims** (the peak and area measured, s > 0 on
# the support, a bend at each listed kink and nowhere else); **finite**, no NaN or overflow
# far out in float32 and float64; and **lif_gradcheck**, the smooth LIF's BPTT through it
# against finite differences (notebook 4). A class that forgets its kink is caught:

# %%
class SuperSpikeNoKink(SuperSpike):
    def kinks(self, v_th):
        return ()        # forgets the corner at V_th


forgot = check_surrogate(SuperSpikeNoKink(10.0), v_th=V_TH)
print(forgot)

# %% [markdown]
# Finite-difference checks (this one's `lif_gradcheck`, and the library's tests) keep their
# inputs away from the listed kinks; an unlisted one makes them fail at random, wherever a
# drawn input lands next to it.
#
# ### Training with it
#
# A surrogate instance goes wherever a LIF is built: `lif(c, surrogate=...)`, the layer
# `nn.LIF(surrogate=...)`, and `JointNet(surrogate=...)`, which hands it to every LIF of the
# SNN. (`TrainConfig.surrogate` and the command line's `--surrogate` take the shipped names
# only: a run's settings are saved as JSON.)
#
# A small spiking network on the 8×8 digits: the image is the input current at each of
# T = 4 steps (direct encoding), then Linear 64 → 128, LIF, and Linear 128 → 10 read out over
# time (Eq. 3); cross-entropy and Adam. Trained once with SuperSpike and once, for
# comparison, with the default Rectangle.

# %%
from minijoint.data import DataLoader, load_digits
from minijoint.models import JointNet
from minijoint.nn import LIF, Module, repeat_time
from minijoint.optim import Adam


class SpikingMLP(Module):
    """x (N, 1, 8, 8) → current (T, N, hidden) → spikes → readout (N, 10) (Eq. 3)."""

    def __init__(self, surrogate, hidden=128, T=4, rng=None):
        super().__init__()
        self.T = T
        self.fc = Linear(64, hidden, rng=rng)
        self.lif = LIF(v_th=V_TH, surrogate=surrogate)
        self.head = Linear(hidden, 10, rng=rng)

    def forward(self, x):
        c = self.fc(repeat_time(x.reshape(x.shape[0], 64), self.T))
        return readout(self.lif(c), head=self.head)


(x_train, y_train), (x_test, y_test) = load_digits()
epochs = 3 if FAST else 12
accuracy = {}
for name, sg in (("SuperSpike(β=10)", superspike), ("Rectangle(a=1)", Rectangle())):
    net = SpikingMLP(sg, rng=np.random.default_rng(0))
    opt = Adam(net.parameters(), lr=3e-3)
    loader = DataLoader(x_train, y_train, batch_size=64, seed=0)
    accuracy[name] = []
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with mj.no_grad():
            hits = net(mj.Tensor(x_test)).numpy().argmax(axis=1) == y_test
        accuracy[name].append(float(hits.mean()))
    print(f"{name:17s} test accuracy per epoch {np.round(accuracy[name], 3)}, "
          f"firing rate {net.lif.last_rate:.2f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for i, (name, acc) in enumerate(accuracy.items()):
    ax.plot(np.arange(1, epochs + 1), acc, marker="o", color=f"C{i}", label=name)
ax.axhline(0.1, color="gray", linestyle=":", label="chance")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.set_title("A spiking MLP on digits, trained through each surrogate")
ax.legend()
plt.show()

# the same instance reaches every LIF of a JointNet's SNN
joint = JointNet(arch="resnet10", width=4, T=2, num_classes=10, in_channels=1, image_size=8,
                 v_th=V_TH, surrogate=superspike, rng=np.random.default_rng(0))
joint_lifs = [m for m in joint.modules() if isinstance(m, LIF)]
print(f"JointNet: {len(joint_lifs)} LIF layers, surrogates "
      f"{set(repr(m.surrogate) for m in joint_lifs)}")

# %% [markdown]
# SuperSpike trains the network about as well as the Rectangle, though its area is 2/β =
# 0.2 rather than 1: Adam rescales each weight's step, so a surrogate's overall scale
# matters less than where it is nonzero.
#
# ## Checks

# %%
# The spike's finite difference is 0 away from V_th and 1/(2ε) at it.
for eps, peak in fd_peaks.items():
    assert np.isclose(peak, 1 / (2 * eps))
far = np.abs(u - V_TH) > 0.2
assert np.all((heaviside(u[far] + 1e-3) - heaviside(u[far] - 1e-3)) == 0)

# %%
# Each surrogate's peak and area, measured, match the table; ∫s = P(b) − P(a).
for sg, peak_num, peak, area_num, area_window, area in table:
    assert abs(peak_num - peak) < 1e-3 * peak, sg
    assert abs(area_num - area_window) < 2 * h, sg           # P is s's primitive
    tol = 5e-3 if isinstance(sg, ATan) else 2 * h             # ATan: 1/u² tails beyond ±200
    assert abs(area_num - area) < tol, sg
    # P' = s pointwise, away from the kinks
    uu = np.array([-0.7, 0.13, 0.31, 0.62, 0.93, 1.6])
    dP = (sg.primitive(uu + 1e-6, V_TH) - sg.primitive(uu - 1e-6, V_TH)) / 2e-6
    assert np.allclose(dP, sg.grad(uu, V_TH), atol=1e-6), sg

# %%
# Rectangle(a=1) at V_th = 0.5, the default, is the straight-through estimator: 1 on (0, 1).
ste = Rectangle().grad(np.array([-0.01, 0.01, 0.5, 0.99, 1.01]), V_TH)
assert Rectangle().a == 1.0 and np.array_equal(ste, [0, 1, 1, 1, 0])
# The engine's gradient through one LIF step is the surrogate; the forward is the spike.
u_pre = c.numpy()[0]
assert np.array_equal(y.numpy()[0], (u_pre >= V_TH).astype(np.float32))
assert np.allclose(c.grad[0], Triangle(1.0).grad(u_pre, V_TH))

# %%
# A surrogate of your own: SuperSpike passes every check; forgetting its kink is caught,
# at the threshold; it reaches every LIF of a JointNet; and a network trained through it
# learns (chance is 10 %), as one trained through the Rectangle does.
assert report.ok and report.failed == [], report
assert forgot.failed == ["claims"] and "s bends near u − V_th = 0," in str(forgot), forgot
assert len(joint_lifs) > 4 and all(m.surrogate is superspike for m in joint_lifs)
for name, acc in accuracy.items():
    assert acc[-1] > 0.8, (name, acc)

# %%
# Depth: the ANN's gradient keeps its size (within ×3 at every layer); the SNN's explodes
# or vanishes.
ratio = {key: r[0][0] / r[0][-1] for key, r in results.items()}   # first layer / last
print({key: round(float(v), 4) for key, v in ratio.items()})
for res in (False, True):
    norms = results[("ANN (ReLU)", res)][0]
    assert np.all((1 / 3 < norms / norms[-1]) & (norms / norms[-1] < 3))
assert ratio[("SNN Rectangle(a=0.5)", False)] > 5          # plain stack, peak 2: explodes
assert ratio[("SNN Rectangle(a=2)", False)] < 0.1          # plain stack, peak ½: vanishes
assert ratio[("SNN Triangle(γ=1)", False)] < 0.1           # plain stack, Triangle: vanishes
assert ratio[("SNN Rectangle(a=1)", True)] < 0.3           # residual does not save it
assert ratio[("SNN Triangle(γ=1)", True)] < 0.01
# with the skip connection every surrogate but the exploding one vanishes faster
for name in ("SNN Rectangle(a=1)", "SNN Rectangle(a=2)", "SNN Triangle(γ=1)"):
    assert ratio[(name, True)] < ratio[(name, False)], name
# and the reason: behind a skip connection the SNN's spikes find a zero surrogate, about
# half of them, against about one in ten active ReLU units
blocked_ann = results[("ANN (ReLU)", True)][2].mean()
assert 0.05 < blocked_ann < 0.2
for name in ("SNN Rectangle(a=1)", "SNN Triangle(γ=1)"):
    assert 0.35 < results[(name, True)][2].mean() < 0.65, name
    assert results[(name, True)][2].mean() > 3 * blocked_ann, name
assert np.array_equal(results[("SNN Rectangle(a=1)", True)][2], results[("SNN Triangle(γ=1)", True)][2])
# compounded over the layers: about a third open in the ANN, well under 1 % in the SNN
assert 0.2 < open_all["ANN (ReLU)"] < 0.5
assert open_all["SNN Rectangle(a=1)"] < 0.01 and open_all["SNN Triangle(γ=1)"] < 0.01
print("all checks passed")
