r"""Exercise 7, one energy count (Table 5): the mistakes it names, the energies with each
one planted, the drawn layers, rates and T, and the grader."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...energy.counts import E_ADD, E_MULT, compute_energy, conv2d_macs
from ...energy.measure import LayerOps
from ..core import call
from .compare import _compare, _grade, _unpack

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
