r"""What :func:`~minijoint.testing.check_surrogate` samples, and its ``claims`` check.

Notation: x = u − V_th; w = area/peak, the width of a bump with that peak and area
(Rectangle(a): a; 1 when the claims are unusable; only the sampling depends on w);
X = 1e4·max(1, w), the far tails; ε = 2.2e-16, float64's machine epsilon.

**The grid** (4001 points): x = c·sinh(z), c = 1e-3·w, z evenly spaced on
[−asinh(X/c), asinh(X/c)]. Within c of the threshold the points are evenly spaced
(≈ 8e-6·w apart); beyond, they are log-spaced (0.8 % apart) out to |x| = X. Each listed
kink k gets a hole (k − m, k + m), m = 1e-3·max(|k − V_th|, 0.01·w), cut out of z before
the points are laid out (:func:`spread_away`): the grid is built away from the kinks, not
filtered. Points between two neighbouring kinks form one *piece*.

**The claims** — each must hold for ``claims`` to pass:

* peak: the max of s on the grid, at the kinks and at V_th (and at ``s.peak_at(v_th)``
  if the class defines it) equals ``peak(v_th)`` to rel. 1e-4, about the error of a grid max
  near a smooth top.
* area: P(−∞) = 0, P(+∞) − P(−∞) = area and ∫s = area, each to 1e-4·area. P is read at
  x = ±X; ∫s over [−X, X] by 10-point Gauss–Legendre in z, split at the kinks. Both add
  the mass beyond X of a tail s ∝ |x|^−p fitted through 0.9·X and X, X·s(X)/(p − 1) (0
  when s(X) = 0); p ≤ 1.01 fails: such a tail has no finite area.
* support (lo, hi): s = 0 at every grid point outside; s > 0 at every grid point inside,
  except where s, going out from its top, has already fallen below 1e-30·max s (an
  exponential tail underflows: exp(−4·1e4) is 0 in float64).
* kinks, listed: s bends at each listed kink k. With d = 1e-5·max(|k − V_th|, 0.01·w), the
  jump s(k + d) − s(k − d), or the change of slope from [k − 2d, k − d] to [k + d, k + 2d],
  keeps at least half its size when d shrinks tenfold and exceeds 1000× its rounding
  error. Where s is smooth both shrink in proportion to d.
* kinks, unlisted: s bends nowhere else. In each piece, on a grid refined 64-fold, the
  second difference of s stays under 8× the largest second difference of the unrefined
  grid at the six nearest points, plus rounding (100·ε·max s/δ², δ the refined step) plus
  1e-9·max s/w². Where s is smooth both are s″; at a bend the refined one is at least 32×
  the unrefined (2048× at a jump). NaN is left to the ``finite`` check.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

FAR = 1e4                      # |u − V_th| of the far tails (times w when w > 1)
EPS = float(np.finfo(np.float64).eps)
_N = 4001                      # points of the grid
_TINY = 1e-30                  # below TINY·max s, s may underflow to 0
_REFINE, _BEND = 64, 8.0       # unlisted kinks: a 64-fold refinement; a bend is 8x s″ nearby


class SurrogateProbe:
    """s and P of one surrogate ``sg`` at one V_th, as float64 arrays; a method that returns
    the wrong shape raises a ValueError saying so."""

    def __init__(self, sg, v_th):
        self.sg, self.v_th = sg, v_th

    def s(self, u):
        return self._call(self.sg.grad, "grad", u)

    def p(self, u):
        return self._call(self.sg.primitive, "primitive", u)

    def scale(self, u) -> float:
        """max s over u (finite values), 1 if there is none > 0: the size tolerances use."""
        s = self.s(u)
        top = np.max(s[np.isfinite(s)], initial=0.0)
        return float(top) if top > 0 else 1.0

    def _call(self, fn, name, u):
        u = np.array(u, dtype=np.float64)   # a copy: a method that writes into u spoils no grid
        out = fn(u, self.v_th)
        if getattr(out, "shape", None) != u.shape:
            raise ValueError(f"{name} returned shape {getattr(out, 'shape', type(out).__name__)} "
                             f"for an input of shape {u.shape}")
        return np.asarray(out, dtype=np.float64)


def listed_kinks(sg, v_th) -> tuple:
    """The listed kinks as sorted floats; a ValueError when they are not finite numbers."""
    ks = tuple(sg.kinks(v_th))
    if not all(isinstance(k, numbers.Real) and math.isfinite(k) for k in ks):
        raise ValueError(f"kinks({v_th:g}) must be finite numbers, got {ks!r}")
    return tuple(sorted(float(k) for k in ks))


def bump_width(sg, v_th) -> float:
    """w = area/peak (clipped to [1e-6, 1e6]); 1 when either claim is unusable."""
    try:
        w = float(sg.area(v_th)) / float(sg.peak(v_th))
    except Exception:   # the claims check reports it
        return 1.0
    return min(max(w, 1e-6), 1e6) if math.isfinite(w) and w > 0 else 1.0


def _holes(kinks, v_th, w):
    """(x − m, x + m) around each kink, x = k − V_th, m = 1e-3·max(|x|, 0.01·w)."""
    return [(x - m, x + m) for x in (k - v_th for k in kinks)
            for m in [1e-3 * max(abs(x), 1e-2 * w)]]


def _sinh_scale(w):
    """(c, asinh(X/c)): the grid's x = c·sinh(z) reaches X at z = ±asinh(X/c)."""
    c = 1e-3 * w
    return c, math.asinh(FAR * max(1.0, w) / c)


def spread_away(frac, lo, hi, holes):
    """Map ``frac`` ∈ [0, 1] onto [lo, hi] minus the ``holes``, order-preserving and
    piecewise linear; returns the points and the number of the piece each falls in."""
    pieces, start = [], lo
    for a, b in sorted(holes):
        if a > start and start < hi:
            pieces.append((start, min(a, hi)))
        start = max(start, b)
    if start < hi:
        pieces.append((start, hi))
    starts, ends = np.array(pieces).T
    cum = np.concatenate([[0.0], np.cumsum(ends - starts)])
    pos = np.asarray(frac, dtype=np.float64) * cum[-1]
    i = np.clip(np.searchsorted(cum, pos, side="right") - 1, 0, len(pieces) - 1)
    return np.minimum(starts[i] + (pos - cum[i]), ends[i]), i


@dataclass
class SurrogateGrid:
    """The module docstring's grid: ``u`` = V_th + x, and ``piece``, the number of the
    stretch between listed kinks that each point lies in."""

    v_th: float
    width: float
    kinks: tuple
    u: np.ndarray
    piece: np.ndarray

    @classmethod
    def build(cls, v_th, width, kinks):
        c, z_far = _sinh_scale(width)
        holes = [(math.asinh(a / c), math.asinh(b / c)) for a, b in _holes(kinks, v_th, width)]
        z, piece = spread_away(np.linspace(0.0, 1.0, _N), -z_far, z_far, holes)
        return cls(v_th, width, kinks, v_th + c * np.sinh(z), piece)

    @property
    def far(self) -> float:
        """X = 1e4·max(1, w)."""
        return FAR * max(1.0, self.width)

    def integral(self, probe) -> float:
        """∫ s over [V_th − X, V_th + X]: x = c·sinh(z), 10-point Gauss–Legendre on pieces of
        z at most 0.05 long, split at the kinks (no node falls on one)."""
        c, z_far = _sinh_scale(self.width)
        inner = [math.asinh((k - self.v_th) / c) for k in self.kinks
                 if abs(k - self.v_th) < self.far]
        t, weights = np.polynomial.legendre.leggauss(10)
        total = 0.0
        for a, b in zip([-z_far] + inner, inner + [z_far]):
            n = max(1, math.ceil((b - a) / 0.05))
            half = (b - a) / (2 * n)
            z = (a + half * (2 * np.arange(n) + 1))[:, None] + half * t
            total += half * float(np.sum(probe.s(self.v_th + c * np.sinh(z)) * c * np.cosh(z)
                                         * weights))
        return total


def at_offset(x) -> str:
    """How a report names a point: by x = u − V_th."""
    return f"u − V_th = {x:.4g}"


# ---- the claims check ------------------------------------------------------------------
def check_claims(probe, g, kink_error):
    """(ok, text): the four claims of the module docstring; the text names the failed ones
    (all of them when none failed). ``kink_error``: what ``kinks()`` raised, or None."""
    results = [_claim(fn, probe, g) for fn in (_peak_claim, _area_claim, _support_claim)]
    results.append((False, f"kinks: raised {type(kink_error).__name__}: {kink_error}")
                   if kink_error is not None else _claim(_kinks_claim, probe, g))
    failed = [text for ok, text in results if not ok]
    return not failed, "; ".join(failed or [text for _, text in results])


def _claim(fn, probe, g):
    try:
        return fn(probe, g)
    except Exception as e:
        return False, f"{fn.__name__[1:-6]}: raised {type(e).__name__}: {e}"


def _positive_claim(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _peak_claim(probe, g):
    sg, v = probe.sg, g.v_th
    peak = _positive_claim(sg.peak(v), "peak")
    u = np.concatenate([g.u, g.kinks, [v]])
    s = probe.s(u)
    i = int(np.argmax(np.where(np.isnan(s), -np.inf, s)))
    ok = abs(s[i] - peak) <= 1e-4 * peak
    text = f"peak {peak:.6g}: max of s {s[i]:.6g} at {at_offset(u[i] - v)}"
    if callable(getattr(sg, "peak_at", None)):
        at = float(sg.peak_at(v))
        s_at = float(probe.s(np.array([at]))[0])
        ok = ok and abs(s_at - peak) <= 1e-4 * peak
        text += f", s = {s_at:.6g} at the claimed {at_offset(at - v)}"
    return ok, text


def _tail(far, s_far, s_near) -> float:
    """∫ s beyond |x| = X for a tail s ∝ |x|^−p through (0.9·X, s_near) and (X, s_far)."""
    if s_far == 0:
        return 0.0
    if not (s_far > 0 and s_near > 0):
        return math.nan
    p = math.log(s_near / s_far) / math.log(1 / 0.9)
    return far * s_far / (p - 1) if p > 1.01 else math.inf


def _area_claim(probe, g):
    v = g.v_th
    area = _positive_claim(probe.sg.area(v), "area")
    s_ends = probe.s(v + g.far * np.array([-1.0, -0.9, 0.9, 1.0]))
    left, right = _tail(g.far, s_ends[0], s_ends[1]), _tail(g.far, s_ends[3], s_ends[2])
    if math.inf in (left, right):
        return False, (f"area {area:.6g}: s falls off too slowly to integrate "
                       f"(s = {s_ends[0]:.3g} and {s_ends[3]:.3g} at u − V_th = ∓{g.far:g})")
    p_lo, p_hi = probe.p(v + g.far * np.array([-1.0, 1.0]))
    p_minus, p_plus = p_lo - left, p_hi + right
    integral = g.integral(probe) + left + right
    tol = 1e-4 * area
    ok = (abs(p_minus) <= tol and abs(p_plus - p_minus - area) <= tol
          and abs(integral - area) <= tol)
    return ok, (f"area {area:.6g}: P(+∞) − P(−∞) = {p_plus - p_minus:.8g}, ∫s = {integral:.8g}, "
                f"P(−∞) = {p_minus:.2g}")


def _support_claim(probe, g):
    lo, hi = (float(e) for e in probe.sg.support(g.v_th))
    if not lo < hi:
        raise ValueError(f"support must be (lo, hi) with lo < hi, got ({lo}, {hi})")
    u, s = g.u, probe.s(g.u)
    text = f"support ({lo:.10g}, {hi:.10g})"
    out = np.flatnonzero(((u < lo) | (u > hi)) & (s != 0))
    if out.size:
        i = out[np.argmax(np.where(np.isnan(s[out]), np.inf, np.abs(s[out])))]
        return False, f"{text}: s = {s[i]:.4g} at {at_offset(u[i] - g.v_th)}, outside"
    inside = np.flatnonzero((u > lo) & (u < hi))
    if inside.size == 0:
        return False, f"{text}: no grid point falls inside"
    top = inside[np.argmax(np.where(np.isnan(s[inside]), -np.inf, s[inside]))]
    floor = _TINY * probe.scale(u)
    for side in (inside[inside > top], inside[inside < top][::-1]):   # outwards from the top
        before = np.fmin.accumulate(np.concatenate([[s[top]], s[side][:-1]]))
        bad = side[~(s[side] > 0) & (before >= floor)]
        if bad.size:
            i = bad[0]
            return False, f"{text}: s = {s[i]:.4g} at {at_offset(u[i] - g.v_th)}, inside"
    return True, text


def _kinks_claim(probe, g):
    text = f"kinks at u = {', '.join(f'{k:.10g}' for k in g.kinks)}" if g.kinks else "no kinks"
    for k in g.kinks:
        jump, slope = _bend(probe, k, g)
        if not (jump or slope):
            return False, f"{text}: s is smooth at the listed kink {at_offset(k - g.v_th)}"
    worst = _unlisted_bend(probe, g)
    if worst is not None:
        return False, (f"{text}: s bends near {at_offset(worst - g.v_th)}, which kinks() "
                       "does not list")
    return True, text + (": s bends at each, nowhere else" if g.kinks else ": s bends nowhere")


def _bend(probe, k, g):
    """(s jumps at k, s's slope jumps at k): the scaling test of the module docstring."""
    d = 1e-5 * max(abs(k - g.v_th), 1e-2 * g.width)
    noise = 1e3 * 4 * EPS * probe.scale(g.u)

    def measure(d):
        s = probe.s(k + d * np.array([-2.0, -1.0, 1.0, 2.0]))
        return s[2] - s[1], ((s[3] - s[2]) - (s[1] - s[0])) / d

    (j1, c1), (j2, c2) = measure(d), measure(d / 10)
    return (abs(j2) > noise and abs(j2) > 0.5 * abs(j1),
            abs(c2) > noise / (d / 10) and abs(c2) > 0.5 * abs(c1))


def _second_difference(u, s):
    return 2 * np.diff(np.diff(s) / np.diff(u)) / (u[2:] - u[:-2])


def _unlisted_bend(probe, g):
    """The u of the strongest bend of s between listed kinks (module docstring), or None."""
    scale = probe.scale(g.u)
    worst, where = 1.0, None
    for p in np.unique(g.piece):
        u = g.u[g.piece == p]
        if u.size < 5:
            continue
        coarse = np.abs(_second_difference(u, probe.s(u)))      # at u[1:-1]
        padded = np.concatenate([np.zeros(3), coarse, np.zeros(3)])
        level = np.lib.stride_tricks.sliding_window_view(padded, 6).max(axis=1)  # per interval
        t = np.arange(_REFINE) / _REFINE
        fu = np.append((u[:-1, None] + np.diff(u)[:, None] * t).ravel(), u[-1])
        fine = np.abs(_second_difference(fu, probe.s(fu)))       # at fu[1:-1]
        step = np.minimum(np.diff(fu)[:-1], np.diff(fu)[1:])
        interval = np.minimum(np.arange(1, fu.size - 1) // _REFINE, u.size - 2)
        bound = (_BEND * level[interval] + 100 * EPS * scale / step ** 2
                 + 1e-9 * scale / g.width ** 2)
        ratio = np.nan_to_num(fine / bound, nan=0.0, posinf=0.0)   # NaN: the finite check's
        j = int(np.argmax(ratio))
        if ratio[j] > worst:
            worst, where = ratio[j], fu[j + 1]
    return where
