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

The figures live by topic: :mod:`.neurons`, :mod:`.training`, :mod:`.energy`; all are
imported here, so ``from minijoint.plot import plot_membrane`` works.
"""
from .energy import *  # noqa: F401,F403
from .neurons import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
from .energy import __all__ as _energy
from .neurons import __all__ as _neurons
from .training import __all__ as _training

__all__ = [*_neurons, *_training, *_energy]
