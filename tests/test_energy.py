"""Energy estimation (Section 5.4, Tables 5–6, docs/method.md §8): hand counts, the paper's
arithmetic, firing-rate counting, and the report of a trained checkpoint."""
import csv
import io
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minijoint.functional as F
from minijoint import Tensor
from minijoint.energy import (EnergyRow, ann_movement_bits, avg_pool2d_ops,
                              compute_energy, conv2d_macs, conv_output_side, energy_report,
                              energy_tables, global_avg_pool2d_ops, layer_table,
                              linear_macs, macs_187m_candidates, max_pool2d_ops, measure,
                              movement_energy, paper_table5, resnet_mac_count,
                              snn_movement_bits, totals)
from minijoint.models import JointNet
from minijoint.nn import RateMeter, firing_rate, observe


# ---- the paper's Table 5, exactly -------------------------------------------------------
def test_paper_table5_energies_to_the_printed_digits():
    rows = {r.method: r for r in paper_table5()}
    uJ = {k: r.energy * 1e6 for k, r in rows.items()}
    assert f"{uJ['ANN (ours)']:.1f}" == "1028.5"
    assert f"{uJ['SNN (ours, T=2)']:.2f}" == "82.25"
    assert f"{uJ['SNN [33] (T=2)']:.2f}" == "80.27"
    assert f"{uJ['SNN [35] (T=5)']:.1f}" == "168.3"
    assert f"{uJ['ANN (ours)'] / uJ['SNN (ours, T=2)']:.1f}" == "12.5"


def test_paper_table5_units_slip_is_a_factor_1000():
    unit = {"J": 1.0, "mJ": 1e-3}
    for r in paper_table5():
        value, suffix = float(r.printed.rstrip("mJ")), r.printed.lstrip("0123456789.")
        assert value * unit[suffix] / r.energy == pytest.approx(1000, rel=0.01), r


def test_compute_energy_is_linear_in_its_constants():
    assert compute_energy(1, 0) == 0.9e-12 and compute_energy(0, 1) == 4.6e-12
    assert compute_energy(10, 20, e_add=1.0, e_mult=2.0) == 50.0
    with pytest.raises(ValueError, match="n_add"):
        compute_energy(-1, 0)
    with pytest.raises(ValueError, match="e_mult"):
        compute_energy(1, 1, e_mult="x")


# ---- op counts against hand counts ------------------------------------------------------
def test_tiny_layers_by_hand():
    # 1 -> 2 channels, 3x3, padding 1, 4x4 input: 16 outputs per map, each a 9-long dot product
    assert conv2d_macs(1, 2, 3, 3, 4, 4) == 2 * 16 * 9 == 288
    assert linear_macs(3, 5) == 15
    # 2 channels, 4x4 -> 2x2 average pool: 8 outputs, each 3 adds and 1 mult
    assert avg_pool2d_ops(2, 2, 2, 2, 2) == (24, 8)
    assert max_pool2d_ops(2, 2, 2, 2, 2) == 24
    assert global_avg_pool2d_ops(3, 4, 4) == (3 * 15, 3)
    with pytest.raises(ValueError, match="OC"):
        conv2d_macs(1, -2, 3, 3, 4, 4)
    with pytest.raises(ValueError, match="in_features"):
        linear_macs(2.5, 3)


def _naive_conv_mults(N, C, OC, H, W, K, S, P):
    """Count the multiplications of a textbook 7-loop convolution (padding included)."""
    OH, OW = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
    return sum(1 for _ in itertools.product(range(N), range(OC), range(OH), range(OW),
                                            range(C), range(K), range(K)))


@settings(max_examples=15)
@given(C=st.integers(1, 3), OC=st.integers(1, 3), H=st.integers(3, 7), K=st.integers(1, 3),
       S=st.integers(1, 2), P=st.integers(0, 1))
def test_conv_macs_match_a_loop_and_the_conv_op(C, OC, H, K, S, P):
    OH = conv_output_side(H, K, S, P)
    x = np.zeros((2, C, H, H), np.float32)
    y = F.conv2d(Tensor(x), Tensor(np.zeros((OC, C, K, K), np.float32)), stride=S, padding=P)
    assert y.shape == (2, OC, OH, OH)
    assert 2 * conv2d_macs(C, OC, K, K, OH, OH) == _naive_conv_mults(2, C, OC, H, H, K, S, P)
    col = F.im2col(x, K, stride=S, padding=P)          # (C·K·K, N·OH·OW): MACs = OC·|col|
    assert OC * int(np.prod(col.shape)) == 2 * conv2d_macs(C, OC, K, K, OH, OH)


def test_pool_ops_match_a_loop():
    C, H, K = 3, 6, 3
    OH = conv_output_side(H, K, K)
    adds = mults = compares = 0
    for _c, _i, _j in itertools.product(range(C), range(OH), range(OH)):
        adds += K * K - 1
        compares += K * K - 1
        mults += 1
    assert avg_pool2d_ops(C, OH, OH, K, K) == (adds, mults)
    assert max_pool2d_ops(C, OH, OH, K, K) == compares
    assert F.avg_pool2d(Tensor(np.zeros((1, C, H, H))), K).shape == (1, C, OH, OH)


# ---- firing rates -------------------------------------------------------------------------
def test_firing_rate_of_hand_made_spikes():
    s = np.zeros((2, 1, 2, 2, 2), np.float32)       # T=2, N=1, C=2, 2x2: 16 neurons-steps
    s[0, 0, 0, 0, 0] = s[0, 0, 1, 1, 1] = s[1, 0, 0, 1, 0] = s[1, 0, 1, 0, 1] = 1
    assert firing_rate(s) == 0.25 and firing_rate(Tensor(s)) == 0.25
    meter = RateMeter()
    assert meter.rates == {}
    meter.add({"lif": firing_rate(s)}, images=1)                       # 4 of 16
    meter.add({"lif": firing_rate(np.ones((2, 3, 2, 2, 2), np.float32))}, images=3)  # all
    assert meter.rates == {"lif": (0.25 + 3) / 4}     # weighted by size, not (0.25 + 1) / 2
    with pytest.raises(ValueError, match="spikes"):
        firing_rate(np.zeros(0))


def _small_net(T=3, **kw):
    return JointNet("resnet10", width=4, image_size=8, in_channels=1, T=T,
                    rng=np.random.default_rng(0), **kw)


def _images(n=6, seed=1):
    return Tensor(np.random.default_rng(seed).random((n, 1, 8, 8)).astype(np.float32))


def test_layer_rates_are_the_spikes_that_entered_each_layer():
    net, seen = _small_net(), {}
    twins = {id(m): n for n, m in net.twin_layers()}

    def grab(module, args, out):
        if id(module) in twins and args[1] == "snn":
            seen[twins[id(module)]] = args[0].data.copy()
    with observe(grab):
        rows = layer_table(net, _images())
    for r in rows[1:-1]:
        assert r.rate == pytest.approx(firing_rate(seen[r.name]), rel=1e-12)
        assert set(np.unique(seen[r.name])) <= {0.0, 1.0}
    stem, head = rows[0], rows[-1]
    assert stem.first and stem.rate is None and stem.name == "stem.unit.conv"
    assert stem.snn_adds == stem.snn_mults == 3 * stem.macs           # analog input, ×T
    lif = net.firing_rates()
    assert rows[1].rate == pytest.approx(lif["stem.lif"])
    assert head.name == "classifier" and head.rate == pytest.approx(lif["stages.3.units.0.lif2"])
    for r in rows[1:]:
        assert r.snn_mults == 0 and r.snn_adds == pytest.approx(3 * r.rate * r.macs)


def test_neurons_are_the_lif_layers():
    net, sizes = _small_net(), []
    lifs = {id(m) for _, m in net.lif_layers()}
    def grab(module, args, out):
        if id(module) in lifs:
            sizes.append(math.prod(out.shape[2:]))            # (T, N, C, H, W): per image, per step
    with observe(grab):
        rows = layer_table(net, _images(2))
    assert totals(rows)["neurons"] == sum(sizes) == 8 * 8 * 4 * 3 + 16 * 8 * 2 + 4 * 16 * 2 + 32 * 2


# ---- MAC counts: hand counts ------------------------------------------------------------
def test_cifar_resnet18_hand_count():
    stem = 3 * 64 * 9 * 32 * 32
    stage1 = 4 * 64 * 64 * 9 * 32 * 32
    later = [(C, 2 * C) for C in (64, 128, 256)]   # stages 2-4: side halves, channels double
    stages = [C * OC * 9 * s * s + 3 * OC * OC * 9 * s * s + C * OC * s * s
              for (C, OC), s in zip(later, (16, 8, 4))]
    count = resnet_mac_count()
    assert count["stem"] == stem and count["stage1"] == stage1
    assert [count[f"stage{i}"] for i in (2, 3, 4)] == stages
    assert count["total"] == stem + stage1 + sum(stages) + 512 * 10 == 555_422_720   # "0.56 G"
    imagenet = resnet_mac_count(image_size=224, stem_kernel=7, stem_stride=2, stem_pool=True,
                                num_classes=1000)
    assert imagenet["total"] == 1_814_073_344                                      # "1.8 G"


def test_measured_macs_of_resnet18_match_the_hand_count():
    net = JointNet("resnet18", width=64, image_size=32, in_channels=3, T=1, wft=False,
                   paths=("ann",), rng=np.random.default_rng(0))
    rows = layer_table(net, Tensor(np.zeros((1, 3, 32, 32), np.float32)))
    assert totals(rows)["macs"] == resnet_mac_count()["total"]
    assert totals(rows)["snn_adds"] is None                  # no SNN: no spike counts


def test_measured_macs_of_a_small_net_match_the_hand_count():
    rows = layer_table(_small_net(), _images(3))
    hand = resnet_mac_count(blocks=(1, 1, 1, 1), width=4, image_size=8, in_channels=1)
    assert sum(r.macs for r in rows) == hand["total"] == 4 * 9 * 64 + 2 * 16 * 9 * 64 + sum(
        C * 2 * C * 9 * s * s + 4 * C * C * 9 * s * s + 2 * C * C * s * s
        for C, s in ((4, 4), (8, 2), (16, 1))) + 32 * 10


def test_the_papers_187m_is_no_standard_resnet18():
    cands = macs_187m_candidates()
    ratios = dict((d, r) for d, _, r in cands)
    assert f"{ratios['CIFAR ResNet-18, w=64, 32x32 (standard)']:.2f}" == "2.97"
    assert all(abs(math.log(r)) > math.log(1.2) for r in ratios.values())   # none within 20%
    assert [abs(math.log(r)) for _, _, r in cands] == sorted(abs(math.log(r)) for _, _, r in cands)


# ---- data movement ------------------------------------------------------------------------
def test_movement_bits_and_energy():
    assert ann_movement_bits(10) == 2 * 32 * 10
    assert snn_movement_bits(10, T=2) == 2 * 2 * 33 * 10
    assert snn_movement_bits(10, T=2, moves=1) / ann_movement_bits(10) == 33 * 2 / 64
    assert movement_energy(64, 10e-12) == 10e-12 and movement_energy(640, 100e-12) == 1e-9


# ---- a trained checkpoint -----------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from minijoint.joint.config import TrainConfig
    from minijoint.joint.train import train
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(epochs=1, limit_train=64, limit_test=64, width=4), out_dir=str(out),
          log=lambda *a, **k: None)
    return out / "checkpoint.npz"


def test_energy_report_of_a_checkpoint(checkpoint):
    text = energy_report(str(checkpoint))
    assert "Table 5" in text and "Table 6" in text and "units slip" in text
    folder = checkpoint.parent
    assert (folder / "energy.md").read_text() == text
    rows = list(csv.DictReader(io.StringIO((folder / "energy.csv").read_text())))
    assert [r["method"] for r in rows] == ["ANN", "SNN (T=4)"]
    hand = resnet_mac_count(blocks=(1, 1, 1, 1), width=4, image_size=8, in_channels=1)["total"]
    ann, snn = ({k: float(v) for k, v in r.items() if k not in ("method", "model")} for r in rows)
    assert ann["adds"] == ann["mults"] == hand
    assert snn["mults"] == 4 * 1 * 4 * 9 * 64                  # the stem, at every step
    assert 0 < snn["adds"] < 4 * hand                          # rates lie in (0, 1)
    for r in (ann, snn):
        assert r["energy_J"] == pytest.approx(0.9e-12 * r["adds"] + 4.6e-12 * r["mults"], rel=1e-5)
        assert r["move_max_J"] == pytest.approx(10 * r["move_min_J"], rel=1e-5)
    assert snn["volume_MB"] / ann["volume_MB"] == pytest.approx(33 * 4 / 32)
    layers = list(csv.DictReader(io.StringIO((folder / "energy_layers.csv").read_text())))
    assert sum(int(r["macs"]) for r in layers) == hand


def test_energy_tables_measures_accuracy_and_batches(checkpoint):
    from minijoint.joint.train import evaluate_checkpoint
    t = energy_tables(str(checkpoint), batches=1)
    ev = evaluate_checkpoint(str(checkpoint))
    assert t.images == 64 and t.rows[0].acc == ev["ann_acc"] and t.rows[1].acc == ev["snn_acc"]
    assert t.lif_rates == pytest.approx(ev["rates"])
    assert t.ratio == pytest.approx(t.rows[0].energy / t.rows[1].energy)
    assert isinstance(t.rows[1], EnergyRow) and t.rows[1].volume_mb == t.rows[1].volume_bits / 8e6
    with pytest.raises(ValueError, match="batches"):
        energy_tables(str(checkpoint), batches=0)


def test_layer_table_refuses_a_plain_module():
    from minijoint.nn import Linear
    with pytest.raises(TypeError, match="JointNet"):
        layer_table(Linear(2, 3), _images())


@pytest.mark.gpu
def test_cupy_and_numpy_measure_the_same_counts():
    from minijoint import backend
    x = np.random.default_rng(1).random((6, 1, 8, 8))
    with backend.default_dtype(np.float64):
        ref = layer_table(_small_net(), Tensor(x))
        with backend.using_backend("cupy"):
            rows = layer_table(_small_net(), Tensor(backend.to_device(x)))
    assert [r.macs for r in rows] == [r.macs for r in ref]
    assert [r.neurons for r in rows] == [r.neurons for r in ref]
    for r, q in zip(rows[1:], ref[1:]):
        assert r.rate == pytest.approx(q.rate, abs=1e-2)       # a spike may flip at the threshold
    y = np.arange(6) % 3                                       # labels may stay on the host
    with backend.default_dtype(np.float64):
        want = measure(_small_net(), [(Tensor(x), y)])
        with backend.using_backend("cupy"):
            got = measure(_small_net(), [(Tensor(backend.to_device(x)), y)])
    assert (got["ann_acc"], got["snn_acc"]) == (want["ann_acc"], want["snn_acc"])
