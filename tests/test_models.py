"""The networks (Sections 4.2, 4.4): shapes, twin weights, per-path parts, the stem
shortcut, the frozen teacher, a smooth-mode gradient check, and input errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minijoint
from minijoint import Tensor
from minijoint import functional as F
from minijoint.models import JointNet, TwinBatchNorm2d, build_joint_net
from minijoint.nn import TwinConv2d
from minijoint.nn.spiking import fold_time, repeat_time, unfold_time
from minijoint.snn import lif
from minijoint.testing import gradcheck


def net(arch="resnet10", **kw):
    kw.setdefault("rng", np.random.default_rng(0))
    return JointNet(arch=arch, **kw)


def images(n, c, side, seed=0, dtype=np.float32):
    return Tensor(np.random.default_rng(seed).random((n, c, side, side)).astype(dtype))


# stage sides documented in resnet.py / vgg.py
SIDES = {("resnet10", 8): [8, 4, 2, 1], ("resnet18", 8): [8, 4, 2, 1],
         ("resnet34", 8): [8, 4, 2, 1], ("vgg16", 8): [2, 1, 1, 1],
         ("resnet10", 32): [32, 16, 8, 4], ("resnet18", 32): [32, 16, 8, 4],
         ("resnet34", 32): [32, 16, 8, 4], ("vgg16", 32): [8, 4, 2, 1],
         ("resnet10", 64): [32, 16, 8, 4]}


@pytest.mark.parametrize("arch,side", list(SIDES))
def test_output_shapes(arch, side):
    w = 2 if side == 64 else 4
    m = net(arch, num_classes=5, width=w, in_channels=3, image_size=side, T=2)
    out = m(images(2, 3, side))
    mult = [1, 2, 4, 8] if arch.startswith("resnet") else [2, 4, 8, 8]
    for logits, feats in [(out.ann_logits, out.ann_feats), (out.snn_logits, out.snn_feats)]:
        assert [z.shape for z in logits] == [(2, 5)] * 4
        assert [f.shape for f in feats] == [(2, k * w) for k in mult]
    for f in out.snn_feats:
        assert f.numpy().min() >= 0.0 and f.numpy().max() <= 1.0
    # the documented spatial sides are the real ones
    assert [s.size for s in m.stages] == SIDES[arch, side]
    h = m.stem.forward_ann(images(2, 3, side))
    for stage, size in zip(m.stages, SIDES[arch, side]):
        h = stage.forward_ann(h)
        assert h.shape[2:] == (size, size)


@settings(max_examples=8)
@given(arch=st.sampled_from(["resnet10", "vgg16"]), width=st.integers(1, 3),
       side=st.integers(8, 12), T=st.integers(1, 3), n=st.integers(2, 3),
       c=st.integers(1, 3), k=st.integers(1, 4), readout_mode=st.sampled_from(["mean", "sum"]))
def test_shapes_for_drawn_settings(arch, width, side, T, n, c, k, readout_mode):
    m = net(arch, num_classes=k, width=width, in_channels=c, image_size=side, T=T,
            readout_mode=readout_mode)
    out = m(images(n, c, side, seed=side))
    if arch == "resnet10":       # 3x3 convs, padding 1: a stride-2 stage maps S to ceil(S/2)
        sides = [side, (side + 1) // 2, (side + 3) // 4, (side + 7) // 8]
        chans = [width, 2 * width, 4 * width, 8 * width]
    else:                        # 2x2 pools (floor), none once the map is 1x1
        sides, s = [], side // 2
        for _ in range(4):
            s = s // 2 if s > 1 else s
            sides.append(s)
        chans = [2 * width, 4 * width, 8 * width, 8 * width]
    assert [st_.size for st_ in m.stages] == sides
    assert [z.shape for z in out.ann_logits + out.snn_logits] == [(n, k)] * 8
    assert [f.shape for f in out.snn_feats] == [(n, ch) for ch in chans]
    rates = np.concatenate([f.numpy().ravel() for f in out.snn_feats])
    assert rates.min() >= 0.0 and rates.max() <= 1.0
    # a rate is a count of spikes over T·H·W (exact multiples of 1/(T·H·W))
    f4 = out.snn_feats[3].numpy() * T * sides[3] ** 2
    np.testing.assert_allclose(f4, np.round(f4), atol=1e-4)


def test_resnet_layers_and_firing_rates():
    m = net("resnet18", width=4, T=3)
    names = [n for n, _ in m.lif_layers()]
    assert len(names) == 1 + 8 * 2                        # stem + two LIFs per block
    assert names[0].startswith("stem") and names[-1].endswith("lif2")
    m(images(4, 1, 8))
    rates = m.firing_rates()
    assert list(rates) == names
    assert all(0.0 <= r <= 1.0 for r in rates.values())
    # 2 convs per block, 3 shortcut convs (stages 2-4), the stem: 16 + 3 + 1
    assert len(m.twin_layers()) == 20


def test_snn_only_builds_no_ann_parts():
    m = net(paths=("snn",), wft=True)
    assert m.ann_heads is None
    assert all(bn.ann is None for bn in m.modules() if isinstance(bn, TwinBatchNorm2d))
    out = m(images(3, 1, 8))
    assert out.ann_logits is None and out.ann_feats is None and len(out.snn_logits) == 4
    assert all(layer.sigma_ann is None for _, layer in m.twin_layers())
    assert m.ann_parameters() == [] and len(m.snn_parameters()) == len(m.parameters())
    assert not any("sigma_ann" in k for k in m.state_dict())
    with pytest.raises(ValueError, match="not built"):
        m(images(3, 1, 8), paths=("ann",))


@pytest.mark.parametrize("wft", [True, False])
def test_twin_weights_equal_at_init(wft):
    m = net("vgg16", width=4, wft=wft)
    layers = m.twin_layers()
    assert len(layers) == 13
    for _, layer in layers:
        assert isinstance(layer, TwinConv2d) and layer.wft == wft
        np.testing.assert_allclose(layer.weight("ann").numpy(), layer.weight("snn").numpy(),
                                   rtol=1e-5, atol=1e-6)
    if not wft:
        assert all(layer.W_ann is not layer.W_snn for _, layer in layers)


@pytest.mark.parametrize("wft", [True, False])
def test_parameters_per_path(wft):
    m = net(width=4, wft=wft)
    ann, snn = m.ann_parameters(), m.snn_parameters()
    ann_ids, snn_ids = {id(p) for p in ann}, {id(p) for p in snn}
    assert ann_ids | snn_ids == {id(p) for p in m.parameters()}
    shared = ann_ids & snn_ids
    conv = m.stages[0].units[0].unit1.conv
    if wft:
        assert shared == {id(p) for _, t in m.twin_layers() for p in (t.U, t.Vh)}
        assert id(conv.sigma_ann) in ann_ids - snn_ids and id(conv.sigma_snn) in snn_ids - ann_ids
    else:
        assert shared == set()
    assert id(m.ann_heads[3].W) in ann_ids - snn_ids
    assert id(m.stem.unit.bn.snn.gamma) in snn_ids - ann_ids


def test_stem_once_equals_stem_run_T_times():
    T = 3
    m = net(width=4, T=T)
    x = images(4, 1, 8)
    once = m.stem.forward_snn(x, T)
    unit = m.stem.unit
    c = unfold_time(unit(fold_time(repeat_time(x, T)), "snn"), T)   # conv+BN on T copies
    every_step = lif(c, tau=0.25, v_th=0.5)
    np.testing.assert_allclose(once.numpy(), every_step.numpy(), atol=1e-6)
    assert once.shape == (T, 4, 4, 8, 8)


def test_block_snn_equals_per_step_computation():
    # with BN in eval mode (a per-sample affine map), folding T into the batch must equal
    # running conv/BN one step at a time: a wrong fold would scramble samples and steps
    m = net("resnet18", width=4, T=3).eval()
    block = m.stages[1].units[0]                        # stride 2, 1x1 conv shortcut
    s = Tensor((np.random.default_rng(1).random((3, 2, 4, 8, 8)) < 0.3).astype(np.float32))
    got = block.forward_snn(s)
    steps = [s[t] for t in range(3)]
    h1 = block.lif1(F.stack([block.unit1(st, "snn") for st in steps]))
    c2 = [block.unit2(h1[t], "snn") + block.shortcut(steps[t], "snn") for t in range(3)]
    want = block.lif2(F.stack(c2))
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert set(np.unique(got.numpy())) <= {0.0, 1.0}


def test_readout_sum_is_T_times_mean():
    m = net(width=4, T=3)
    x = images(2, 1, 8)
    mean = m(x, paths=("snn",)).snn_logits
    m.readout_mode = "sum"
    total = m(x, paths=("snn",)).snn_logits
    for a, b in zip(mean, total):
        np.testing.assert_allclose(b.numpy(), 3 * a.numpy(), rtol=1e-5, atol=1e-6)


def test_freeze_ann_is_a_frozen_teacher():
    m = net(width=4, wft=False)
    m.freeze_ann = True
    bn = m.stem.unit.bn.ann
    before = bn.running_mean.copy()
    out = m(images(4, 1, 8))
    assert not any(z.requires_grad for z in out.ann_logits)
    assert all(b.training for b in m.modules())          # eval mode was only temporary
    np.testing.assert_array_equal(bn.running_mean, before)
    sum(z.sum() for z in out.snn_logits).backward()
    assert all(p.grad is None for p in m.ann_parameters())
    assert all(p.grad is not None for p in m.snn_parameters())


def test_smooth_gradcheck_snn_logits():
    with minijoint.default_dtype(np.float64):
        m = net(width=2, num_classes=3, T=2, surrogate="sigmoid", paths=("snn",))
        x = images(2, 1, 8, dtype=np.float64)
    m.set_smooth(True)
    assert all(lif.smooth for _, lif in m.lif_layers())
    params = [m.stem.unit.conv.sigma_snn, m.stages[1].units[0].unit1.conv.U,
              m.stages[2].units[0].unit2.bn.snn.gamma, m.snn_heads[3].W]

    def fn(*_):
        z = m(x).snn_logits
        return z[0] + z[1] + z[2] + z[3]

    assert gradcheck(fn, *params) < 1e-4


@pytest.mark.parametrize("kw,match", [
    (dict(arch="resnet50"), "known models: resnet10, resnet18, resnet34, vgg16"),
    (dict(width=0), "width"), (dict(arch="vgg16", width=0), "width"),
    (dict(in_channels=0), "in_channels"), (dict(num_classes=0), "num_classes"),
    (dict(image_size=4), "image_size"), (dict(T=0), "T"), (dict(readout_mode="max"), "readout_mode"),
    (dict(paths=()), "paths"), (dict(paths=("cnn",)), "paths"), (dict(tau=1.5), "tau"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        net(**kw)


def test_bad_input_shape():
    m = net(width=4)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        m(images(2, 3, 8))
    with pytest.raises(ValueError, match="must have shape"):
        m(Tensor(np.zeros((1, 8, 8), np.float32)))


def test_build_joint_net_and_float32():
    m = build_joint_net("resnet10", width=4, rng=np.random.default_rng(0))
    out = m(images(2, 1, 8))
    assert all(z.dtype == np.float32 for z in out.ann_logits + out.snn_logits)


@pytest.mark.gpu
def test_cupy_matches_numpy():
    x = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
    ref = net(width=4)(Tensor(x))
    with minijoint.using_backend("cupy"):
        got = net(width=4)(Tensor(x))
    for a, b in zip(ref.ann_logits + ref.snn_feats, got.ann_logits + got.snn_feats):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
