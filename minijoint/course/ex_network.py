r"""The network exercises of the course: conv2d's backward through col2im (4), the factorized
layer's gradients (5, Eq. 13), the joint loss with its stop-gradient (6, Eqs. 7–10) and one
energy count (7, Table 5).

Every grader works the same way. hypothesis draws small float64 inputs (:func:`.core.for_all`),
minijoint's own implementation gives the expected result, and :func:`_compare` checks the
student's outputs one by one. When an output is off on the smallest failing input
(hypothesis shrinks it), the grader plants each known mistake of that output in the
reference (the ``_*_planted`` functions and lists below, independent of the student's code)
and names the one that the student's output equals, in the message with a hint and in
``Wrong.mistake``. Two rules keep the names honest: a mistake is looked for only where the
output differs from the reference (a mistake that changes nothing on an input is never
blamed for it), and it must also explain the student's result on a *companion* input, the
same shapes and settings with other numbers (a coincidence of numbers is never named).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import functional as F
from ..energy.counts import E_ADD, E_MULT, compute_energy, conv2d_macs
from ..energy.measure import LayerOps
from ..joint.loss import JointLoss
from ..nn.factorized import rebuild_weight
from ..tensor import Tensor
from .core import Exercise, StudentError, Wrong, call, for_all

__all__ = ["EXERCISES"]


# ---- comparing one output, naming a mistake --------------------------------------------
def _array(value, what: str, inputs: str) -> np.ndarray:
    try:
        return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{what} must be an array of numbers, got {type(value).__name__}\n"
                    f"on {inputs}") from None


def _unpack(out, names: str, n: int, inputs: str) -> tuple:
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        raise Wrong(f"return the {n} values {names}, got {got}\non {inputs}")
    return tuple(out)


class _Off(Wrong):
    """An output is off. Which known mistake it is, if any, is worked out only by
    :func:`_grade`, on the smallest failing input: while shrinking, hypothesis runs many
    failing inputs, and planting every mistake in each of them would cost most of the time."""

    def __init__(self, message, mistakes, planted, same):
        super().__init__(message)
        self.mistakes, self.planted, self.same, self.example = mistakes, planted, same, None

    def planted_match(self):
        """The key of the first planted mistake that the student's output equals, or None."""
        for key, value in (self.planted() if self.planted else ()):
            if self.same(np.asarray(value, dtype=np.float64)):
                return key
        return None


def _compare(what, expected, given, inputs, mistakes, planted=None, axes="", rtol=1e-6,
             atol=1e-9) -> None:
    r"""Raise :class:`_Off` unless ``given`` has ``expected``'s shape and values.

    ``what`` names the output ("gx"), ``axes`` its axes ("N, C, H, W"), ``inputs`` the input
    that was drawn; the message shows the first entry that differs. ``planted`` returns
    [(mistake key, the reference with that mistake planted), ...]; ``mistakes`` maps each
    key to its hint."""
    given = _array(given, what, inputs)

    def same(a):
        return a.shape == given.shape and np.allclose(a, given, rtol=rtol, atol=atol)

    if same(expected):
        return
    if given.shape != expected.shape:
        msg = f"{what} has shape {given.shape}, expected {expected.shape}"
    else:
        off = ~np.isclose(given, expected, rtol=rtol, atol=atol)
        at = np.unravel_index(np.argmax(off), off.shape)
        where = f" at [{', '.join(map(str, at))}]" + (f" (axes {axes})" if axes else "")
        msg = (f"{what} is off{where if given.ndim else ''}: expected {expected[at]:.6g}, "
               f"got {given[at]:.6g}" + (f" ({off.sum()} of {off.size} values differ)"
                                          if off.size > 1 else ""))
    raise _Off(f"{msg}\non {inputs}", mistakes, planted, same)


def _grade(strategy, check, companion) -> None:
    """:func:`~.core.for_all` of ``check``. On a failure, the smallest failing input's
    mistake is named when it is also the mistake on ``companion(input)``."""
    def run(example):
        try:
            check(example)
        except _Off as off:
            off.example = example
            raise

    try:
        for_all(strategy, run)
    except _Off as off:
        key = again = off.planted_match()
        if key is not None:
            try:
                check(companion(off.example))
                again = None           # right on the companion: the mistake does not explain it
            except _Off as other:
                again = other.planted_match()
            except (Wrong, StudentError):
                again = None
        if key is None or again != key:
            raise Wrong(off.message) from None
        raise Wrong(f"{off.message}\nKnown mistake `{key}`: {off.mistakes[key]}", key) from None


def _seed(draw) -> int:
    return draw(st.integers(0, 255))   # a few bits: a 32-bit seed takes long to shrink


def _other_seed(spec: dict) -> dict:
    """The companion of an input of arrays: the same shapes and settings, other values
    (the mistakes here show through the shapes and settings, never through the values)."""
    return {**spec, "seed": spec["seed"] + 1}


# ---- 4. conv2d's backward through col2im -----------------------------------------------
CONV_MISTAKES = {
    "overwrite_not_add": "is col2im assigning (=) where it must add (+=)? A pixel that "
                         "several windows cover receives the sum of all their columns.",
    "padding_not_cropped": "col2im returned the padded image (N, C, H + 2P, W + 2P): crop "
                           "the padding away, x_pad[:, :, P:P + H, P:P + W].",
    "negative_index_crop": "x_pad[:, :, P:-P, P:-P] is empty when P = 0 (-0 is 0): crop "
                           "with P:P + H and P:P + W.",
    "gy_layout": "was gy (N, OC, OH, OW) reshaped to (OC, N·OH·OW) without moving OC first? "
                 "transpose(1, 0, 2, 3) before the reshape, so its columns follow col's "
                 "(n, oh, ow) order.",
    "reshape_not_transpose": "a (C·KH·KW, OC) matrix was reshaped to (OC, C·KH·KW), or w "
                             "to (C·KH·KW, OC), where a transpose (.T) is needed: a reshape "
                             "keeps the memory order and scrambles the entries.",
}


@st.composite
def _conv_spec(draw):
    """Sizes, stride S, padding P and a seed; the kernel always fits the padded input."""
    n = lambda lo, hi: draw(st.integers(lo, hi))   # noqa: E731
    s = dict(N=n(1, 3), C=n(1, 3), OC=n(1, 3), KH=n(1, 3), KW=n(1, 3), S=n(1, 2), P=n(0, 2))
    return dict(s, H=n(max(1, s["KH"] - 2 * s["P"]), 5), W=n(max(1, s["KW"] - 2 * s["P"]), 5),
                seed=_seed(draw))


def _conv_arrays(s: dict) -> tuple:
    """x (N, C, H, W), w (OC, C, KH, KW), gy (N, OC, OH, OW), col (C·KH·KW, N·OH·OW)."""
    N, C, OC, KH, KW, S, P, H, W = (s[k] for k in ("N", "C", "OC", "KH", "KW", "S", "P", "H", "W"))
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    normal = np.random.default_rng(s["seed"]).standard_normal
    return (normal((N, C, H, W)), normal((OC, C, KH, KW)), normal((N, OC, OH, OW)),
            normal((C * KH * KW, N * OH * OW)))


def _col2im_planted(col, x_shape, KH, KW, S, P, overwrite=None, crop="P:P+H") -> np.ndarray:
    """col2im written out, with ``overwrite`` ("positions": the loop over kernel positions
    assigns; "windows": the loop over windows assigns) and ``crop`` ("none", "P:-P")."""
    N, C, H, W = x_shape
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    cols = col.reshape(C, KH, KW, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)
    x_pad = np.zeros((N, C, H + 2 * P, W + 2 * P))
    if overwrite == "windows":
        for oh in range(OH):
            for ow in range(OW):
                x_pad[:, :, S * oh:S * oh + KH, S * ow:S * ow + KW] = cols[..., oh, ow]
    else:
        for i in range(KH):
            for j in range(KW):
                window = x_pad[:, :, i:i + S * (OH - 1) + 1:S, j:j + S * (OW - 1) + 1:S]
                if overwrite == "positions":
                    window[...] = cols[:, :, i, j]
                else:
                    window += cols[:, :, i, j]
    if crop == "none":
        return x_pad
    return x_pad[:, :, P:-P, P:-P] if crop == "P:-P" else x_pad[:, :, P:P + H, P:P + W]


def _conv_backward_planted(x, w, gy, S, P, gy_layout=False, reshape_slip=False) -> tuple:
    """(gx, gw) by the GEMMs on col, with gy's layout or the transposes slipped."""
    OC, C, KH, KW = w.shape
    col = F.im2col(x, (KH, KW), S, P)
    gy2 = gy.reshape(OC, -1) if gy_layout else gy.transpose(1, 0, 2, 3).reshape(OC, -1)
    W2t = w.reshape(-1, OC) if reshape_slip else w.reshape(OC, -1).T
    gw = (col @ gy2.T).reshape(w.shape) if reshape_slip else (gy2 @ col.T).reshape(w.shape)
    return F.col2im(W2t @ gy2, x.shape, (KH, KW), S, P), gw


def _grade_conv2d_backward(funcs) -> None:
    def check_col2im(spec):
        (x, _, _, col), S, P = _conv_arrays(spec), spec["S"], spec["P"]
        KH, KW = spec["KH"], spec["KW"]
        inputs = (f"col of shape {col.shape}, x_shape {x.shape}, kernel {KH}×{KW}, "
                  f"stride {S}, padding {P}")
        args = (col, x.shape, KH, KW, S, P)
        given = call(funcs["col2im"], *args, inputs=inputs)
        _compare("col2im(col)", F.col2im(col, x.shape, (KH, KW), S, P), given, inputs,
                 CONV_MISTAKES, lambda: [
                     ("overwrite_not_add", _col2im_planted(*args, overwrite="positions")),
                     ("overwrite_not_add", _col2im_planted(*args, overwrite="windows")),
                     ("padding_not_cropped", _col2im_planted(*args, crop="none")),
                     ("negative_index_crop", _col2im_planted(*args, crop="P:-P"))],
                 axes="N, C, H, W")

    def check_backward(spec):
        (x, w, gy, _), S, P = _conv_arrays(spec), spec["S"], spec["P"]
        inputs = (f"x of shape {x.shape}, w of shape {w.shape}, gy of shape {gy.shape}, "
                  f"stride {S}, padding {P}")
        out = call(funcs["conv2d_backward"], x, w, gy, S, P, inputs=inputs)
        gx, gw = _unpack(out, "(gx, gw)", 2, inputs)
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        F.conv2d(xt, wt, stride=S, padding=P).backward(gy)
        for k, (name, given, ref, axes) in enumerate((("gx", gx, xt.grad, "N, C, H, W"),
                                                      ("gw", gw, wt.grad, "OC, C, KH, KW"))):
            _compare(name, ref, given, inputs, CONV_MISTAKES, lambda k=k: [
                ("gy_layout", _conv_backward_planted(x, w, gy, S, P, gy_layout=True)[k]),
                ("reshape_not_transpose",
                 _conv_backward_planted(x, w, gy, S, P, reshape_slip=True)[k])], axes=axes)

    _grade(_conv_spec(), check_col2im, _other_seed)
    _grade(_conv_spec(), check_backward, _other_seed)


# ---- 5. the factorized layer's gradients (Eq. 13) --------------------------------------
FACTORIZED_MISTAKES = {
    "sigma_wrong_path": "a gradient took the other path's upstream gradient or σ: ḡσ_ANN "
                        "comes from ḡW_ANN, ḡσ_SNN from ḡW_SNN, and in ḡU, ḡVh each path's "
                        "term carries its own σ.",
    "one_path_only": "U and Vh are shared: ḡU and ḡVh are the SUM of the ANN's and the "
                     "SNN's terms, not one path's.",
    "one_sigma_for_both": "ḡU (or ḡVh) multiplied the summed gradient by one σ; the two "
                          "paths have different σ, so each term needs its own: "
                          "ḡW_ANN·Vhᵀ·diag(σ_ANN) + ḡW_SNN·Vhᵀ·diag(σ_SNN).",
    "sigma_summed": "each σ belongs to one path: ḡσ_ANN comes from ḡW_ANN alone, not from "
                    "the sum of both paths' gradients.",
    "sigma_wrong_axis": "diag(σ) went on the wrong axis: k indexes the singular values "
                        "(columns of U, rows of Vh), so σ scales ḡU's columns and ḡVh's "
                        "rows, and ḡσ[k] sums over o (or c), not over k.",
}
_FACTORS = ("U", "sigma_ann", "sigma_snn", "Vh")


@st.composite
def _factorized_spec(draw):
    return dict(OC=draw(st.integers(1, 4)), C=draw(st.integers(1, 4)), seed=_seed(draw))


def _factorized_arrays(s: dict) -> dict:
    """U (OC, r), sigma_ann, sigma_snn (r,), Vh (r, C) with r = min(OC, C), and the upstream
    gradients gW_ann, gW_snn (OC, C); σ in [0.5, 2], as after training."""
    rng, (OC, C), r = np.random.default_rng(s["seed"]), (s["OC"], s["C"]), min(s["OC"], s["C"])
    return dict(U=rng.standard_normal((OC, r)), sigma_ann=rng.uniform(0.5, 2.0, r),
                sigma_snn=rng.uniform(0.5, 2.0, r), Vh=rng.standard_normal((r, C)),
                gW_ann=rng.standard_normal((OC, C)), gW_snn=rng.standard_normal((OC, C)))


def _factorized_planted(U, sa, ss, Vh, Ga, Gs) -> dict:
    """{output: [(mistake, the reference with it planted), ...]} for ḡU, ḡVh, ḡσ_ANN, ḡσ_SNN."""
    OC, r, C = U.shape + Vh.shape[1:]
    gU = lambda G, s: (G @ Vh.T) * s                                   # noqa: E731
    gVh = lambda G, s: s[:, None] * (U.T @ G)                          # noqa: E731
    gs = lambda G: (U * (G @ Vh.T)).sum(axis=0)                        # noqa: E731
    shared = lambda g: [("one_path_only", g(Ga, sa)), ("one_path_only", g(Gs, ss)),  # noqa: E731
                        ("one_sigma_for_both", g(Ga + Gs, sa)),
                        ("one_sigma_for_both", g(Ga + Gs, ss)),
                        ("sigma_wrong_path", g(Ga, ss) + g(Gs, sa))]
    own = lambda G, other: [("sigma_wrong_path", gs(other)),                      # noqa: E731
                            ("sigma_summed", gs(Ga + Gs)),
                            ("sigma_wrong_axis", (U * (G @ Vh.T)).sum(axis=1))]
    # σ broadcast along the other axis only runs when that axis has r entries too
    return {"gU": shared(gU) + ([("sigma_wrong_axis", sa[:, None] * (Ga @ Vh.T)
                                  + ss[:, None] * (Gs @ Vh.T))] if OC == r else []),
            "gVh": shared(gVh) + ([("sigma_wrong_axis", (U.T @ Ga) * sa + (U.T @ Gs) * ss)]
                                  if C == r else []),
            "gsigma_ann": own(Ga, Gs), "gsigma_snn": own(Gs, Ga)}


def _grade_factorized(funcs) -> None:
    def check(spec):
        c = _factorized_arrays(spec)
        inputs = ", ".join(f"{k} of shape {v.shape}" for k, v in c.items())
        out = call(funcs["factorized_backward"], *c.values(), inputs=inputs)
        given = _unpack(out, "(gU, gVh, gsigma_ann, gsigma_snn)", 4, inputs)
        t = {k: Tensor(v, requires_grad=k in _FACTORS) for k, v in c.items()}
        loss = ((rebuild_weight(t["U"], t["sigma_ann"], t["Vh"]) * t["gW_ann"]).sum()
                + (rebuild_weight(t["U"], t["sigma_snn"], t["Vh"]) * t["gW_snn"]).sum())
        loss.backward()
        outputs = (("gU", "U", "o, k"), ("gVh", "Vh", "k, c"), ("gsigma_ann", "sigma_ann", "k"),
                   ("gsigma_snn", "sigma_snn", "k"))
        for (name, wrt, axes), g in zip(outputs, given):
            _compare(name, t[wrt].grad, g, inputs, FACTORIZED_MISTAKES,
                     lambda name=name: _factorized_planted(*c.values())[name], axes=axes)

    _grade(_factorized_spec(), check, _other_seed)


# ---- 6. the joint loss (Eqs. 7–10) -----------------------------------------------------
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


# ---- 7. one energy count (Table 5) -----------------------------------------------------
ENERGY_MISTAKES = {
    "mac_energy_for_snn": "a spike-fed SNN layer only adds (a spike meets a weight: one "
                          "accumulate), so its T·rate·MACs operations cost E_ADD each, not a "
                          "MAC's E_ADD + E_MULT.",
    "missing_rate": "a spike-fed layer works only where a spike arrived: T·rate·MACs "
                    "additions, the firing rate included.",
    "missing_T": "the SNN runs T time steps per image: its operations are counted T times.",
    "first_layer_as_spikes": "the first layer sees the analog image, not spikes: at every "
                             "step its MACs are additions AND multiplications, "
                             "T·MACs·(E_ADD + E_MULT).",
    "mac_priced_as_mult": "a MAC is one multiplication and one addition: E_ADD + E_MULT = "
                          "5.5 pJ (the paper's text says 4.6 pJ, its table charges both).",
    "params_not_macs": "that counts the weights (C·OC·KH·KW); the MACs are one per weight per "
                       "output position, C·OC·KH·KW·OH·OW.",
    "wrong_units": "the value is a power of 1000 off: return joules (E_ADD = 0.9e-12 J), "
                   "not pJ or µJ.",
}


@st.composite
def _energy_spec(draw):
    """A layer, a rate and T. The rate is 0.013 + k/97, never a simple fraction, so that no
    mistake's factor (1/rate) is a small whole number."""
    n = lambda hi: draw(st.integers(1, hi))   # noqa: E731
    return dict(C=n(64), OC=n(64), KH=n(5), KW=n(5), OH=n(32), OW=n(32),
                rate=0.013 + draw(st.integers(0, 85)) / 97, T=n(8), first=draw(st.booleans()))


def _energy_companion(spec: dict) -> dict:
    """The same layer with another T and another rate (the numbers a mistake scales by)."""
    return {**spec, "T": spec["T"] + 1, "rate": 0.61 * spec["rate"] + 0.047}


def _energy_planted(C, OC, KH, KW, OH, OW, rate, T, first) -> dict:
    """{output: [(mistake, the energy with it planted), ...]} for e_ann and e_snn."""
    macs, params, mac = conv2d_macs(C, OC, KH, KW, OH, OW), C * OC * KH * KW, E_ADD + E_MULT
    if first:    # the analog image: T·MACs additions and multiplications
        snn = [("missing_T", macs * mac), ("first_layer_as_spikes", T * rate * macs * E_ADD),
               ("mac_priced_as_mult", T * macs * E_MULT), ("params_not_macs", T * params * mac)]
    else:        # spikes: T·rate·MACs additions
        snn = [("mac_energy_for_snn", T * rate * macs * mac), ("missing_rate", T * macs * E_ADD),
               ("missing_T", rate * macs * E_ADD), ("params_not_macs", T * rate * params * E_ADD)]
    return {"e_ann": [("mac_priced_as_mult", macs * E_MULT), ("params_not_macs", params * mac)],
            "e_snn": snn}


def _grade_energy_count(funcs) -> None:
    def check(c):
        inputs = ", ".join(f"{k}={v:.4g}" if k == "rate" else f"{k}={v}" for k, v in c.items())
        out = call(funcs["energy_count"], *c.values(), inputs=inputs)
        given = dict(zip(("e_ann", "e_snn"), _unpack(out, "(e_ann, e_snn)", 2, inputs)))
        C, OC, KH, KW, OH, OW, rate, T, first = c.values()
        layer = LayerOps(name="exercise", kind="conv", geometry=(C, OC, KH, KW),
                         in_shape=(C,),   # the input's size plays no part in the counts
                         out_shape=(OC, OH, OW), macs=conv2d_macs(C, OC, KH, KW, OH, OW),
                         first=first, rate=None if first else rate, neurons=0, T=T)
        expected = {"e_ann": compute_energy(layer.ann_adds, layer.ann_mults),
                    "e_snn": compute_energy(layer.snn_adds, layer.snn_mults)}
        for name, ref in expected.items():
            _compare(f"{name} (J)", np.float64(ref), given[name], inputs, ENERGY_MISTAKES,
                     lambda name=name, ref=ref: _energy_planted(*c.values())[name]
                     + [("wrong_units", ref * 10.0 ** k) for k in (3, 6, 9, 12)], atol=0)

    _grade(_energy_spec(), check, _energy_companion)


EXERCISES = (
    Exercise("conv2d_backward", "conv2d's backward through col2im", "04_conv2d_backward.ipynb",
             ("col2im", "conv2d_backward"), _grade_conv2d_backward, CONV_MISTAKES),
    Exercise("factorized", "The factorized layer's gradients (Eq. 13)", "05_factorized.ipynb",
             ("factorized_backward",), _grade_factorized, FACTORIZED_MISTAKES),
    Exercise("joint_loss", "The joint loss and its stop-gradient (Eqs. 7–10)",
             "06_joint_loss.ipynb", ("joint_loss",), _grade_joint_loss, JOINT_LOSS_MISTAKES),
    Exercise("energy_count", "One energy count (Table 5)", "07_energy_count.ipynb",
             ("energy_count",), _grade_energy_count, ENERGY_MISTAKES),
)
