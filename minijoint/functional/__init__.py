r"""Differentiable functions on Tensors: ``import minijoint.functional as F``.

Each op is one class (static ``forward``/``backward`` on raw arrays) plus the plain
function users call; the files group them as the math does:

=============  ================================================================
elementwise    add sub mul div neg pow exp log relu (with broadcasting)
reduce         sum mean max
shape          reshape transpose getitem concatenate stack flatten
linalg         matmul linear
conv           im2col col2im conv2d
pool           avg_pool2d max_pool2d global_avg_pool2d
norm           batch_norm
loss           log_softmax softmax cross_entropy kl_div mse_loss
=============  ================================================================

Names: the function is lower case (``conv2d``), its op class is the CamelCase name plus
``Op`` (``Conv2dOp``, ``AddOp``, ``ReLUOp``), so an op never shares a name with the layer
users build networks from (``minijoint.nn.Conv2d``, ``nn.ReLU``). The spiking neuron
follows the same rule but lives with the spiking code: ``from minijoint.snn import lif``
(op ``LIFOp``). The engine imports nothing from :mod:`minijoint.snn`.
"""
from .elementwise import *  # noqa: F401,F403
from .elementwise import unbroadcast  # noqa: F401
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
