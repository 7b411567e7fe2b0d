r"""Exercise 4, conv2d's backward through col2im: the mistakes it names, col2im and the
GEMMs with each one planted, the drawn sizes, strides and paddings, and the grader."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ... import functional as F
from ...tensor import Tensor
from ..core import call
from .compare import _compare, _grade, _other_seed, _seed, _unpack

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
