r"""Exercise 6, the joint loss and its stop-gradient (Eqs. 7–10): the mistakes it names,
the loss with each one planted, the drawn branches and settings, and the grader."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ... import functional as F
from ...joint.loss import JointLoss
from ...tensor import Tensor
from ..core import Wrong, call
from .compare import _compare, _grade, _other_seed, _seed

JOINT_LOSS_MISTAKES = {
    "missing_stop_gradient": "the ANN (the teacher) received a gradient from a distillation "
                             "term: use z_ANN.detach() in L_KLD and F_ANN.detach() in L_Norm, "
                             "so that only the SNN is pulled towards the ANN.",
    "kl_direction": "that is KL(q‖p), the other direction: Eq. 8 is KL(p_ANN ‖ q_SNN) = "
                    "Σₖ p (log p − log q), the teacher's p as the weights.",
    "missing_kappa_squared": "the KL term lacks its κ² factor (it keeps the gradient's size "
                             "the same at any temperature κ).",
    "missing_temperature": "the softmaxes of the KL term take z/κ, not z: divide both "
                           "networks' logits by the temperature κ.",
    "norm_mean_over_elements": "L_Norm is a mean over the batch of the squared norm ‖·‖² "
                               "(sum over features, divide by N), not a mean over every "
                               "element (F.mse_loss's default reduction).",
}
_BRANCHES = 4


@st.composite
def _joint_spec(draw):
    """Batch N, classes K, feature width D, λ₁, λ₂ and κ ≠ 1 (so that a missing κ shows),
    each from a short list, so that shrinking a failing input takes few steps."""
    return dict(N=draw(st.integers(1, 3)), K=draw(st.integers(2, 4)), D=draw(st.integers(1, 2)),
                lambda_kld=draw(st.sampled_from([0.7, 1.3])),
                lambda_norm=draw(st.sampled_from([0.3, 0.11])),
                temperature=draw(st.sampled_from([2.5, 1.7, 4.0])), seed=_seed(draw))


def _joint_arrays(s: dict) -> dict:
    """Four branches of (N, K) logits and (N, Dᵢ) features per network, Dᵢ = D, 2D, D, 2D
    (the SNN's in [0, 1], firing rates), labels (N,), and the settings."""
    rng, N, K, D = np.random.default_rng(s["seed"]), s["N"], s["K"], s["D"]
    widths = [D, 2 * D, D, 2 * D]
    return dict(ann_logits=[2 * rng.standard_normal((N, K)) for _ in widths],
                snn_logits=[2 * rng.standard_normal((N, K)) for _ in widths],
                ann_feats=[rng.standard_normal((N, d)) for d in widths],
                snn_feats=[rng.uniform(0.0, 1.0, (N, d)) for d in widths],
                target=rng.integers(0, K, N), lambda_kld=s["lambda_kld"],
                lambda_norm=s["lambda_norm"], temperature=s["temperature"])


_JOINT_LISTS = ("ann_logits", "snn_logits", "ann_feats", "snn_feats")


def _joint_tensors(c) -> dict:
    return {k: [Tensor(a, requires_grad=True) for a in c[k]] for k in _JOINT_LISTS}


def _grads(t) -> dict:
    """{(list name, branch): gradient (zeros where none reached)}."""
    return {(k, i): (x.grad if x.grad is not None else np.zeros(x.shape))
            for k in _JOINT_LISTS for i, x in enumerate(t[k])}


def _joint_loss_planted(c, detach_kl=True, detach_norm=True, reverse_kl=False, kappa_sq=True,
                        kappa_in=True, norm_per_element=False) -> tuple:
    """(value, gradients) of Eq. 10 with a mistake planted, built from minijoint ops."""
    t, kappa = _joint_tensors(c), c["temperature"] if kappa_in else 1.0
    total = 0.0
    for za, zs, fa, fs in zip(*(t[k] for k in _JOINT_LISTS)):
        N = za.shape[0]
        total = total + F.cross_entropy(za, c["target"]) + F.cross_entropy(zs, c["target"])
        log_p = F.log_softmax((za.detach() if detach_kl else za) / kappa, axis=1)
        log_q = F.log_softmax(zs / kappa, axis=1)
        (a, b) = (log_q, log_p) if reverse_kl else (log_p, log_q)
        kl = (a.exp() * (a - b)).sum() / N * (c["temperature"] ** 2 if kappa_sq else 1.0)
        d = fs - (fa.detach() if detach_norm else fa)
        norm = (d * d).sum() / (d.size if norm_per_element else N)
        total = total + c["lambda_kld"] * kl + c["lambda_norm"] * norm
    total.backward()
    return total.data, _grads(t)


_JOINT_PLANTED = (("missing_stop_gradient", dict(detach_kl=False)),
                  ("missing_stop_gradient", dict(detach_norm=False)),
                  ("missing_stop_gradient", dict(detach_kl=False, detach_norm=False)),
                  ("kl_direction", dict(reverse_kl=True)),
                  ("missing_kappa_squared", dict(kappa_sq=False)),
                  ("missing_temperature", dict(kappa_in=False)),
                  ("missing_temperature", dict(kappa_in=False, kappa_sq=False)),
                  ("norm_mean_over_elements", dict(norm_per_element=True)))
_JOINT_NAMES = {"ann_logits": "∂L/∂z_ANN (the teacher's logits)", "snn_logits": "∂L/∂z_SNN",
                "ann_feats": "∂L/∂F_ANN (the teacher's features)", "snn_feats": "∂L/∂F_SNN"}


def _grade_joint_loss(funcs) -> None:
    def check(spec):
        c = _joint_arrays(spec)
        inputs = (f"{_BRANCHES} branches of logits of shape {c['ann_logits'][0].shape} and "
                  f"features of shapes {[f.shape for f in c['ann_feats']]}, target "
                  f"{c['target'].tolist()}, lambda_kld {c['lambda_kld']:.4g}, lambda_norm "
                  f"{c['lambda_norm']:.4g}, temperature {c['temperature']:.4g}")
        t = _joint_tensors(c)
        settings = (c["lambda_kld"], c["lambda_norm"], c["temperature"])
        loss = call(funcs["joint_loss"], *(t[k] for k in _JOINT_LISTS), c["target"], *settings,
                    inputs=inputs)
        if not isinstance(loss, Tensor) or loss.size != 1 or not loss.requires_grad:
            raise Wrong("return the loss as a one-element Tensor built from the input Tensors "
                        "with minijoint ops (so that backward reaches them), got "
                        f"{type(loss).__name__}\non {inputs}")
        call(loss.backward, inputs=inputs)
        ref_t = _joint_tensors(c)
        ref, _ = JointLoss(*settings)(*(ref_t[k] for k in _JOINT_LISTS), c["target"])
        ref.backward()

        def planted(pick):   # pick: the value or one gradient of a planted loss
            return lambda: [(key, pick(_joint_loss_planted(c, **flags)))
                            for key, flags in _JOINT_PLANTED]
        _compare("the loss L", ref.data, loss.data.reshape(()), inputs, JOINT_LOSS_MISTAKES,
                 planted(lambda p: p[0]))
        given, expected = _grads(t), _grads(ref_t)
        for k in ("snn_logits", "snn_feats", "ann_logits", "ann_feats"):
            for i in range(_BRANCHES):
                _compare(f"{_JOINT_NAMES[k]} of branch {i + 1}", expected[k, i], given[k, i],
                         inputs, JOINT_LOSS_MISTAKES, planted(lambda p, k=k, i=i: p[1][k, i]),
                         axes="N, K" if k.endswith("logits") else "N, D")

    _grade(_joint_spec(), check, _other_seed)
