r"""Figures of energy (Tables 5–6 and the cost models, per network and per layer)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..energy.report import energy_unit
from .canvas import _figure, _finish

__all__ = ["plot_energy", "plot_energy_per_layer"]


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
