r"""The networks (paper Sections 4.2 and 4.4): ANN and SNN twins over one architecture.

* :mod:`.blocks`: twin building blocks (per-path BN, BasicBlock, VGG unit, stem, stage);
* :mod:`.resnet`, :mod:`.vgg`: the architectures as lists of four stages;
* :mod:`.joint`: :class:`JointNet`, both networks with four branch heads each.
"""
from .blocks import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
from .joint import *  # noqa: F401,F403
