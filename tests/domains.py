"""Valid inputs by construction, for the hypothesis tests: points kept away from where a
function is not smooth (a surrogate's kinks, the LIF's threshold), without filtering."""
import numpy as np


def away_from(frac, points, lo, hi, margin):
    """Map ``frac`` ∈ [0, 1] onto [lo, hi] minus (p − margin, p + margin) for every p:
    piecewise linear and order-preserving, so every value is valid by construction."""
    edges = [lo] + [e for p in sorted(points) for e in (p - margin, p + margin)] + [hi]
    pieces = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b > a]
    cum = np.concatenate([[0.0], np.cumsum([b - a for a, b in pieces])])
    pos = np.asarray(frac, dtype=np.float64) * cum[-1]
    i = np.clip(np.searchsorted(cum, pos, side="right") - 1, 0, len(pieces) - 1)
    starts, ends = np.array(pieces).T
    return np.minimum(starts[i] + pos - cum[i], ends[i])
