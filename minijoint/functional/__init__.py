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
snn.lif        lif (Eqs. 1–4; lives with the spiking code, re-exported here)
=============  ================================================================
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
from ..snn.lif import *  # noqa: F401,F403,E402
