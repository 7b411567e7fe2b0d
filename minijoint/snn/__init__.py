"""Spiking parts: surrogate derivatives (Eq. 5) and the LIF neuron with explicit BPTT (Eqs. 1–4)."""
from .surrogate import *  # noqa: F401,F403
from .lif import *  # noqa: F401,F403
from .surrogate import __all__ as _surrogate_all
from .lif import __all__ as _lif_all

__all__ = list(_surrogate_all) + list(_lif_all)
