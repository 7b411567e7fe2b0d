r"""The README's pictures, made from a trained run folder by the plot functions.

    python -m minijoint figures runs/full-digits --out docs

writes ``membrane.png`` (a LIF neuron, Eqs. 1–2), ``surrogates.png`` (Eq. 5),
``firing_rates.png``, ``singular_values.png`` (σ_ANN vs σ_SNN after training, Eq. 13),
``curves.png`` (the run's metrics) and ``energy.png`` (Tables 5–6).
"""
from __future__ import annotations

import os

import numpy as np

from . import backend, plot
from .energy import estimate_energy
from .joint.runlog import read_metrics
from .joint.train import CHECKPOINT, load_trained
from .nn.factorized import singular_values


def make_figures(run_dir: str, out_dir: str) -> list:
    """Draw every picture from ``run_dir`` into ``out_dir``; return the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    path = lambda name: os.path.join(out_dir, name)  # noqa: E731
    written = []
    t = np.arange(12)
    c = np.stack([np.full(12, 0.4), 0.3 + 0.25 * np.sin(t / 2)], axis=1)  # two input currents
    plot.plot_membrane(c=c, save=path("membrane.png"))
    plot.plot_surrogates(save=path("surrogates.png"))
    written += [path("membrane.png"), path("surrogates.png")]
    model, cfg, loader = load_trained(os.path.join(run_dir, CHECKPOINT))
    with backend.default_dtype(np.dtype(cfg.dtype)):
        tables = estimate_energy(model, loader)  # one pass over the test set: counts and rates
        if tables.lif_rates:
            plot.plot_firing_rates(tables.lif_rates, save=path("firing_rates.png"))
            written.append(path("firing_rates.png"))
        if singular_values(model):
            plot.plot_singular_values(model, save=path("singular_values.png"))
            written.append(path("singular_values.png"))
        plot.plot_energy(tables, save=path("energy.png"))
    plot.plot_training_curves(read_metrics(run_dir), save=path("curves.png"))
    written += [path("energy.png"), path("curves.png")]
    return written
