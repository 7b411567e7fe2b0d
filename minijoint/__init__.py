r"""minijoint: Joint A-SNN (Guo et al., Pattern Recognition 2023) from scratch in NumPy/CuPy.

Import map (imports point one way: engine ← snn ← nn ← models ← joint ← cli):

* engine: :mod:`minijoint.backend`, :class:`Tensor`, :class:`Function`, :mod:`minijoint.functional`
  (``F``)
* spiking: :mod:`minijoint.snn` (surrogates, LIF)
* layers: :mod:`minijoint.nn`, :mod:`minijoint.optim`; checks: :mod:`minijoint.testing`
  (the gradient checker, ``check_surrogate``)
* teaching: :mod:`minijoint.course` (the exercises and their grader)

``import minijoint as mj`` loads the engine only; ``mj.nn``, ``mj.snn``, ``mj.optim``,
``mj.models``, ``mj.joint``, ``mj.data``, ``mj.energy``, ``mj.testing``, ``mj.plot`` and
``mj.course`` are imported on first use (PEP 562), so the engine stays light and the
import order above is kept.
"""
import importlib as _importlib
from .backend import (set_backend, get_backend, using_backend, set_default_dtype,  # noqa: F401
                      get_default_dtype, default_dtype, to_device, to_host, gpu_available,
                      gpu_problem)
from .tensor import Tensor  # noqa: F401
from .function import Function, no_grad, is_grad_enabled  # noqa: F401
from . import functional  # noqa: F401
from . import random  # noqa: F401

__version__ = "0.1.0"

# Sub-packages imported on first attribute access: ``mj.nn.Linear`` works after a bare
# ``import minijoint as mj``. (``import minijoint.nn`` works as always.)
_LAZY = ("nn", "snn", "optim", "models", "joint", "data", "energy", "testing", "plot", "course")


def __getattr__(name):
    if name in _LAZY:
        module = _importlib.import_module(f".{name}", __name__)
        globals()[name] = module  # the import set it already; later lookups skip this hook
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
