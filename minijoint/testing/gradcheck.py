r"""The gradient checker: backprop against central finite differences, in float64.

For a function ``y = fn(x₁, …, xₖ)`` and a **random** upstream gradient ``gy`` (a plain
sum would hide permutation bugs), the scalar ``f = ⟨fn(x), gy⟩`` has gradient
``∂f/∂xᵢ = ḡxᵢ``, which is what ``y.backward(gy)`` computes. Numerically::

    ∂f/∂x[j] ≈ (f(x + ε·e_j) − f(x − ε·e_j)) / 2ε        (error O(ε²) + roundoff/ε)

For large inputs every element would cost two forward passes, so a random sample of
elements is checked, plus random *directions* d: ``⟨ḡx, d⟩ ≈ (f(x+εd) − f(x−εd)) / 2ε``,
which covers every element at once.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..function import no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """Backprop and finite differences disagree; the message says where and by how much."""


def rel_error(a, b) -> float:
    """max |a − b| / max(|a| + |b|, 1e-12), elementwise, as in CS231n."""
    a = np.asarray(backend.to_host(a), dtype=np.float64)
    b = np.asarray(backend.to_host(b), dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12), initial=0.0))


def numerical_grad(f, x, eps: float = 1e-6):
    """Central-difference gradient of the scalar function ``f()`` w.r.t. every element of
    the float64 array ``x``, which ``f`` reads and which is perturbed in place."""
    _require_float64(x.dtype, "numerical_grad: x")
    g = np.zeros(x.shape)
    for j in np.ndindex(*x.shape):
        g[j] = _central(f, x, _unit(x, j), eps)
    return g


def gradcheck(fn, *inputs, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
              wrt=None, max_elements: int = 512, n_samples: int = 64, n_directions: int = 8,
              seed: int = 0) -> float:
    r"""Check ``fn``'s backward against central differences; return the max relative error.

    ``inputs`` are float64 arrays or Tensors (a Tensor — e.g. a module's parameter that
    ``fn`` reads — is perturbed in place and restored). ``wrt`` lists the indices of the
    inputs to check (default: all). An input with at most ``max_elements`` elements is
    checked element by element; a larger one at ``n_samples`` random elements plus
    ``n_directions`` random directions. An element passes when
    ``|analytic − numeric| ≤ atol + rtol·|numeric|``; the first failure raises
    :class:`GradcheckError` naming the input, element, both values and their relative error.

    Returns the largest ``|analytic − numeric| / max(|analytic|, |numeric|, atol/rtol)`` over
    the checked elements: a relative error that does not blow up where a gradient is ~0, so
    a passing check returns roughly ``rtol`` or less.
    """
    # Arrays keep their dtype (a float32 array is refused below, not silently upcast);
    # plain Python numbers and lists become float64.
    tensors = [x if isinstance(x, Tensor) else
               Tensor(np.array(backend.to_host(x)) if hasattr(x, "dtype") else np.array(x, dtype=np.float64))
               for x in inputs]
    wrt = range(len(tensors)) if wrt is None else wrt
    saved = [(t.requires_grad, t.grad) for t in tensors]
    try:
        return _check(fn, tensors, wrt, eps, rtol, atol, max_elements, n_samples, n_directions, seed)
    finally:  # inputs that were Parameters get their flags and gradients back
        for t, (flag, grad) in zip(tensors, saved):
            t.requires_grad, t.grad = flag, grad


def _check(fn, tensors, wrt, eps, rtol, atol, max_elements, n_samples, n_directions, seed):
    for i, t in enumerate(tensors):
        _require_float64(t.dtype, f"gradcheck: input {i}")
        t.grad = None
        t.requires_grad = i in wrt
    rng = np.random.default_rng(seed)
    y = fn(*tensors)
    if not isinstance(y, Tensor) or not y.requires_grad:
        raise GradcheckError("gradcheck: fn must return a Tensor that depends on the checked inputs")
    gy = backend.to_device(rng.standard_normal(y.shape))
    y.backward(gy)

    def f():
        with no_grad():
            return float((fn(*tensors).data * gy).sum())

    worst = 0.0
    for i in wrt:
        x, ga = tensors[i].data, tensors[i].grad
        ga = np.zeros(x.shape) if ga is None else backend.to_host(ga)
        if x.size <= max_elements:
            probes = [(j, _unit(x, j)) for j in np.ndindex(*x.shape)]
        else:
            picks = rng.choice(x.size, size=n_samples, replace=False)
            probes = [(np.unravel_index(k, x.shape), None) for k in picks]
            probes = [(j, _unit(x, j)) for j, _ in probes]
            probes += [(f"direction {k}", rng.standard_normal(x.shape)) for k in range(n_directions)]
        for where, d in probes:
            num = _central(f, x, d, eps)
            ana = float((ga * d).sum())
            err = rel_error(ana, num)
            if abs(ana - num) > atol + rtol * abs(num):
                raise GradcheckError(
                    f"gradient mismatch for input {i} (shape {x.shape}) at element {where}: "
                    f"numeric {num:.10g}, analytic {ana:.10g}, relative error {err:.3g}")
            worst = max(worst, abs(ana - num) / max(abs(ana), abs(num), atol / rtol))
    return worst


def _require_float64(dtype, what: str) -> None:
    if dtype != np.float64:
        raise ValueError(f"{what} must be float64 for a meaningful finite difference, got {dtype}")


def _unit(x, j):
    d = np.zeros(x.shape)
    d[j] = 1.0
    return d


def _central(f, x, d, eps: float) -> float:
    """(f(x + εd) − f(x − εd)) / 2ε, perturbing ``x`` in place and restoring it."""
    d = backend.get_array_module(x).asarray(d)
    saved = x.copy()
    try:
        x += eps * d
        fp = f()
        x[...] = saved - eps * d
        fm = f()
    finally:  # even if f raises, the input is left as it was
        x[...] = saved
    return (fp - fm) / (2 * eps)
