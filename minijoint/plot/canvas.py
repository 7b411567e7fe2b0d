r"""The one way every figure is made: a ``Figure`` on an Agg canvas, written atomically."""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import backend
from ..joint.checkpoint import write_atomic
from ..tensor import Tensor


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


def _host(a, name, where) -> np.ndarray:
    """A host float64 copy of a Tensor / NumPy / CuPy array, or a clear TypeError."""
    a = a.data if isinstance(a, Tensor) else a
    try:
        return np.asarray(backend.to_host(a) if not isinstance(a, (list, tuple)) else a, float)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be an array, got {type(a).__name__}") from None


def _bars(ax, names, values, **kw):
    ax.bar(np.arange(len(values)), values, **kw)
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize="x-small")
