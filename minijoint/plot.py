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

from .nn.factorized import singular_value_drift, singular_values
from .nn.module import Module

__all__ = ["plot_singular_values", "plot_singular_value_drift"]


def _figure(nrows: int = 1, ncols: int = 1, figsize=(5.0, 4.0)):
    """A Figure on an Agg canvas and its axes (one Axes, or an array for a grid)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols)


def _finish(fig: Figure, save=None, dpi: int = 120) -> Figure:
    """Write ``fig`` as a PNG to ``save`` (a path) when given; return ``fig``."""
    if save is not None:
        fig.savefig(save, dpi=dpi, format="png")
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
