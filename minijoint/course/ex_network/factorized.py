r"""Exercise 5, the factorized layer's gradients (Eq. 13): the mistakes it names, the
gradients with each one planted, the drawn factors, and the grader."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...nn.factorized import rebuild_weight
from ...tensor import Tensor
from ..core import call
from .compare import _compare, _grade, _other_seed, _seed, _unpack

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
