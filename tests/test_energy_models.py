"""Cost models (minijoint/energy/models.py, docs/method.md §8): every model's arithmetic on a
layer counted by hand, the paper's Table 5 kept exact, and the break-even rate at the
crossing of the two energies."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minijoint import Tensor
from minijoint.energy import (COST_MODELS, LayerOps, breakeven_rate, dense_synops,
                              effective_synops, estimate_energy, fanout_map, get_model,
                              model_report, network_breakeven, qann_bits)
from minijoint.models import JointNet

pJ = 1e-12


# ---- one conv + one LIF, counted by hand ------------------------------------------------
# Input spikes, T = 2, one channel of 3×3: at t = 1 the centre fires, at t = 2 the top-left
# corner. Conv 1 → 2 channels, 3×3, stride 1, padding 1 → (2, 3, 3); a LIF on its 18 outputs.
#   MACs M = C·OC·KH·KW·OH·OW = 1·2·9·9 = 162 (padding taps included).
#   Input row h is read by the output rows oh with 0 ≤ h + 1 − oh < 3: rows 0, 1, 2 are read
#   by 2, 3, 2 outputs. Fan-out (×OC = 2): corner 2·2·2 = 8, edge 2·2·3 = 12, centre 2·3·3 = 18.
#   dense SynOps F = C·OC·(2+3+2)² = 98 = 162 − 64 padding taps.
#   effective SynOps S = 18 (centre, t = 1) + 8 (corner, t = 2) = 26.
#   rate r = 2 spikes / (T·9 inputs) = 1/9; I = 9 inputs, O = n = 18 outputs and neurons.
SPIKES = np.zeros((2, 1, 1, 3, 3))                       # (T, N, C, H, W)
SPIKES[0, 0, 0, 1, 1] = SPIKES[1, 0, 0, 0, 0] = 1


def _hand_layer(first=False):
    return LayerOps(name="conv", kind="conv", geometry=(1, 2, 3, 3), in_shape=(1, 3, 3),
                    out_shape=(2, 3, 3), macs=162, first=first, rate=None if first else 1 / 9,
                    neurons=18, T=2, dense_macs=98, synops=None if first else 26.0)


def test_the_hand_counts_are_what_the_counting_functions_give():
    fan = fanout_map("conv", (1, 3, 3), (2, 3, 3), (1, 2, 3, 3), padding=(1, 1))
    assert fan.tolist() == [[8, 12, 8], [12, 18, 12], [8, 12, 8]]
    assert dense_synops("conv", (1, 3, 3), (2, 3, 3), (1, 2, 3, 3), padding=(1, 1)) == 98
    folded = SPIKES.reshape(2, 1, 3, 3)                  # (T·N, C, H, W): per step, ×T
    assert 2 * float(effective_synops(folded, fan)) == 26
    assert qann_bits(2) == 2 and qann_bits(4) == 3 and qann_bits(7) == 3 and qann_bits(8) == 4


def test_paper_model_by_hand():
    # ANN 162·(0.9 + 4.6) = 891 pJ; SNN 0.9·T·r·M = 0.9·2·(1/9)·162 = 0.9·36 = 32.4 pJ;
    # r* = 891 / (0.9·2·162) = 3.0556 (> 1: cheaper at any rate); stem 2·162·5.5 = 1782 pJ
    m, L = COST_MODELS["paper"], _hand_layer()
    assert m.ann(L).total == pytest.approx(891 * pJ, rel=1e-12)
    assert m.snn(L, L.rate).total == pytest.approx(32.4 * pJ, rel=1e-12)
    assert m.qann(L) is None and breakeven_rate(m, L, "qann") is None
    assert breakeven_rate(m, L) == pytest.approx(891 / 291.6, rel=1e-12)
    assert m.snn(_hand_layer(first=True)).total == pytest.approx(1782 * pJ, rel=1e-12)


# lemaire: 32-bit float, 10 pJ per 64-bit access → e_bit = 0.15625 pJ per bit.
#   ANN:  ops F·4.6 + n·0.9 = 450.8 + 16.2 = 467;  mem (F·(32+32) + O·32)·e_bit = 6848·e_bit
#         = 1070;  total 1537 pJ.
#   QANN: b = ⌈log₂ 3⌉ = 2; ops F·2·0.9 + n·0.9 = 176.4 + 16.2 = 192.6;
#         mem (F·(32+2) + O·2)·e_bit = 3368·e_bit = 526.25;  total 718.85 pJ.
#   SNN:  synaptic events: ops S·0.9 = 23.4, mem S·(32 + 2·32)·e_bit = 390,
#         addr T·r·I·⌈log₂ 9⌉·e_bit + S·0.1 = 8·e_bit + 2.6 = 3.85;
#         neurons (n·T = 36 updates): ops 36·(3.7 + 0.9) = 165.6, mem 36·65·e_bit = 365.625;
#         total 189 + 755.625 + 3.85 = 948.475 pJ.
#   r*:   E(0) = 165.6 + 365.625 = 531.225; at r = 1, S = 9·26 = 234 and the variable part is
#         234·0.9 + 234·96·e_bit + 18·4·e_bit + 23.4 = 210.6 + 3510 + 11.25 + 23.4 = 3755.25;
#         r*_ANN = (1537 − 531.225) / 3755.25, r*_QANN = (718.85 − 531.225) / 3755.25.
#   stem (the same conv on a 3×3 image, run once): ANN ops 467, mem (F·(32+8) + O·32)·e_bit
#         = 702.5 → 1169.5; SNN ops F·4.6 = 450.8, mem 702.5, neurons 165.6 + 365.625, their
#         currents read every step 36·32·e_bit = 180 → 1864.525 pJ.
def test_lemaire_model_by_hand():
    m, L = COST_MODELS["lemaire"], _hand_layer()
    ann, qann, snn = m.ann(L), m.qann(L), m.snn(L, L.rate)
    assert (ann.ops / pJ, ann.mem / pJ, ann.addr) == pytest.approx((467, 1070, 0), rel=1e-12)
    assert qann.total / pJ == pytest.approx(718.85, rel=1e-12)
    assert (snn.ops / pJ, snn.mem / pJ, snn.addr / pJ) == pytest.approx((189, 755.625, 3.85),
                                                                        rel=1e-12)
    assert snn.total / pJ == pytest.approx(948.475, rel=1e-12)
    assert breakeven_rate(m, L) == pytest.approx((1537 - 531.225) / 3755.25, rel=1e-12)
    assert breakeven_rate(m, L, "qann") == pytest.approx((718.85 - 531.225) / 3755.25, rel=1e-12)
    stem = _hand_layer(first=True)
    assert m.ann(stem).total / pJ == pytest.approx(1169.5, rel=1e-12)
    assert m.snn(stem).total / pJ == pytest.approx(1864.525, rel=1e-12)
    assert breakeven_rate(m, stem) is None                        # analog input: no rate


# lemaire-int8: 8-bit weights, 32-bit integer sums; add 0.1, leak mult 3.1, address add 0.1.
#   ANN:  as lemaire, 1537 pJ.
#   QANN: ops F·2·0.1 + n·0.1 = 19.6 + 1.8 = 21.4; mem (F·(8+2) + O·2)·e_bit = 1016·e_bit
#         = 158.75;  total 180.15 pJ.
#   SNN:  ops S·0.1 + 36·(3.1 + 0.1) = 2.6 + 115.2 = 117.8; mem S·(8 + 64)·e_bit + 365.625
#         = 292.5 + 365.625 = 658.125; addr 3.85;  total 779.775 pJ.
def test_lemaire_int8_model_by_hand():
    m, L = COST_MODELS["lemaire-int8"], _hand_layer()
    assert m.ann(L).total / pJ == pytest.approx(1537, rel=1e-12)
    assert m.qann(L).total / pJ == pytest.approx(180.15, rel=1e-12)
    snn = m.snn(L, L.rate)
    assert (snn.ops / pJ, snn.mem / pJ, snn.addr / pJ) == pytest.approx((117.8, 658.125, 3.85),
                                                                        rel=1e-12)


def test_models_are_named_and_state_their_assumptions():
    assert list(COST_MODELS) == ["paper", "lemaire", "lemaire-int8"]
    for name, m in COST_MODELS.items():
        assert m.name == name and get_model(name) is m
        assert m.summary and "\n" not in m.summary and m.assumptions and m.sources
    assert any("Horowitz" in s for s in COST_MODELS["lemaire"].sources)
    assert any("2210.13107" in s for s in COST_MODELS["lemaire"].sources)
    assert any("2409.08290" in s for s in COST_MODELS["lemaire-int8"].sources)
    with pytest.raises(ValueError, match="paper, lemaire, lemaire-int8"):
        get_model("horowitz")


# ---- the paper's Table 5 stays exact --------------------------------------------------
def _small_net(T=3):
    return JointNet("resnet10", width=4, image_size=8, in_channels=1, T=T,
                    rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def tables():
    x = np.random.default_rng(1).random((6, 1, 8, 8)).astype(np.float32)
    return estimate_energy(_small_net(), [(Tensor(x), np.arange(6) % 3)])


def test_paper_model_per_layer_sums_to_table5(tables):
    rep = model_report(tables, "paper")
    tot = rep.totals()
    assert tot["ann"].total == pytest.approx(tables.rows[0].energy, rel=1e-12)
    assert tot["snn"].total == pytest.approx(tables.rows[1].energy, rel=1e-12)
    assert tot["qann"] is None and tot["snn"].mem == tot["snn"].addr == 0
    text = rep.to_markdown()
    assert all(a in text for a in rep.model.assumptions) and "cheaper" in text


# ---- the break-even rate is where the energies cross -----------------------------------
def _check_crossing(model, L, baseline):
    r = breakeven_rate(model, L, baseline)
    base = getattr(model, baseline)(L).total
    assert model.snn(L, r).total == pytest.approx(base, rel=1e-9)
    d = 0.05 * max(abs(r), 1e-3)
    assert model.snn(L, r - d).total < base < model.snn(L, r + d).total   # cheaper below r*


@pytest.mark.parametrize("name", list(COST_MODELS))
def test_breakeven_on_every_layer_of_a_measured_net(tables, name):
    model = get_model(name)
    for L in tables.layers[1:]:
        for baseline in ("ann", "qann"):
            if getattr(model, baseline)(L) is not None:
                _check_crossing(model, L, baseline)
    for baseline in ("ann", "qann"):
        be = network_breakeven(model, tables.layers, baseline)
        if be is None:
            continue
        lam, _ = be
        base = sum(getattr(model, baseline)(L).total for L in tables.layers)
        scaled = sum(model.snn(L, None if L.first else lam * L.rate).total for L in tables.layers)
        assert scaled == pytest.approx(base, rel=1e-9)


@st.composite
def spike_fed_layers(draw):
    """A valid spike-fed conv or linear LayerOps: a shape, a rate in (0, 1], and effective
    SynOps between the rate's share of the smallest and the largest fan-outs."""
    T, C, OC = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 8))
    if draw(st.booleans()):
        H, K = draw(st.integers(1, 6)), draw(st.sampled_from([1, 3]))
        P = K // 2
        in_shape, out_shape, geometry = (C, H, H), (OC, H, H), (C, OC, K, K)
        dense = dense_synops("conv", in_shape, out_shape, geometry, padding=(P, P))
        kind, macs = "conv", C * OC * K * K * H * H
    else:
        in_shape, out_shape, geometry = (C,), (OC,), (C, OC, 1, 1)
        kind, macs = "linear", C * OC
        dense = macs
    rate = draw(st.floats(0.01, 1.0))
    spread = draw(st.floats(0.5, 1.5))
    return LayerOps(name="l", kind=kind, geometry=geometry, in_shape=in_shape,
                    out_shape=out_shape, macs=macs, first=False, rate=rate,
                    neurons=draw(st.sampled_from([0, math.prod(out_shape)])), T=T,
                    dense_macs=dense, synops=spread * T * rate * dense)


@settings(max_examples=40)
@given(L=spike_fed_layers(), name=st.sampled_from(list(COST_MODELS)))
def test_breakeven_is_where_the_energies_cross(L, name):
    model = get_model(name)
    for baseline in ("ann", "qann"):
        if getattr(model, baseline)(L) is not None:
            _check_crossing(model, L, baseline)
