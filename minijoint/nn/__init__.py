r"""Layers: ``Module`` and friends, the LIF layer and the time helpers, the twin layers (factorized
weights, :mod:`.factorized`) and their parameter counts."""
from .module import *  # noqa: F401,F403
from .containers import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .spiking import *  # noqa: F401,F403
from .factorized import *  # noqa: F401,F403
from .parameter_count import *  # noqa: F401,F403
from . import init  # noqa: F401
