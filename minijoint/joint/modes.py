r"""The rows of Table 4 (the ablation), each a training mode.

=====================  ==========================  ============================  =======
mode                   what trains                 loss                          weights
=====================  ==========================  ============================  =======
``ann``                ANN alone                   CE(final ANN)                 —
``snn``                SNN alone                   CE(final SNN)                 —
``kd``                 SNN; frozen trained ANN     CE(final SNN) + λ₁·KL(final)  separate
``joint-ce-kld``       ANN + SNN                   L_CE + λ₁·L_KLD (4 branches)  separate
``joint-ce-kld-norm``  ANN + SNN                   L (Eq. 10)                    separate
``wft``                ANN + SNN                   CE(final ANN) + CE(final SNN) factorized
``full``               ANN + SNN                   L (Eq. 10)                    factorized
=====================  ==========================  ============================  =======
"""
from __future__ import annotations

from dataclasses import dataclass

from .loss import JointLoss


@dataclass(frozen=True)
class ModeSpec:
    name: str
    paths: tuple          # which networks exist: ("ann",), ("snn",) or ("ann", "snn")
    wft: bool             # factorized (shared U, Vh) or separate weights
    all_branches: bool    # losses over the four branches, or the final classifier only
    kld: bool             # λ₁·L_KLD term
    norm: bool            # λ₂·L_Norm term
    frozen_teacher: bool = False  # the ANN is a pre-trained, frozen teacher (kd)
    paper_acc: float | None = None   # Table 4 (ResNet-18, CIFAR-10, T = 4)
    paper_sec: float | None = None   # Table 4, seconds per epoch

    def loss(self, lambda_kld: float = 1.0, lambda_norm: float = 0.3,
             temperature: float = 1.0) -> JointLoss:
        """The loss this mode trains with (λ set to 0 for the terms it leaves out)."""
        return JointLoss(lambda_kld=lambda_kld if self.kld else 0.0,
                         lambda_norm=lambda_norm if self.norm else 0.0,
                         temperature=temperature, all_branches=self.all_branches,
                         ann_ce=not self.frozen_teacher)


MODES = {m.name: m for m in [
    ModeSpec("ann", ("ann",), False, False, False, False, paper_acc=95.61),
    ModeSpec("snn", ("snn",), False, False, False, False, paper_acc=92.39, paper_sec=26.7),
    ModeSpec("kd", ("ann", "snn"), False, False, True, False, frozen_teacher=True,
             paper_acc=93.12, paper_sec=31.6),
    ModeSpec("joint-ce-kld", ("ann", "snn"), False, True, True, False, paper_acc=94.09, paper_sec=34.8),
    ModeSpec("joint-ce-kld-norm", ("ann", "snn"), False, True, True, True,
             paper_acc=94.52, paper_sec=34.9),
    ModeSpec("wft", ("ann", "snn"), True, False, False, False, paper_acc=93.69, paper_sec=32.2),
    ModeSpec("full", ("ann", "snn"), True, True, True, True, paper_acc=95.45, paper_sec=36.7),
]}


def get_mode(name: str) -> ModeSpec:
    if name not in MODES:
        raise ValueError(f"unknown mode {name!r}: expected one of {', '.join(MODES)}")
    return MODES[name]
