r"""Figures of training: singular values and their drift (Eqs. 11–13), gradient norms,
training curves."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import backend
from ..joint.runlog import read_metrics
from ..nn.factorized import singular_value_drift, singular_values
from ..nn.module import Module
from .canvas import _figure, _finish

__all__ = ["plot_singular_values", "plot_singular_value_drift", "gradient_norms",
           "plot_gradient_norms", "plot_training_curves"]


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
