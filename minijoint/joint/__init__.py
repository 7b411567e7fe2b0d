r"""Joint ANN–SNN training: the loss of Eqs. 7–10, the modes of Table 4, the training loop."""
from .loss import JointLoss  # noqa: F401
from .modes import MODES, ModeSpec, get_mode  # noqa: F401
