r"""``check_surrogate(s)``: test a surrogate gradient (Eq. 5) before training with it.

A :class:`~minijoint.snn.surrogate.Surrogate` makes promises that the rest of the library
leans on: ``primitive`` is P with P′ = s (the smooth LIF fires P, and its BPTT is exact
only if P′ = s); s ≥ 0; the claimed ``peak``, ``area`` and ``support``; ``kinks`` lists
every point where s is not differentiable (finite-difference tests build their inputs away
from them); and values stay finite, in the input's dtype, far from the threshold.
:func:`check_surrogate` tests each promise numerically and returns a
:class:`SurrogateReport` with one line per check, each naming its worst point.

The grid it samples and the ``claims`` check are in :mod:`.surrogate_claims`; the notation
there (x = u − V_th, the width w = area/peak, the far tails X = 1e4·max(1, w)) is used here.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..snn.lif import lif
from ..snn.surrogate import Surrogate
from .gradcheck import gradcheck
from .surrogate_claims import (EPS, FAR, SurrogateGrid, SurrogateProbe, at_offset, bump_width,
                               check_claims, listed_kinks, spread_away)

__all__ = ["check_surrogate", "SurrogateReport"]


@dataclass
class SurrogateReport:
    """What :func:`check_surrogate` found: ``checks`` is a list of (name, ok, line), in the
    order primitive, nonnegative, claims, finite, lif_gradcheck."""

    surrogate: Surrogate
    v_th: float
    checks: list

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    @property
    def failed(self) -> list:
        """The names of the checks that failed."""
        return [name for name, ok, _ in self.checks if not ok]

    def __str__(self):
        verdict = "all checks pass" if self.ok else f"FAILED: {', '.join(self.failed)}"
        return "\n".join([f"check_surrogate({self.surrogate!r}, v_th={self.v_th:g}): {verdict}"]
                         + [line for _, _, line in self.checks])

    def raise_if_failed(self) -> "SurrogateReport":
        """Raise an AssertionError holding the whole report if a check failed; else self."""
        if not self.ok:
            raise AssertionError(str(self))
        return self


def check_surrogate(s, v_th: float = 0.5, *, seed: int = 0) -> SurrogateReport:
    r"""Check every promise of the surrogate ``s`` at the threshold ``v_th``.

    ``primitive``      P′ = s at the 4001 grid points, P′ by central differences in float64
                       with the step h = 1e-5·max(|x|, 0.01·w), a hundredth of any kink's
                       hole: |P′ − s| ≤ 1e-5·|s| + 1e-7·max s. Rounding costs about
                       1e-9·max s and truncation 1e-10·|s|, so a correct P passes with room.
    ``nonnegative``    s ≥ −1e-12·max s (rounding) on the grid and at the kinks.
    ``claims``         peak, area, support and kinks, as :mod:`.surrogate_claims` states.
    ``finite``         grad and primitive of float32 and float64 arrays at x = 0 and
                       ±10^k, k = −4..4 in 33 steps (|x| up to 1e4): finite values of the
                       input's dtype and shape, no overflow, invalid value or division by
                       zero on the way (the module surrogate's own rule; NumPy's
                       floating-point errors are raised to find them), and the input left
                       as it was (the LIF's backward reads u_pre after calling grad).
    ``lif_gradcheck``  ``lif(c, τ, V_th, s, smooth=True)`` passes :func:`gradcheck` (rtol
                       1e-5, atol 1e-7) in 3 cases drawn with ``seed`` (so a report can be
                       reproduced): τ ∈ (0.1, 0.9), V_th = v_th·2^u, u ∈ (−1, 1), c of shape
                       (T, 2, 3), back-solved so that each u_pre lies in V_th ± 3w at least
                       0.01·w from every kink. T is drawn from 1..4 and cut where a step's
                       gain τ·|1 − P − u_pre·s| would carry a perturbation more than 10-fold
                       over the steps (it would reach the curvature or a kink). The step is
                       ε = 1e-6·w, or 3e5·ε₆₄·max|u_pre| where rounding c would cost more.

    ``s`` must be a Surrogate instance (a TypeError says otherwise); ``v_th`` a finite
    number > 0. An exception raised by a method of ``s`` fails its check, with the exception
    in the line. A NaN fails each check that meets it (the search for unlisted kinks leaves
    NaN to ``finite``).
    """
    if isinstance(s, type) and issubclass(s, Surrogate):
        raise TypeError(f"check_surrogate: got the class {s.__name__}; pass an instance, "
                        f"e.g. check_surrogate({s.__name__}())")
    if not isinstance(s, Surrogate):
        raise TypeError(f"check_surrogate: expected a Surrogate instance (e.g. Sigmoid(4.0)), "
                        f"got {s!r} of type {type(s).__name__}")
    if isinstance(v_th, bool) or not isinstance(v_th, numbers.Real) or not 0 < v_th < math.inf:
        raise ValueError(f"check_surrogate: v_th must be a finite number > 0, got v_th={v_th!r}")
    v_th = float(v_th)
    with np.errstate(all="ignore"):   # NaN and overflow are findings here, not warnings
        probe = SurrogateProbe(s, v_th)
        try:
            kinks, kink_error = listed_kinks(s, v_th), None
        except Exception as e:   # the claims check reports it; the grid goes without
            kinks, kink_error = (), e
        grid = SurrogateGrid.build(v_th, bump_width(s, v_th), kinks)
        checks = [_run("primitive", _check_primitive, probe, grid),
                  _run("nonnegative", _check_nonnegative, probe, grid),
                  _run("claims", check_claims, probe, grid, kink_error),
                  _run("finite", _check_finite, s, v_th),
                  _run("lif_gradcheck", _check_lif, s, v_th, seed)]
    return SurrogateReport(s, v_th, checks)


def _run(name, check, *args):
    try:
        ok, text = check(*args)
    except Exception as e:   # a method of the surrogate raised: its check fails
        ok, text = False, f"raised {type(e).__name__}: {e}"
    return name, bool(ok), f"{name:<13} {'ok' if ok else 'FAIL':<4}  {text}"


def _check_primitive(probe, g):
    u = g.u
    h = 1e-5 * np.maximum(np.abs(u - g.v_th), 1e-2 * g.width)
    up, um = u + h, u - h
    fd = (probe.p(up) - probe.p(um)) / (up - um)
    s = probe.s(u)
    ratio = np.abs(fd - s) / (1e-5 * np.abs(s) + 1e-7 * probe.scale(u))
    i = int(np.argmax(np.where(np.isnan(ratio), np.inf, ratio)))
    ok = ratio[i] <= 1
    text = (f"worst at {at_offset(u[i] - g.v_th)}: P′ = {fd[i]:.8g} by finite differences, "
            f"s = {s[i]:.8g}")
    return ok, text + (f" ({ratio[i]:.2g} of the tolerance 1e-5·|s| + 1e-7·max s; "
                       f"{u.size} points)" if ok else "")


def _check_nonnegative(probe, g):
    u = np.concatenate([g.u, g.kinks])
    s = probe.s(u)
    i = int(np.argmin(np.where(np.isnan(s), -np.inf, s)))
    ok = s[i] >= -1e-12 * probe.scale(u)
    return ok, f"min s = {s[i]:.4g} at {at_offset(u[i] - g.v_th)} ({u.size} points)"


def _check_finite(sg, v_th):
    x = np.concatenate([-np.logspace(4, -4, 33), [0.0], np.logspace(-4, 4, 33)])
    for dtype in (np.float32, np.float64):
        u = (v_th + x).astype(dtype)
        for name, fn in (("grad", sg.grad), ("primitive", sg.primitive)):
            out = fn(u, v_th)
            if not np.array_equal(u, (v_th + x).astype(dtype)):
                return False, f"{name} wrote into its input u ({np.dtype(dtype)})"
            if getattr(out, "dtype", None) != dtype or getattr(out, "shape", None) != u.shape:
                return False, (f"{name} of a {np.dtype(dtype)} array of shape {u.shape} returned "
                               f"{getattr(out, 'dtype', type(out).__name__)}, shape "
                               f"{getattr(out, 'shape', '?')}")
            bad = np.flatnonzero(~np.isfinite(out))
            if bad.size:
                i = bad[np.argmin(np.abs(x[bad]))]   # the one nearest the threshold
                return False, (f"{name} is {out[i]} at {at_offset(x[i])} ({np.dtype(dtype)}; "
                               f"{bad.size} of {x.size} points)")
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                for i in np.argsort(np.abs(x)):   # from the threshold outwards
                    try:
                        fn(u[i:i + 1], v_th)
                    except FloatingPointError as e:
                        return False, f"{name} at {at_offset(x[i])} ({np.dtype(dtype)}): {e}"
    return True, (f"grad and primitive finite, float32 and float64 kept, no overflow, input "
                  f"unchanged, at {x.size} points with |u − V_th| ≤ {FAR:g}")


def _check_lif(sg, v_th, seed):
    rng = np.random.default_rng(seed)
    worst, cases = 0.0, []
    for _ in range(3):
        T, tau = int(rng.integers(1, 5)), float(rng.uniform(0.1, 0.9))
        v = v_th * 2 ** float(rng.uniform(-1, 1))
        w = bump_width(sg, v)
        holes = [(k - v - 1e-2 * w, k - v + 1e-2 * w) for k in listed_kinks(sg, v)]
        u_pre = v + spread_away(rng.random((T, 2, 3)), -3 * w, 3 * w, holes)[0]
        # a step multiplies a change of u_pre by τ·(1 − P − u_pre·s) (snn/lif.py)
        gain = tau * np.max(np.abs(1 - sg.primitive(u_pre, v) - u_pre * sg.grad(u_pre, v)))
        if gain > 1:
            u_pre = u_pre[:1 + int(math.log(10) / math.log(gain))]
        c, u = np.empty_like(u_pre), np.zeros(u_pre.shape[1:])
        for t in range(len(u_pre)):   # back-solve c so that the LIF's u_pre is the one built
            c[t] = u_pre[t] - tau * u
            u = u_pre[t] * (1 - sg.primitive(u_pre[t], v))
        eps = max(1e-6 * w, 3e5 * EPS * float(np.max(np.abs(u_pre))))
        case = f"T={len(u_pre)}, τ={tau:.3g}, V_th={v:.3g}"
        try:
            err = gradcheck(lambda x: lif(x, tau, v, sg, smooth=True), c, eps=eps)
        except AssertionError as e:   # GradcheckError
            return False, f"{case}: {e}"
        worst = max(worst, err)
        cases.append(case)
    return True, f"worst relative error {worst:.2g} in ({'), ('.join(cases)})"
