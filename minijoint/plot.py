r"""Figures: every function builds one matplotlib ``Figure``, returns it, and with
``save=path`` also writes it as a PNG.

Headless-safe by construction: figures are made with ``matplotlib.figure.Figure`` on an
Agg canvas (``FigureCanvasAgg``), never through ``pyplot``. So nothing switches the global
backend (a notebook keeps its inline backend, a script needs no display), and no figure is
kept alive by pyplot's figure manager. In a notebook a returned figure displays as the
cell's value once the inline backend is active (``%matplotlib inline``).

New plot functions follow the same pattern::

    fig, ax = _figure()                 # Figure + Agg canvas + axes
    ... draw on ax ...
    return _finish(fig, save)           # writes the PNG when save is given
"""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import backend
from .energy.report import energy_unit
from .joint.checkpoint import write_atomic
from .nn.factorized import singular_value_drift, singular_values
from .nn.module import Module
from .snn.lif import lif_forward
from .snn.surrogate import ATan, Rectangle, Sigmoid, Triangle, get_surrogate
from .tensor import Tensor

__all__ = ["plot_singular_values", "plot_singular_value_drift", "plot_membrane",
           "plot_spike_raster", "plot_surrogates", "plot_firing_rates", "gradient_norms",
           "plot_gradient_norms", "plot_training_curves", "plot_energy",
           "plot_energy_per_layer"]


def _figure(nrows: int = 1, ncols: int = 1, figsize=(5.0, 4.0)):
    """A Figure on an Agg canvas and its axes (one Axes, or an array for a grid)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols)


def _finish(fig: Figure, save=None, dpi: int = 120) -> Figure:
    """Write ``fig`` as a PNG to ``save`` (a path, written atomically) when given; return
    ``fig``."""
    if save is not None:
        write_atomic(save, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    return fig


def _sigma_table(model_or_layers) -> dict:
    """{name: (sigma_ann, sigma_snn)} from a model, a list of layers, or such a dict."""
    if isinstance(model_or_layers, Module):
        table = singular_values(model_or_layers)
    elif isinstance(model_or_layers, dict):
        table = model_or_layers
    elif isinstance(model_or_layers, (list, tuple)) and all(
            isinstance(m, Module) for m in model_or_layers):
        table = {f"{i}: {name}": s for i, m in enumerate(model_or_layers)
                 for name, s in singular_values(m).items()}
    else:
        raise TypeError("plot_singular_values: expected a Module, a list of factorized "
                        "layers, or a dict {layer: (sigma_ann, sigma_snn)}, got "
                        f"{type(model_or_layers).__name__}")
    if not table:
        raise ValueError("plot_singular_values: no factorized layers found "
                         "(was the network built with wft=False?)")
    return table


def plot_singular_values(model_or_layers, save=None) -> Figure:
    r"""σ_ANN (x) against σ_SNN (y) for every factorized layer (Eq. 13), one colour per
    layer, with the identity line σ_ANN = σ_SNN where every point sits at init.

    ``model_or_layers``: a network (Module), a list of factorized layers, or a dict
    ``{layer name: (sigma_ann, sigma_snn)}`` as :func:`minijoint.nn.singular_values` gives.
    For a convolution all KH·KW·r singular values are plotted.
    """
    table = _sigma_table(model_or_layers)
    fig, ax = _figure(figsize=(5.5, 5.0))
    lo, hi = np.inf, -np.inf
    for i, (name, (s_ann, s_snn)) in enumerate(table.items()):
        s_ann, s_snn = np.ravel(s_ann), np.ravel(s_snn)
        if s_ann.shape != s_snn.shape:
            raise ValueError(f"plot_singular_values: layer {name!r} has {s_ann.size} ANN and "
                             f"{s_snn.size} SNN singular values; expected the same number")
        ax.scatter(s_ann, s_snn, s=12, alpha=0.7, color=f"C{i % 10}", label=name)
        lo = min(lo, s_ann.min(initial=np.inf), s_snn.min(initial=np.inf))
        hi = max(hi, s_ann.max(initial=-np.inf), s_snn.max(initial=-np.inf))
    ax.plot([lo, hi], [lo, hi], color="0.4", linestyle="--", linewidth=1,
            label="σ_ANN = σ_SNN")
    ax.set_xlabel("σ_ANN")
    ax.set_ylabel("σ_SNN")
    ax.set_title("Singular values per layer (Eq. 13)")
    ax.legend(fontsize="x-small", ncols=1 if len(table) <= 8 else 2)
    return _finish(fig, save)


def plot_singular_value_drift(history, save=None) -> Figure:
    r"""Mean |σ_ANN − σ_SNN| per layer against epoch, one line per layer.

    ``history``: a list of per-epoch snapshots ``{layer name: (sigma_ann, sigma_snn)}``
    (e.g. :func:`minijoint.nn.singular_values` after each epoch); every snapshot must
    name the same layers. All lines start at 0 when snapshot 0 is taken at init.
    """
    drift = singular_value_drift(history)
    fig, ax = _figure(figsize=(6.0, 4.0))
    for i, (name, d) in enumerate(drift.items()):
        ax.plot(np.arange(len(d)), d, marker="o", markersize=3, color=f"C{i % 10}", label=name)
    ax.set_xlabel("epoch (snapshot index)")
    ax.set_ylabel("mean |σ_ANN − σ_SNN|")
    ax.set_title("ANN and SNN singular values drifting apart")
    ax.legend(fontsize="x-small", ncols=1 if len(drift) <= 8 else 2)
    return _finish(fig, save)


def _host(a, name, where) -> np.ndarray:
    """A host float64 copy of a Tensor / NumPy / CuPy array, or a clear TypeError."""
    a = a.data if isinstance(a, Tensor) else a
    try:
        return np.asarray(backend.to_host(a) if not isinstance(a, (list, tuple)) else a, float)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be an array, got {type(a).__name__}") from None


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


def _bars(ax, names, values, **kw):
    ax.bar(np.arange(len(values)), values, **kw)
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize="x-small")


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


def gradient_norms(model: Module, path: str = "snn") -> dict:
    r"""{twin layer: ‖ḡ‖} of ``path``'s own weight after a backward: ‖ḡW_path‖ for a
    separate-weights layer, ‖ḡσ_path‖ for a factorized one (its only per-path weight;
    compare like with like). Layers without a gradient are left out."""
    out = {}
    for name, m in model.named_modules():
        if hasattr(m, "geometry") and hasattr(m, "weight"):
            p = m.sigma(path) if getattr(m, "wft", False) else m.weight(path)
            if p.grad is not None:
                out[name] = float(np.linalg.norm(backend.to_host(p.grad).astype(float)))
    return out


def plot_gradient_norms(alone: dict, joint: dict, save=None) -> Figure:
    r"""Per-layer gradient norms of an SNN trained alone against one trained jointly
    (Section 4.1: alone, the surrogate gradients shrink toward the first layers; the
    ANN's guidance keeps them alive). Two {layer: norm} dicts over the same layers, in
    forward order (e.g. :func:`gradient_norms` after one backward of each)."""
    if not alone or sorted(alone) != sorted(joint):
        raise ValueError(f"plot_gradient_norms: expected two non-empty dicts over the same "
                         f"layers, got {sorted(alone)} and {sorted(joint)}")
    names = list(alone)
    x = np.arange(len(names))
    a, j = [float(alone[n]) for n in names], [float(joint[n]) for n in names]
    fig, ax = _figure(figsize=(max(5.0, 0.35 * len(names) + 2), 4.0))
    ax.plot(x, a, marker="o", color="C3", label="SNN trained alone")
    ax.plot(x, j, marker="s", color="C0", label="SNN trained jointly with the ANN")
    if min(a + j) > 0:
        ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize="x-small")
    ax.set_ylabel("gradient norm")
    ax.set_title("Gradient norm per layer (input → output)")
    ax.legend(fontsize="x-small")
    return _finish(fig, save)


def plot_training_curves(history, save=None) -> Figure:
    """Loss terms (left: loss, ce, kld, norm) and test accuracies (right: ann_acc,
    snn_acc) against epoch. ``history``: a list of metrics rows (dicts with ``epoch``;
    missing keys are skipped) or a run folder / ``metrics.csv`` path."""
    if not isinstance(history, (list, tuple)):
        from .joint.runlog import read_metrics  # lazy: joint sits above plot in the import order
        history = read_metrics(history)
    fig, (a_l, a_a) = _figure(1, 2, figsize=(9.0, 3.5))
    for ax, keys in ((a_l, ("loss", "ce", "kld", "norm")), (a_a, ("ann_acc", "snn_acc"))):
        for i, k in enumerate(keys):
            rows = [r for r in history if r.get(k) is not None]
            if rows:
                ax.plot([r.get("epoch", n + 1) for n, r in enumerate(rows)],
                        [float(r[k]) for r in rows], marker="o", markersize=3,
                        color=f"C{i}", label=k)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize="x-small")
    a_l.set_ylabel("training loss (epoch mean)")
    a_a.set_ylabel("test accuracy")
    a_l.set_title("Loss (Eq. 10)")
    a_a.set_title("Accuracy")
    return _finish(fig, save, dpi=90)


def plot_energy(rows, save=None) -> Figure:
    """Tables 5–6 as bars, one group per network: energy of computation (left) and of data
    movement at 10 and 100 pJ per 64 bits (right). ``rows``: an
    :class:`~minijoint.energy.EnergyTables` or its ``rows`` (each with ``method``,
    ``energy``, ``move_min``, ``move_max`` in joules; a None value is drawn as 0)."""
    rows = list(getattr(rows, "rows", rows))
    if not rows:
        raise ValueError("plot_energy: no rows to draw")
    get = lambda r, k: float(getattr(r, k) or 0.0)  # noqa: E731
    scale, unit = energy_unit(max(get(r, k) for r in rows for k in ("energy", "move_max")))
    names, x = [r.method for r in rows], np.arange(len(rows))
    fig, (a_c, a_m) = _figure(1, 2, figsize=(9.0, 3.8))
    a_c.bar(x, [get(r, "energy") / scale for r in rows], color=[f"C{i}" for i in x])
    a_m.bar(x - 0.2, [get(r, "move_min") / scale for r in rows], 0.4, color="C2",
            label="10 pJ / 64 bit")
    a_m.bar(x + 0.2, [get(r, "move_max") / scale for r in rows], 0.4, color="C3",
            label="100 pJ / 64 bit")
    for ax, title in ((a_c, "Computation (Table 5)"), (a_m, "Data movement (Table 6)")):
        ax.set_xticks(x, names, fontsize="small")
        ax.set_ylabel(f"energy per image ({unit})")
        ax.set_title(title)
    a_m.legend(fontsize="x-small")
    return _finish(fig, save)


def plot_energy_per_layer(reports, save=None) -> Figure:
    """Energy per image of every layer under one cost model per panel: bars for the ANN, the
    quantized ANN (where the model has one) and the SNN, log scale. ``reports``: a
    :class:`~minijoint.energy.ModelReport` or a list of them (one panel each, e.g. the same
    checkpoint under every model of ``minijoint.energy.COST_MODELS``)."""
    reports = [reports] if hasattr(reports, "costs") else list(reports)
    if not reports or not all(r.costs for r in reports):
        raise ValueError("plot_energy_per_layer: expected ModelReports with layers to draw")
    n = len(reports[0].costs)
    fig, axes = _figure(len(reports), 1, figsize=(max(6.0, 0.45 * n + 2), 3.2 * len(reports)))
    for ax, rep in zip(np.atleast_1d(axes), reports):
        names, x = [c.layer.name for c in rep.costs], np.arange(n)
        nets = [k for k in ("ann", "qann", "snn") if getattr(rep.costs[0], k) is not None]
        for i, k in enumerate(nets):
            e = [getattr(c, k).total * 1e9 for c in rep.costs]
            ax.bar(x + (i - (len(nets) - 1) / 2) * 0.8 / len(nets), e, 0.8 / len(nets),
                   color=f"C{i}", label=rep.names()[k])
        ax.set_yscale("log")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize="x-small")
        ax.set_ylabel("energy per image (nJ)")
        ax.set_title(f"Energy per layer, cost model `{rep.model.name}`")
        ax.legend(fontsize="x-small")
    return _finish(fig, save)
