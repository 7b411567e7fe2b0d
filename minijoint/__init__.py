r"""minijoint: Joint A-SNN (Guo et al., Pattern Recognition 2023) from scratch in NumPy/CuPy.

Import map (imports point one way: engine ← snn ← nn ← models ← joint ← cli):

* engine: :mod:`minijoint.backend`, :class:`Tensor`, :class:`Function`, :mod:`minijoint.functional`
  (``F``), :mod:`minijoint.testing` (the gradient checker)
* spiking: :mod:`minijoint.snn` (surrogates, LIF)
* layers: :mod:`minijoint.nn`, :mod:`minijoint.optim`
"""
from .backend import (set_backend, get_backend, using_backend, set_default_dtype,  # noqa: F401
                      get_default_dtype, default_dtype, to_device, to_host, gpu_available,
                      gpu_problem)
from .tensor import Tensor  # noqa: F401
from .function import Function, no_grad, is_grad_enabled  # noqa: F401
from . import functional  # noqa: F401
from . import random  # noqa: F401

__version__ = "0.1.0"
