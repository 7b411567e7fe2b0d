r"""Layers: ``Module`` and friends, the LIF layer, and the factorized layers (Eqs. 11–13)."""
from .module import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .spiking import *  # noqa: F401,F403
from .factorized import *  # noqa: F401,F403
from . import init  # noqa: F401
