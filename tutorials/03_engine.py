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
# # 3. The engine: Tensor, Function, backward, im2col, and the gradient checker
#
# Everything in minijoint — the LIF neuron, the factorized layers, the joint loss — runs on
# a small reverse-mode autodiff engine. This notebook opens it up:
#
# 1. a `Tensor` remembers the op that made it; `backward()` walks those records in reverse;
# 2. an op is one `Function` class with a `forward` and a `backward` on raw arrays;
# 3. a convolution is one matrix product after `im2col` (drawn out below);
# 4. the **gradient checker** compares every backward with finite differences — and we
#    watch it catch a planted bug that a lazier test misses.
#
# The same engine computes Eq. 4's chain rule through the LIF neuron (notebook 4).

# %%
# %matplotlib inline
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # run from tutorials/ without installing

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle as Box

import minijoint as mj
import minijoint.functional as F
from minijoint import Function, Tensor
from minijoint.testing import GradcheckError, gradcheck

FAST = os.environ.get("MINIJOINT_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Tensor and backward
#
# f(a, b) = Σᵢ (aᵢ·bᵢ + aᵢ²) has ∂f/∂a = b + 2a and ∂f/∂b = a. Each operation below creates
# a new Tensor whose `creator` records the op and its inputs: a graph.

# %%
a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
b = Tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
f = (a * b + a ** 2).sum()


def show_graph(t, depth=0):
    """Print the graph that produced t, output first."""
    if t.creator is None:
        print("  " * depth + f"leaf {t.shape}  requires_grad={t.requires_grad}")
        return
    print("  " * depth + f"{t.creator.fn.__name__} -> {t.shape}")
    for x in t.creator.inputs:
        if x is not None:
            show_graph(x, depth + 1)


show_graph(f)
f.backward()
print("a.grad =", a.grad, "  expected b + 2a =", b.numpy() + 2 * a.numpy())
print("b.grad =", b.grad, "  expected a      =", a.numpy())

# %% [markdown]
# `backward()` visits every tensor after all the tensors computed from it (reverse
# topological order), calls each op's `backward` once with the summed upstream gradient
# ḡy = ∂f/∂y, and adds the results into the inputs' `.grad`. `a` is used twice (in `a*b` and
# in `a**2`), so its gradient is the sum of both contributions.
#
# ## Function: one op, one class
#
# A new op is a subclass of `Function` with two static methods on raw NumPy/CuPy arrays:
# `forward(ctx, *inputs)` computes y and saves what the backward needs in `ctx`;
# `backward(ctx, gy)` returns one gradient per input. Softplus, y = log(1 + eˣ), has
# dy/dx = σ(x) = 1/(1 + e⁻ˣ):

# %%
class Softplus(Function):
    r"""y = log(1 + exp(x)).   ḡx = gy · σ(x)."""

    @staticmethod
    def forward(ctx, x):
        xp = mj.backend.get_array_module(x)
        ctx.x = x
        return xp.logaddexp(0.0, x)          # log(e⁰ + eˣ), no overflow for large x

    @staticmethod
    def backward(ctx, gy):
        xp = mj.backend.get_array_module(gy)
        return gy / (1.0 + xp.exp(-ctx.x))   # gy · σ(x)


def softplus(x):
    return Softplus.apply(x)


x = Tensor(np.linspace(-3, 3, 7), requires_grad=True)
softplus(x).sum().backward()
print("softplus'(x) =", np.round(x.grad, 4))

# %% [markdown]
# ## The gradient checker
#
# `minijoint.testing.gradcheck(fn, *inputs)` checks a backward against **central
# differences** in float64, (f(x + εe_j) − f(x − εe_j)) / 2ε for every element j, with
# f = ⟨fn(x), gy⟩ for a **random** upstream gradient gy. It returns the largest relative
# error, or raises `GradcheckError` naming the input, the element and both values.

# %%
err_softplus = gradcheck(softplus, rng.standard_normal((3, 4)))
print(f"softplus: max relative error {err_softplus:.2e}")

# %% [markdown]
# ## im2col: a convolution as one matrix product
#
# A convolution slides a KH×KW window over the input. `im2col` copies every window into one
# **column** of a matrix, row (c, i, j) = channel c, kernel row i, kernel column j:
#
# col[(c, i, j), (n, oh, ow)] = x_pad[n, c, SH·oh + i, SW·ow + j]
#
# Then the whole convolution is W₂ · col with W₂ = W.reshape(OC, C·KH·KW). Here is a 4×4
# image with a 3×3 kernel, stride 1, no padding: four windows, four columns.

# %%
x_img = np.arange(16, dtype=float).reshape(1, 1, 4, 4)         # (N, C, H, W)
col = F.im2col(x_img, kernel_size=3, stride=1, padding=0)       # (C·KH·KW, N·OH·OW) = (9, 4)
starts = [(0, 0), (0, 1), (1, 0), (1, 1)]                       # (oh, ow) of each window

fig, (ax_img, ax_col) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained",
                                     gridspec_kw={"width_ratios": [1, 1.1]})
ax_img.imshow(x_img[0, 0], cmap="Greys", alpha=0.25)
for (r, c_), v in np.ndenumerate(x_img[0, 0]):
    ax_img.text(c_, r, f"{v:.0f}", ha="center", va="center")
for k, (oh, ow) in enumerate(starts):
    pad = 0.08 * (k + 1)
    ax_img.add_patch(Box((ow - 0.5 + pad, oh - 0.5 + pad), 3 - 2 * pad, 3 - 2 * pad,
                         fill=False, edgecolor=f"C{k}", linewidth=2.5))
ax_img.set_title("x (4×4): four 3×3 windows")
ax_col.imshow(col, cmap="Greys", alpha=0.25, aspect="auto")
for (r, c_), v in np.ndenumerate(col):
    ax_col.text(c_, r, f"{v:.0f}", ha="center", va="center", color=f"C{c_}", fontsize=12)
ax_col.set_xticks(range(4), [f"{k}: {s}" for k, s in enumerate(starts)], fontsize="small")
ax_col.set_yticks(range(9), [f"({0}, {i}, {j})" for i in range(3) for j in range(3)],
                  fontsize="small")
ax_col.set_xlabel("column = window k: (oh, ow)")
ax_col.set_ylabel("row (c, i, j)")
ax_col.set_title("col = im2col(x): one column per window")
for ax in (ax_img, ax_col):
    ax.tick_params(length=0)
ax_img.set_xticks([])
ax_img.set_yticks([])
plt.show()

# %% [markdown]
# Each coloured window on the left is the same-coloured column on the right, read row by
# row. Now the convolution is a matrix product, and it must agree with the definition
# y[n, o, oh, ow] = Σ_{c,i,j} W[o, c, i, j]·x_pad[n, c, SH·oh + i, SW·ow + j] written as
# loops — here with 2 channels, stride 2 and padding 1.

# %%
def conv_loops(x, W, stride, pad):
    """The definition, as slow loops."""
    N, C, H, Wd = x.shape
    OC, _, KH, KW = W.shape
    xp_ = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH, OW = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    y = np.zeros((N, OC, OH, OW))
    for n in range(N):
        for o in range(OC):
            for oh in range(OH):
                for ow in range(OW):
                    win = xp_[n, :, stride * oh:stride * oh + KH, stride * ow:stride * ow + KW]
                    y[n, o, oh, ow] = (W[o] * win).sum()
    return y


x_big = rng.standard_normal((2, 2, 5, 5))
W_big = rng.standard_normal((3, 2, 3, 3))
y_lib = F.conv2d(Tensor(x_big), Tensor(W_big), stride=2, padding=1).numpy()
col_big = F.im2col(x_big, 3, stride=2, padding=1)                            # (18, 2·3·3)
y_gemm = (W_big.reshape(3, -1) @ col_big).reshape(3, 2, 3, 3).transpose(1, 0, 2, 3)
y_loop = conv_loops(x_big, W_big, stride=2, pad=1)
print("max |conv2d − loops| =", np.abs(y_lib - y_loop).max(),
      "  max |W₂·col − loops| =", np.abs(y_gemm - y_loop).max())

# %% [markdown]
# The backward needs the **adjoint** of im2col, `col2im`, which adds every column entry
# back to the pixel it came from (overlapping windows add up). Adjoint means
# ⟨im2col(x), Y⟩ = ⟨x, col2im(Y)⟩ for all x and Y — so the gradient of im2col is col2im.
# And the gradient checker confirms the whole conv2d backward (input, weight and bias):

# %%
Y = rng.standard_normal(col_big.shape)
lhs = float((F.im2col(x_big, 3, 2, 1) * Y).sum())
rhs = float((x_big * F.col2im(Y, x_big.shape, 3, 2, 1)).sum())
print(f"⟨im2col(x), Y⟩ = {lhs:.10f}   ⟨x, col2im(Y)⟩ = {rhs:.10f}")

err_conv = gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=2, padding=1),
                     x_big, W_big, rng.standard_normal(3))
print(f"conv2d: max relative error {err_conv:.2e}")

# %% [markdown]
# ## Watching the checker catch a planted bug
#
# `Reverse` flips a vector: y = (x_{n−1}, …, x₀). Its gradient must flip gy back:
# ḡx = reverse(gy). The version below forgets the flip — a typical slip.
#
# First, the *lazy* test many people write: backprop from `y.sum()` and compare with the
# finite difference of `sum(fn(x))`. The upstream gradient is then all ones, and a flipped
# vector of ones is still all ones: **the bug passes**.

# %%
class BuggyReverse(Function):
    """y = x[::-1]; the backward should return gy[::-1] but returns gy (the bug)."""

    @staticmethod
    def forward(ctx, x):
        return x[::-1].copy()

    @staticmethod
    def backward(ctx, gy):
        return gy.copy()                  # BUG: forgot to reverse


def buggy_reverse(x):
    return BuggyReverse.apply(x)


x0 = rng.standard_normal(6)
xt = Tensor(x0.copy(), requires_grad=True)
buggy_reverse(xt).sum().backward()
eps = 1e-6
fd_sum = np.array([(buggy_reverse(Tensor(x0 + eps * e)).numpy().sum()
                    - buggy_reverse(Tensor(x0 - eps * e)).numpy().sum()) / (2 * eps)
                   for e in np.eye(6)])
lazy_passes = np.allclose(xt.grad, fd_sum)
print("lazy sum test passes:", lazy_passes, "  backprop", xt.grad, "  numeric", np.round(fd_sum, 6))

# %% [markdown]
# `gradcheck` draws a **random** upstream gradient, so ⟨reverse(x), gy⟩ depends on which
# element goes where, and the forgotten flip shows:

# %%
try:
    gradcheck(buggy_reverse, x0)
    caught = None
except GradcheckError as e:
    caught = e
    print("GradcheckError:", e)

# %% [markdown]
# The message names the input, the element, the numeric and the analytic value. The
# engine also checks every gradient's **shape and dtype** as it goes, so a backward that
# returns, say, a summed gradient is stopped at once with the op's name:

# %%
class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, gy):
        return 2 * gy.sum(axis=0)          # BUG: reduced an axis


try:
    WrongShape.apply(Tensor(np.ones((2, 3)), requires_grad=True)).sum().backward()
    shape_error = None
except RuntimeError as e:
    shape_error = e
    print("RuntimeError:", e)

# %% [markdown]
# ## Checks

# %%
assert np.allclose(a.grad, b.numpy() + 2 * a.numpy()) and np.allclose(b.grad, a.numpy())
assert np.allclose(x.grad, 1 / (1 + np.exp(-x.numpy())))
assert err_softplus < 1e-6

# %%
# im2col: column k is window k read row by row; conv = W₂·col = the loops.
for k, (oh, ow) in enumerate(starts):
    assert np.array_equal(col[:, k], x_img[0, 0, oh:oh + 3, ow:ow + 3].ravel())
assert np.allclose(y_lib, y_loop) and np.allclose(y_gemm, y_loop)
assert np.isclose(lhs, rhs, rtol=1e-12)
assert err_conv < 1e-5

# %%
# The planted bug: invisible to the sum test, caught by gradcheck with a clear message.
assert lazy_passes
assert caught is not None and "gradient mismatch" in str(caught)
# its message names the input, the element, the numeric and the analytic value
assert all(word in str(caught) for word in ("input 0", "element", "numeric", "analytic"))
assert "WrongShape" in str(shape_error) and "shape" in str(shape_error)
# The fixed op passes.
class Reverse(BuggyReverse):
    @staticmethod
    def backward(ctx, gy):
        return gy[::-1].copy()


assert gradcheck(lambda x: Reverse.apply(x), x0) < 1e-6
print("all checks passed")
