r"""Surrogate derivatives of the spike (Eq. 5) and their primitives.

The spike ``y = H(u − V_th)`` has derivative zero almost everywhere, so BPTT (Eq. 4)
replaces ``∂y/∂u`` by a *surrogate* ``s(u)``: a bump centred on the threshold. Every
surrogate here also has a **primitive** ``P`` with ``P' = s``, a smooth step that rises
from 0 to ``area(V_th)``. The LIF op's ``smooth`` mode fires ``y = P(u)`` instead of
``H``; the hand-written backward is then the *exact* gradient, which finite differences
can check (docs/method.md §1).

=============  ====================================  ==============  ======  ========
surrogate      s(u), with x = u − V_th               support         peak    area
=============  ====================================  ==============  ======  ========
Rectangle(a)   (1/a)·1[|x| < a/2]      (Eq. 5, 2nd)  V_th ± a/2      1/a     1
Triangle(γ)    γ·max(0, 1 − |u/V_th − 1|)  (Eq. 5)   (0, 2V_th)      γ       γ·V_th
Sigmoid(α)     α·σ(αx)·(1 − σ(αx))                   ℝ               α/4     1
ATan(α)        (α/2) / (1 + (παx/2)²)                ℝ               α/2     1
=============  ====================================  ==============  ======  ========

``kinks(V_th)`` lists the points where ``s`` is not differentiable (for Rectangle, where
``P`` itself has a corner): finite-difference checks build their inputs away from them.

All methods take an xp array ``u`` (NumPy or CuPy) and return an array of ``u``'s dtype;
they are stable for any finite ``u`` up to ~1e4 in magnitude (no overflow, no NaN).
"""
from __future__ import annotations

import math
import numbers

from ..backend import get_array_module

__all__ = ["Surrogate", "Rectangle", "Triangle", "Sigmoid", "ATan", "get_surrogate", "SURROGATES"]


def _positive(owner: str, name: str, value) -> float:
    """``value`` as a Python float (keeps float32 arrays float32), checked to be > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a positive number, got {value!r}")
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return v


class Surrogate:
    """Base class: ``grad`` (= s), ``primitive`` (= P), and the facts of the table above."""

    def grad(self, u, v_th, out=None):
        """s(u): the surrogate of ∂y/∂u. ``out``: optional buffer of u's shape and dtype."""
        raise NotImplementedError

    def primitive(self, u, v_th):
        """P(u) with P' = s: a step from 0 (u → −∞) to ``area(v_th)`` (u → +∞)."""
        raise NotImplementedError

    def peak(self, v_th) -> float:
        raise NotImplementedError

    def area(self, v_th) -> float:
        raise NotImplementedError

    def support(self, v_th) -> tuple:
        """(lo, hi): s(u) > 0 exactly for lo < u < hi."""
        return (-math.inf, math.inf)

    def kinks(self, v_th) -> tuple:
        """Points where s is not differentiable (P is not twice differentiable)."""
        return ()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(vars(self).values())))


class Rectangle(Surrogate):
    r"""Rectangle(a) (Eq. 5, second line; the default, a = 1 = straight-through).

    s(u) = (1/a)·1[|u − V_th| < a/2]            support V_th ± a/2, peak 1/a, area 1
    P(u) = clip((u − V_th)/a + 1/2, 0, 1)        kinks of P at V_th ± a/2
    """

    def __init__(self, a: float = 1.0):
        self.a = _positive("Rectangle", "a", a)

    def grad(self, u, v_th, out=None):
        xp = get_array_module(u)
        out = xp.subtract(u, float(v_th), out=out)
        xp.abs(out, out=out)
        xp.less(out, 0.5 * self.a, out=out)  # 1.0 inside, 0.0 outside
        if self.a != 1.0:
            out *= 1.0 / self.a
        return out

    def primitive(self, u, v_th):
        xp = get_array_module(u)
        p = (u - float(v_th)) * (1.0 / self.a)
        p += 0.5
        return xp.clip(p, 0.0, 1.0, out=p)

    def peak(self, v_th) -> float:
        return 1.0 / self.a

    def area(self, v_th) -> float:
        return 1.0

    def support(self, v_th) -> tuple:
        return (float(v_th) - self.a / 2, float(v_th) + self.a / 2)

    def kinks(self, v_th) -> tuple:
        return self.support(v_th)


class Triangle(Surrogate):
    r"""Triangle(γ) (Eq. 5, first line): a tent on (0, 2V_th) with its top at V_th.

    s(u) = γ·max(0, 1 − |z|),  z = u/V_th − 1     support (0, 2V_th), peak γ, area γ·V_th
    P(u) = γ·V_th·(½(1 + z)²      for z ≤ 0)      with z clipped to [−1, 1];
                  (1 − ½(1 − z)²  for z > 0)      kinks of s at 0, V_th, 2V_th
    """

    def __init__(self, gamma: float = 1.0):
        self.gamma = _positive("Triangle", "gamma", gamma)

    def grad(self, u, v_th, out=None):
        xp = get_array_module(u)
        out = xp.multiply(u, 1.0 / float(v_th), out=out)
        out -= 1.0
        xp.abs(out, out=out)
        xp.subtract(1.0, out, out=out)
        xp.maximum(out, 0.0, out=out)
        if self.gamma != 1.0:
            out *= self.gamma
        return out

    def primitive(self, u, v_th):
        xp = get_array_module(u)
        v = float(v_th)
        z = xp.clip(u * (1.0 / v) - 1.0, -1.0, 1.0)
        low = 0.5 * (1.0 + z) ** 2
        high = 1.0 - 0.5 * (1.0 - z) ** 2
        return xp.where(z <= 0, low, high) * (self.gamma * v)

    def peak(self, v_th) -> float:
        return self.gamma

    def area(self, v_th) -> float:
        return self.gamma * float(v_th)

    def support(self, v_th) -> tuple:
        return (0.0, 2.0 * float(v_th))

    def kinks(self, v_th) -> tuple:
        return (0.0, float(v_th), 2.0 * float(v_th))


class Sigmoid(Surrogate):
    r"""Sigmoid(α) (SpikingJelly convention), x = u − V_th.

    s(u) = α·σ(αx)·(1 − σ(αx)) = α·e/(1 + e)²,  e = exp(−α|x|) ≤ 1   (never overflows)
    P(u) = σ(αx) = 1/(1 + e) for x ≥ 0,  e/(1 + e) for x < 0
    support ℝ, peak α/4, area 1, no kinks.
    """

    def __init__(self, alpha: float = 4.0):
        self.alpha = _positive("Sigmoid", "alpha", alpha)

    def _e(self, u, v_th, out=None):
        xp = get_array_module(u)
        out = xp.subtract(u, float(v_th), out=out)
        xp.abs(out, out=out)
        out *= -self.alpha
        return xp.exp(out, out=out)

    def grad(self, u, v_th, out=None):
        e = self._e(u, v_th, out=out)
        d = e + 1.0
        d *= d
        e /= d
        e *= self.alpha
        return e

    def primitive(self, u, v_th):
        xp = get_array_module(u)
        e = self._e(u, v_th)
        return xp.where(u >= float(v_th), 1.0, e).astype(u.dtype, copy=False) / (1.0 + e)

    def peak(self, v_th) -> float:
        return self.alpha / 4

    def area(self, v_th) -> float:
        return 1.0


class ATan(Surrogate):
    r"""ATan(α) (SpikingJelly/snnTorch convention), x = u − V_th.

    s(u) = (α/2) / (1 + (παx/2)²)
    P(u) = 1/2 + arctan(παx/2)/π
    support ℝ, peak α/2, area 1, no kinks.
    """

    def __init__(self, alpha: float = 2.0):
        self.alpha = _positive("ATan", "alpha", alpha)

    def grad(self, u, v_th, out=None):
        xp = get_array_module(u)
        out = xp.subtract(u, float(v_th), out=out)
        out *= 0.5 * math.pi * self.alpha
        out *= out
        out += 1.0
        return xp.divide(0.5 * self.alpha, out, out=out)

    def primitive(self, u, v_th):
        xp = get_array_module(u)
        w = xp.arctan((u - float(v_th)) * (0.5 * math.pi * self.alpha))
        w *= 1.0 / math.pi
        w += 0.5
        return w

    def peak(self, v_th) -> float:
        return self.alpha / 2

    def area(self, v_th) -> float:
        return 1.0


_BY_NAME = {"rectangle": Rectangle, "triangle": Triangle, "sigmoid": Sigmoid, "atan": ATan}
SURROGATES = tuple(_BY_NAME)  # the names get_surrogate knows


def get_surrogate(name, **kwargs) -> Surrogate:
    """A surrogate by name: ``get_surrogate("sigmoid", alpha=4.0)``. A Surrogate passes through."""
    if isinstance(name, Surrogate):
        if kwargs:
            raise TypeError(f"get_surrogate: got an instance {name!r} and parameters {kwargs}")
        return name
    if not isinstance(name, str) or name.lower() not in _BY_NAME:
        raise ValueError(f"get_surrogate: unknown surrogate {name!r}; expected one of "
                         f"{sorted(_BY_NAME)} or a Surrogate instance")
    return _BY_NAME[name.lower()](**kwargs)
