"""The joint loss (Eqs. 7-10), its stop-gradient, the modes of Table 4, and a float64
gradient check of a tiny joint network's total loss."""
import numpy as np
import pytest

import minijoint
from minijoint import Tensor
from minijoint.joint import JointLoss, MODES, get_mode
from minijoint.models import JointNet
from minijoint.snn.surrogate import Sigmoid
from minijoint.testing import gradcheck


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_joint_loss_equals_hand_computation():
    rng = np.random.default_rng(0)
    N, K, C = 3, 4, 5
    za = [rng.standard_normal((N, K)) for _ in range(4)]
    zs = [rng.standard_normal((N, K)) for _ in range(4)]
    fa = [rng.uniform(0, 3, (N, C)) for _ in range(4)]
    fs = [rng.uniform(0, 1, (N, C)) for _ in range(4)]
    y = np.array([0, 3, 1])
    kappa, l1, l2 = 2.0, 0.7, 0.3
    total, parts = JointLoss(l1, l2, kappa)([Tensor(a) for a in za], [Tensor(s) for s in zs],
                                           [Tensor(a) for a in fa], [Tensor(s) for s in fs], y)
    ce = sum(-_log_softmax(z)[np.arange(N), y].mean() for z in za + zs)          # Eq. 7
    kld = 0.0
    for a, s in zip(za, zs):                                                      # Eq. 8
        lp, lq = _log_softmax(a / kappa), _log_softmax(s / kappa)
        kld += kappa ** 2 * (np.exp(lp) * (lp - lq)).sum(axis=1).mean()
    norm = sum(((a - s) ** 2).sum(axis=1).mean() for a, s in zip(fa, fs))        # Eq. 9
    assert parts["ce"] == pytest.approx(ce, rel=1e-12)
    assert parts["kld"] == pytest.approx(kld, rel=1e-12)
    assert parts["norm"] == pytest.approx(norm, rel=1e-12)
    assert float(total.data) == pytest.approx(ce + l1 * kld + l2 * norm, rel=1e-12)  # Eq. 10


def test_final_branch_only_and_no_ann():
    rng = np.random.default_rng(1)
    zs = [Tensor(rng.standard_normal((2, 3))) for _ in range(4)]
    y = np.array([1, 2])
    _, parts = JointLoss(all_branches=False)(None, zs, None, None, y)
    expected = -_log_softmax(zs[-1].data)[np.arange(2), y].mean()
    assert parts["ce"] == pytest.approx(expected)
    assert set(parts) == {"ce", "ce_snn"}  # not computed: absent, never a measured 0


def test_joint_loss_rejects_bad_settings():
    with pytest.raises(ValueError, match="lambda"):
        JointLoss(lambda_kld=-1)
    with pytest.raises(ValueError, match="temperature"):
        JointLoss(temperature=0)
    with pytest.raises(ValueError, match="4 branch"):
        JointLoss()(None, [Tensor(np.zeros((1, 2)))], None, None, np.array([0]))


def _tiny(wft, dtype=np.float64, **kw):
    with minijoint.default_dtype(dtype):
        return JointNet("resnet10", num_classes=3, width=2, in_channels=1, image_size=8, T=2,
                        wft=wft, surrogate=Sigmoid(), rng=np.random.default_rng(0), **kw)


def _batch(n=4):
    rng = np.random.default_rng(2)
    return Tensor(rng.uniform(0, 1, (n, 1, 8, 8))), np.arange(n) % 3


def _grads(model, loss_fn):
    x, y = _batch()
    model.zero_grad()
    out = model(x)
    total, _ = loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats, y)
    total.backward()
    return {n: p.grad.copy() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("wft", [False, True])
def test_stop_gradient_ann_gradients_ignore_lambdas(wft):
    """docs/method.md §5: the ANN gets no gradient from L_KLD or L_Norm; the SNN does."""
    model = _tiny(wft)
    g0 = _grads(model, JointLoss(0.0, 0.0))
    g1 = _grads(model, JointLoss(1.0, 0.3))
    ann = {n for n, p in model.named_parameters() if id(p) in {id(q) for q in model.ann_parameters()}}
    snn_only = {n for n, p in model.named_parameters()
                if id(p) in {id(q) for q in model.snn_parameters()}} - ann
    shared = {n for n in ann if id(dict(model.named_parameters())[n]) in
              {id(q) for q in model.snn_parameters()}}
    for n in ann - shared:
        np.testing.assert_array_equal(g0[n], g1[n], err_msg=n)
    assert snn_only and all(not np.array_equal(g0[n], g1[n]) for n in snn_only if "heads.0" in n or "sigma" in n)
    assert any(not np.array_equal(g0[n], g1[n]) for n in snn_only)
    if wft:  # shared U, Vh carry the SNN's distillation gradient too
        assert shared and any(not np.array_equal(g0[n], g1[n]) for n in shared)
    else:
        assert not shared


def test_gradcheck_total_loss_with_ann_targets_held_fixed():
    """docs/method.md §5: finite differences of L with the ANN's logits and features held at their
    current values in the distillation terms match backprop for every kind of parameter."""
    model = _tiny(wft=True)
    model.set_smooth(True)
    x, y = _batch()
    with minijoint.no_grad():
        ref = model(x)
    fixed_logits = [Tensor(z.data.copy()) for z in ref.ann_logits]
    fixed_feats = [Tensor(f.data.copy()) for f in ref.ann_feats]
    ce_ann = JointLoss(0.0, 0.0)
    distill = JointLoss(1.0, 0.3, temperature=2.0, ann_ce=False)

    def held(*_):
        out = model(x)
        a, _ = ce_ann(out.ann_logits, None, None, None, y)
        b, _ = distill(fixed_logits, out.snn_logits, fixed_feats, out.snn_feats, y)
        return a + b

    params = dict(model.named_parameters())
    picks = ["stem.unit.conv.U", "stem.unit.conv.Vh", "stem.unit.conv.sigma_snn", "stem.unit.conv.sigma_ann",
             "ann_heads.1.W", "snn_heads.3.W"]
    picks += [n for n in params if n.endswith("bn.snn.gamma")][:1]
    picks += [n for n in params if "stages.2" in n and n.endswith(".U")][:1]
    assert all(n in params for n in picks), sorted(params)
    gradcheck(held, *[params[n] for n in picks], max_elements=24, n_samples=8, n_directions=2,
              rtol=1e-4, atol=1e-8)
    # ...and that function's backprop is exactly the real loss's backprop
    g_real = _grads(model, JointLoss(1.0, 0.3, temperature=2.0))
    model.zero_grad()
    held().backward()
    for n in picks:
        np.testing.assert_allclose(params[n].grad, g_real[n], rtol=1e-10, atol=1e-14, err_msg=n)


def test_modes_build_the_right_networks_and_losses():
    assert set(MODES) == {"ann", "snn", "kd", "joint-ce-kld", "joint-ce-kld-norm", "wft", "full"}
    snn = get_mode("snn")
    model = _tiny(snn.wft, paths=snn.paths)
    out = model(_batch()[0])
    assert out.ann_logits is None and model.ann_parameters() == [] and len(out.snn_logits) == 4
    for name in ("wft", "full"):
        m = _tiny(get_mode(name).wft)
        assert all(layer.wft for _, layer in m.twin_layers())
    for name in ("snn", "kd", "joint-ce-kld", "joint-ce-kld-norm"):
        m = _tiny(get_mode(name).wft, paths=get_mode(name).paths)
        assert not any(layer.wft for _, layer in m.twin_layers())
    loss = {n: MODES[n].loss() for n in MODES}
    assert loss["full"].lambda_kld == 1 and loss["full"].lambda_norm == 0.3 and loss["full"].all_branches
    assert loss["joint-ce-kld"].lambda_norm == 0 and loss["joint-ce-kld"].all_branches
    assert loss["wft"].lambda_kld == 0 and loss["wft"].lambda_norm == 0 and not loss["wft"].all_branches
    assert loss["kd"].lambda_kld == 1 and not loss["kd"].ann_ce and not loss["kd"].all_branches
    with pytest.raises(ValueError, match="unknown mode 'bogus'"):
        get_mode("bogus")


def test_kd_teacher_is_frozen():
    model = _tiny(False)
    model.freeze_ann = True
    _grads(model, get_mode("kd").loss())
    assert all(p.grad is None for p in model.ann_parameters())
    side_heads = {id(p) for h in model.snn_heads[:3] for p in h.parameters()}  # kd: final branch only
    assert all((p.grad is None) == (id(p) in side_heads) for p in model.snn_parameters())


@pytest.mark.gpu
def test_joint_step_numpy_and_cupy_agree():
    """One full-mode step (forward, Eqs. 7-10, backward) gives the same loss and gradients."""
    loss_fn = get_mode("full").loss()
    ref = _grads(_tiny(True), loss_fn)
    with minijoint.using_backend("cupy"):
        gpu = _grads(_tiny(True), loss_fn)
    assert ref.keys() == gpu.keys()
    for n in ref:
        np.testing.assert_allclose(minijoint.to_host(gpu[n]), ref[n], rtol=1e-7, atol=1e-10, err_msg=n)
