r"""The joint loss of Section 4.2 (Eqs. 7–10).

With zᵢ the logits and Fᵢ the pooled features of branch i (after stage i; stage 4's branch
is the classifier), and sg(·) a stop-gradient::

    L_CE   = Σᵢ CE(z_ANN,i, y) + Σᵢ CE(z_SNN,i, y)                               (Eq. 7)
    L_KLD  = Σᵢ κ² · KL( softmax(sg(z_ANN,i)/κ) ‖ softmax(z_SNN,i/κ) )          (Eq. 8)
    L_Norm = Σᵢ mean_batch ‖ sg(F_ANN,i) − F_SNN,i ‖²                            (Eq. 9)
    L      = L_CE + λ₁·L_KLD + λ₂·L_Norm                                         (Eq. 10)

Every term is a batch mean. The stop-gradient is real (``Tensor.detach``): the ANN gets no
gradient from L_KLD or L_Norm, so only the SNN is pulled towards the ANN. The paper's
``|y_SNN|`` in Eq. 9 is dropped: SNN features are firing rates, already non-negative.
"""
from __future__ import annotations

from .. import functional as F


class JointLoss:
    r"""``total, parts = JointLoss(...)(ann_logits, snn_logits, ann_feats, snn_feats, target)``.

    Each of the four inputs is a list of Tensors in stage order, or ``None`` when that
    network is not run (``snn`` mode has no ANN, ``ann`` mode no SNN). ``target`` is an
    integer array (N,). ``parts`` holds, for logging, the floats ``ce``, ``kld``, ``norm``
    (unweighted) and ``ce_ann``, ``ce_snn`` — only those computed: a term with λ = 0 or
    a network that is not run is absent, never reported as 0.

    Args:
        lambda_kld: λ₁ of Eq. 10 (0 drops L_KLD).
        lambda_norm: λ₂ of Eq. 10 (0 drops L_Norm). Mind the scale: see docs/method.md §5.
        temperature: κ of the softened softmax in Eq. 8.
        all_branches: sum over the four branches (True) or use the final one only
            (the ``snn``, ``kd`` and ``wft`` rows of Table 4).
        ann_ce: include the ANN's cross-entropy (False for a frozen teacher).
    """

    def __init__(self, lambda_kld: float = 1.0, lambda_norm: float = 0.3,
                 temperature: float = 1.0, all_branches: bool = True, ann_ce: bool = True):
        if lambda_kld < 0 or lambda_norm < 0:
            raise ValueError(f"JointLoss: lambdas must be >= 0, got lambda_kld={lambda_kld}, "
                             f"lambda_norm={lambda_norm}")
        if temperature <= 0:
            raise ValueError(f"JointLoss: temperature must be > 0, got {temperature}")
        self.lambda_kld, self.lambda_norm = float(lambda_kld), float(lambda_norm)
        self.temperature = float(temperature)
        self.all_branches, self.ann_ce = all_branches, ann_ce

    def __repr__(self):
        return (f"JointLoss(lambda_kld={self.lambda_kld}, lambda_norm={self.lambda_norm}, "
                f"temperature={self.temperature}, all_branches={self.all_branches}, "
                f"ann_ce={self.ann_ce})")

    def _branches(self, xs):
        if xs is None:
            return []
        if len(xs) != 4:
            raise ValueError(f"JointLoss: expected 4 branch outputs (one per stage), got {len(xs)}")
        return list(xs) if self.all_branches else [xs[-1]]

    def __call__(self, ann_logits, snn_logits, ann_feats, snn_feats, target):
        za, zs = self._branches(ann_logits), self._branches(snn_logits)
        fa, fs = self._branches(ann_feats), self._branches(snn_feats)
        if not za and not zs:
            raise ValueError("JointLoss: neither ANN nor SNN logits were given")
        ce_ann = _total([F.cross_entropy(z, target) for z in za]) if self.ann_ce else None
        ce_snn = _total([F.cross_entropy(z, target) for z in zs])
        kld = norm = None
        if za and zs and self.lambda_kld > 0:                                  # Eq. 8
            kld = _total([F.kl_div(s, a.detach(), temperature=self.temperature)
                          for a, s in zip(za, zs)])
        if fa and fs and self.lambda_norm > 0:                                 # Eq. 9
            norm = _total([F.mse_loss(s, a.detach(), reduction="batchmean")
                           for a, s in zip(fa, fs)])
        ce = _total([t for t in (ce_ann, ce_snn) if t is not None])            # Eq. 7
        total = ce                                                             # Eq. 10
        if kld is not None:
            total = total + self.lambda_kld * kld
        if norm is not None:
            total = total + self.lambda_norm * norm
        parts = {k: float(t.data) for k, t in (("ce", ce), ("kld", kld), ("norm", norm),
                                               ("ce_ann", ce_ann), ("ce_snn", ce_snn)) if t is not None}
        return total, parts


def _total(terms):
    if not terms:
        return None
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out
