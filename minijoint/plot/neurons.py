r"""Figures of the spiking neuron: membrane traces, spike rasters, surrogates, firing rates."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..snn.lif import lif_forward
from ..snn.surrogate import ATan, Rectangle, Sigmoid, Triangle, get_surrogate
from .canvas import _bars, _figure, _finish, _host

__all__ = ["plot_membrane", "plot_spike_raster", "plot_surrogates", "plot_firing_rates"]


def plot_membrane(u_pre=None, y=None, v_th=0.5, *, c=None, tau=0.25, surrogate=None,
                  save=None) -> Figure:
    r"""Membrane potential u_preᵗ against t = 1..T with the threshold V_th and the spikes
    marked (Eqs. 1–2): a neuron charges, fires when u_pre ≥ V_th and resets to 0.

    Give ``u_pre`` and ``y`` of shape (T,) or (T, K) (K neurons, one line each), as
    :func:`minijoint.snn.lif_forward` returns them; or give only the input current
    ``c`` (T,) / (T, K) and they are computed with ``tau``, ``v_th``, ``surrogate``
    (c is then drawn too, dashed). Spikes are stars on the u_pre line.
    """
    if c is not None:
        c = _host(c, "c", "plot_membrane")
        y, u_pre = lif_forward(c.reshape(c.shape[0], -1), tau, v_th,
                               get_surrogate(surrogate or Rectangle()))
    if u_pre is None or y is None:
        raise ValueError("plot_membrane: give u_pre and y (from lif_forward), or c")
    u_pre, y = _host(u_pre, "u_pre", "plot_membrane"), _host(y, "y", "plot_membrane")
    if u_pre.shape != y.shape or u_pre.ndim not in (1, 2):
        raise ValueError(f"plot_membrane: u_pre and y must share one shape (T,) or (T, K), "
                         f"got {u_pre.shape} and {y.shape}")
    u2, y2 = u_pre.reshape(len(u_pre), -1), y.reshape(len(y), -1)
    t = np.arange(1, len(u2) + 1)
    fig, ax = _figure(figsize=(6.0, 3.5))
    for k in range(u2.shape[1]):
        ax.plot(t, u2[:, k], marker="o", markersize=3, color=f"C{k % 10}",
                label=f"u_pre, neuron {k}")
        if c is not None:
            ax.plot(t, c.reshape(len(c), -1)[:, k], linestyle=":", color=f"C{k % 10}",
                    label=f"c, neuron {k}")
        fired = y2[:, k] > 0.5
        ax.scatter(t[fired], u2[fired, k], marker="*", s=90, color=f"C{k % 10}",
                   edgecolors="k", zorder=3, label=f"spikes, neuron {k}")
    ax.axhline(v_th, color="k", linestyle="--", linewidth=1, label=f"V_th = {v_th:g}")
    ax.set_xlabel("time step t")
    ax.set_ylabel("membrane potential u_pre")
    ax.set_title(f"LIF neuron{'s' if u2.shape[1] > 1 else ''} (Eqs. 1–2)")
    ax.legend(fontsize="x-small")
    return _finish(fig, save)


def plot_spike_raster(spikes, max_neurons: int = 256, save=None) -> Figure:
    """Spike raster: a dot at (t, neuron) for every spike. ``spikes`` (T, ...) of 0/1
    (e.g. a LIF layer's output for one image, (T, C, H, W)); the feature axes are
    flattened and the first ``max_neurons`` neurons drawn (t counted from 1)."""
    s = _host(spikes, "spikes", "plot_spike_raster")
    if s.ndim < 2:
        raise ValueError(f"plot_spike_raster: spikes must be (T, ...), got shape {s.shape}")
    s = s.reshape(len(s), -1)[:, :max_neurons]
    t, n = np.nonzero(s > 0.5)
    fig, ax = _figure(figsize=(6.0, 4.0))
    ax.scatter(t + 1, n, marker="|", s=40, color="k")
    ax.set_xlim(0.5, len(s) + 0.5)
    ax.set_ylim(-0.5, s.shape[1] - 0.5)
    ax.set_xlabel("time step t")
    ax.set_ylabel("neuron")
    ax.set_title(f"Spike raster (firing rate {s.mean():.3f})")
    return _finish(fig, save)


def plot_surrogates(surrogates=None, v_th: float = 0.5, save=None) -> Figure:
    r"""Every surrogate's derivative s(u) (left, Eq. 5) and primitive P(u) (right; P' = s,
    the smooth spike of the ``smooth`` mode) against u, with the true spike H(u − V_th).
    ``surrogates``: a list of Surrogate instances or names (default: all four)."""
    surrogates = [get_surrogate(s) for s in surrogates] if surrogates is not None else \
        [Rectangle(), Triangle(), Sigmoid(), ATan()]
    u = np.linspace(v_th - 1.5, v_th + 1.5, 601)
    fig, (a_s, a_p) = _figure(1, 2, figsize=(9.0, 3.5))
    for i, sg in enumerate(surrogates):
        a_s.plot(u, sg.grad(u, v_th), color=f"C{i}", label=repr(sg))
        a_p.plot(u, sg.primitive(u, v_th), color=f"C{i}", label=repr(sg))
    a_p.plot(u, (u >= v_th).astype(float), color="k", linestyle="--", linewidth=1,
             label="H(u − V_th)")
    for ax, what in ((a_s, "s(u) = ∂y/∂u (surrogate)"), (a_p, "P(u), P' = s")):
        ax.axvline(v_th, color="0.6", linewidth=0.8)
        ax.set_xlabel("membrane potential u")
        ax.set_ylabel(what)
        ax.legend(fontsize="x-small")
    a_s.set_title(f"Surrogate derivatives (V_th = {v_th:g})")
    a_p.set_title("Their primitives and the spike")
    return _finish(fig, save)


def plot_firing_rates(rates, save=None) -> Figure:
    """Per-layer firing rates as bars. ``rates``: {layer: rate} (as
    ``JointNet.firing_rates()`` or ``evaluate(...)["rates"]``), or a network that has
    ``firing_rates()``."""
    if hasattr(rates, "firing_rates"):
        rates = rates.firing_rates()
    if not isinstance(rates, dict) or not rates:
        raise ValueError("plot_firing_rates: expected a non-empty {layer: rate} dict (run "
                         f"the SNN once first), got {rates!r}")
    values = [float(v) for v in rates.values()]
    fig, ax = _figure(figsize=(max(5.0, 0.35 * len(values) + 2), 4.0))
    _bars(ax, list(rates), values, color="C1")
    ax.axhline(np.mean(values), color="k", linestyle="--", linewidth=1,
               label=f"mean {np.mean(values):.3f}")
    ax.set_ylim(0, max(max(values) * 1.15, 0.05))
    ax.set_ylabel("firing rate (spikes per neuron per step)")
    ax.set_title("Firing rate per LIF layer")
    ax.legend(fontsize="x-small")
    return _finish(fig, save)
