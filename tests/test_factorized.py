"""Twin layers with factorized weights (Eqs. 11–13, docs/method.md §6) or separate ones: the
rebuild op, the init, the gradients of each path, one-path layers and the errors. Their
parameter counts and singular values: tests/test_twin_summaries.py."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minijoint
from minijoint import Tensor, default_dtype, nn
from minijoint.nn import TwinConv2d, TwinLinear, count_parameters, init, rebuild_weight
from minijoint.testing import gradcheck


# ---- strategies: valid configurations by construction ------------------------------------
@st.composite
def channels(draw):
    """(C, OC) with C < OC, C == OC or C > OC, each case drawn explicitly."""
    a = draw(st.integers(1, 3))
    b = draw(st.integers(a + 1, 4))
    return draw(st.sampled_from([(a, b), (b, a), (a, a)]))


@st.composite
def conv_configs(draw):
    C, OC = draw(channels())
    k = draw(st.sampled_from([1, 3]))
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    lo = max(1, k - 2 * pad)                       # smallest H with H + 2·pad ≥ k
    H, W = draw(st.integers(lo, lo + 3)), draw(st.integers(lo, lo + 3))
    return dict(C=C, OC=OC, k=k, stride=stride, pad=pad, H=H, W=W,
                N=draw(st.integers(1, 2)), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


def make_conv(cfg, wft=True):
    return TwinConv2d(cfg["C"], cfg["OC"], cfg["k"], stride=cfg["stride"], padding=cfg["pad"],
                      bias=cfg["bias"], wft=wft, rng=np.random.default_rng(cfg["seed"]))


def kaiming_conv(cfg):
    """The Kaiming draw a conv layer built from ``cfg`` starts from (same seed)."""
    C, OC, k = cfg["C"], cfg["OC"], cfg["k"]
    return init.kaiming_normal((OC, C, k, k), fan_in=C * k * k,
                               rng=np.random.default_rng(cfg["seed"])).copy()


def conv_input(cfg, rng):
    return rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))


def params_of(layer):
    return [p for _, p in layer.named_parameters()]


# ---- the rebuild op ---------------------------------------------------------------------------
@settings(max_examples=20)
@given(B=st.sampled_from([(), (1,), (3,), (2, 3)]), OC=st.integers(1, 4), C=st.integers(1, 4),
       r=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_rebuild_weight_forward_and_gradcheck(B, OC, C, r, seed):
    rng = np.random.default_rng(seed)
    U, s, Vh = (rng.standard_normal(B + (OC, r)), rng.standard_normal(B + (r,)),
                rng.standard_normal(B + (r, C)))
    W = rebuild_weight(Tensor(U), Tensor(s), Tensor(Vh)).numpy()
    np.testing.assert_allclose(W, np.einsum("...ok,...k,...kc->...oc", U, s, Vh), atol=1e-12)
    gradcheck(rebuild_weight, U, s, Vh)  # raises GradcheckError on mismatch


def test_rebuild_weight_backward_is_the_spec_formula(rng):
    P, OC, C, r = 4, 5, 3, 3
    U, s = rng.standard_normal((P, OC, r)), rng.standard_normal((P, r))
    Vh = rng.standard_normal((P, r, C))
    G = rng.standard_normal((P, OC, C))
    tU, ts, tVh = (Tensor(a, requires_grad=True) for a in (U, s, Vh))
    rebuild_weight(tU, ts, tVh).backward(G)
    for p in range(P):
        Vt, S = Vh[p].T, np.diag(s[p])
        np.testing.assert_allclose(tU.grad[p], G[p] @ Vt @ S, atol=1e-12)              # ḡU
        np.testing.assert_allclose(tVh.grad[p], S @ U[p].T @ G[p], atol=1e-12)         # ḡVh
        np.testing.assert_allclose(ts.grad[p], np.diag(U[p].T @ G[p] @ Vt), atol=1e-12)  # ḡσ


# ---- initialisation: the rebuild gives back the Kaiming weight --------------------------------
@settings(max_examples=20)
@given(cfg=conv_configs())
def test_conv_rebuild_at_init_equals_kaiming_weight(cfg):
    with default_dtype(np.float64):
        layer, W0 = make_conv(cfg), kaiming_conv(cfg)
    r, k = min(cfg["C"], cfg["OC"]), cfg["k"]
    assert layer.U.shape == (k, k, cfg["OC"], r) and layer.Vh.shape == (k, k, r, cfg["C"])
    assert layer.sigma_ann.shape == layer.sigma_snn.shape == (k, k, r)
    np.testing.assert_array_equal(layer.sigma_ann.numpy(), layer.sigma_snn.numpy())
    for path in ("ann", "snn"):
        np.testing.assert_allclose(layer.weight(path).numpy(), W0, rtol=0, atol=1e-12)


@settings(max_examples=10)
@given(CO=channels(), seed=st.integers(0, 2**16))
def test_linear_rebuild_at_init_equals_kaiming_weight_float32(CO, seed):
    (C, OC) = CO
    layer = TwinLinear(C, OC, rng=np.random.default_rng(seed))
    W0 = init.kaiming_normal((OC, C), fan_in=C, rng=np.random.default_rng(seed))
    assert layer.U.shape == (OC, min(C, OC)) and layer.Vh.shape == (min(C, OC), C)
    for path in ("ann", "snn"):
        W = layer.weight(path)
        assert W.dtype == np.float32
        np.testing.assert_allclose(W.numpy(), W0, rtol=0, atol=1e-6)


def test_reshape_instead_of_permute_would_scramble_the_weight(rng):
    """docs/method.md §6: the permutation matters; rebuilding and then *reshaping* (KH, KW, OC, C)
    to (OC, C, KH, KW) does not give the initial weight back."""
    with default_dtype(np.float64):
        layer = TwinConv2d(3, 4, 3, rng=np.random.default_rng(5))
        W0 = init.kaiming_normal((4, 3, 3, 3), fan_in=27, rng=np.random.default_rng(5))
    stacked = rebuild_weight(layer.U, layer.sigma_ann, layer.Vh).numpy()      # (KH, KW, OC, C)
    np.testing.assert_allclose(stacked.transpose(2, 3, 0, 1), W0, atol=1e-12)
    assert np.abs(stacked.reshape(4, 3, 3, 3) - W0).max() > 0.1


# ---- gradients of the layers --------------------------------------------------------------------
@settings(max_examples=20)
@given(cfg=conv_configs(), path=st.sampled_from(["ann", "snn"]))
def test_factorized_conv_gradcheck(cfg, path):
    with default_dtype(np.float64):
        layer = make_conv(cfg)
    x = conv_input(cfg, np.random.default_rng(cfg["seed"]))
    fn = lambda x, *params: layer(x, path)  # noqa: E731 - params are read through the layer
    gradcheck(fn, x, *params_of(layer), seed=cfg["seed"])  # raises GradcheckError on mismatch


@settings(max_examples=20)
@given(CO=channels(), N=st.integers(1, 3), bias=st.booleans(),
       path=st.sampled_from(["ann", "snn"]), seed=st.integers(0, 2**16))
def test_factorized_linear_gradcheck(CO, N, bias, path, seed):
    (C, OC) = CO
    with default_dtype(np.float64):
        layer = TwinLinear(C, OC, bias=bias, rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed).standard_normal((N, C))
    fn = lambda x, *params: layer(x, path)  # noqa: E731
    gradcheck(fn, x, *params_of(layer), seed=seed)  # raises GradcheckError on mismatch


@pytest.mark.parametrize("make", [
    lambda: TwinConv2d(2, 3, 3, padding=1, bias=True, wft=False, rng=np.random.default_rng(0)),
    lambda: TwinLinear(3, 2, wft=False, rng=np.random.default_rng(0))])
@pytest.mark.parametrize("path", ["ann", "snn"])
def test_separate_twin_gradcheck(make, path):
    with default_dtype(np.float64):
        layer = make()
    shape = (2, 2, 4, 4) if isinstance(layer, TwinConv2d) else (2, 3)
    x = np.random.default_rng(1).standard_normal(shape)
    gradcheck(lambda x, *ps: layer(x, path), x, *params_of(layer))  # raises on a mismatch


def _grads(layer, x, gys, paths):
    """Gradients of Σ_path ⟨layer(x, path), gy_path⟩ for the given paths, by name."""
    layer.zero_grad()
    terms = [layer(x, p) * Tensor(gys[p]) for p in paths]
    (terms[0] if len(terms) == 1 else terms[0] + terms[1]).sum().backward()
    return {n: None if p.grad is None else p.grad.copy() for n, p in layer.named_parameters()}


@pytest.mark.parametrize("make", [
    lambda: TwinConv2d(3, 5, 3, padding=1, bias=True, rng=np.random.default_rng(2)),
    lambda: TwinLinear(4, 3, rng=np.random.default_rng(2))])
def test_each_sigma_gets_only_its_path_and_U_Vh_get_the_sum(make, rng):
    with default_dtype(np.float64):
        layer = make()
        conv = isinstance(layer, TwinConv2d)
        x = Tensor(rng.standard_normal((2, 3, 5, 5) if conv else (2, 4)))
    out = layer(x, "ann").shape
    gys = {p: rng.standard_normal(out) for p in ("ann", "snn")}
    g_ann, g_snn = _grads(layer, x, gys, ["ann"]), _grads(layer, x, gys, ["snn"])
    g_both = _grads(layer, x, gys, ["ann", "snn"])
    assert g_ann["sigma_snn"] is None and g_ann["bias_snn"] is None
    assert g_snn["sigma_ann"] is None and g_snn["bias_ann"] is None
    assert np.abs(g_ann["sigma_ann"]).max() > 0 and np.abs(g_snn["sigma_snn"]).max() > 0
    for name in ("U", "Vh"):
        np.testing.assert_allclose(g_both[name], g_ann[name] + g_snn[name], atol=1e-12)
    for path in ("ann", "snn"):
        one = g_ann if path == "ann" else g_snn
        np.testing.assert_allclose(g_both[f"sigma_{path}"], one[f"sigma_{path}"], atol=1e-12)
        np.testing.assert_allclose(g_both[f"bias_{path}"], one[f"bias_{path}"], atol=1e-12)


def test_paths_differ_once_the_singular_values_do(rng):
    layer = TwinLinear(4, 3, rng=np.random.default_rng(0))
    x = Tensor(rng.standard_normal((2, 4)).astype(np.float32))
    np.testing.assert_array_equal(layer(x, "ann").numpy(), layer(x, "snn").numpy())
    layer.sigma_snn.data[0] += 1.0
    assert np.abs(layer(x, "ann").numpy() - layer(x, "snn").numpy()).max() > 1e-3
    y = layer(x, "snn")
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(layer.__dict__[n].grad.dtype == np.float32 for n in ("U", "Vh", "sigma_snn"))


# ---- the separate-weights twin ------------------------------------------------------------------
@settings(max_examples=10)
@given(cfg=conv_configs())
def test_separate_twin_starts_from_the_same_weights(cfg):
    with default_dtype(np.float64):
        fact, sep = make_conv(cfg), make_conv(cfg, wft=False)
        plain = nn.Conv2d(cfg["C"], cfg["OC"], cfg["k"], rng=np.random.default_rng(cfg["seed"]))
    x = Tensor(conv_input(cfg, np.random.default_rng(0)))
    for path in ("ann", "snn"):
        np.testing.assert_array_equal(sep.weight(path).numpy(), plain.W.numpy())
        np.testing.assert_allclose(fact.weight(path).numpy(), sep.weight(path).numpy(), atol=1e-12)
        np.testing.assert_allclose(fact(x, path).numpy(), sep(x, path).numpy(), atol=1e-10)


def test_separate_twin_has_the_same_interface_and_independent_copies():
    fact = TwinConv2d(2, 3, 3, padding=1, bias=True, wft=True, rng=np.random.default_rng(0))
    sep = TwinConv2d(2, 3, 3, padding=1, bias=True, wft=False, rng=np.random.default_rng(0))
    assert fact.wft and isinstance(fact, nn.TwinLayer)
    assert not sep.wft and isinstance(sep, nn.TwinLayer)
    assert [n for n, _ in fact.named_parameters()] == ["U", "Vh", "sigma_ann", "sigma_snn",
                                                        "bias_ann", "bias_snn"]
    assert [n for n, _ in sep.named_parameters()] == ["W_ann", "W_snn", "bias_ann", "bias_snn"]
    for layer in (fact, sep):
        assert layer.weight("ann").shape == (3, 2, 3, 3) and layer.bias("snn").shape == (3,)
        assert layer.geometry() == (2, 3, 3, 3)
    sep.W_ann.data[...] += 1.0                     # an update of one path leaves the other
    assert np.abs(sep.W_ann.numpy() - sep.W_snn.numpy()).min() == pytest.approx(1.0)
    lin = TwinLinear(3, 2, wft=False, rng=np.random.default_rng(0))
    assert not lin.wft and lin.weight("snn").shape == (2, 3)
    assert TwinLinear(3, 2).wft


@pytest.mark.parametrize("wft, names", [(True, ["U", "Vh", "sigma_snn", "bias_snn"]),
                                         (False, ["W_snn", "bias_snn"])])
def test_a_one_path_layer_holds_nothing_of_the_other(wft, names):
    layer = TwinConv2d(2, 3, 3, padding=1, bias=True, wft=wft, paths=("snn",),
                       rng=np.random.default_rng(0))
    assert [n for n, _ in layer.named_parameters()] == names
    assert list(layer.path_parameters("snn")) == names
    x = Tensor(np.ones((1, 2, 4, 4), np.float32))
    assert layer(x, "snn").shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="'ann' was not built"):
        layer(x, "ann")


# ---- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("build, match", [
    (lambda: TwinConv2d(0, 4, 3), "in_channels"),
    (lambda: TwinConv2d(4, -1, 3, wft=False), "out_channels"),
    (lambda: TwinConv2d(4, 4, 0), "kernel_size"),
    (lambda: TwinConv2d(4, 4, 3, stride=0), "stride"),
    (lambda: TwinConv2d(4, 4, 3, padding=-1), "padding"),
    (lambda: TwinLinear(0, 3), "in_features"),
    (lambda: TwinLinear(3, -2, wft=False), "out_features")])
def test_bad_sizes_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("layer", [TwinLinear(3, 2), TwinLinear(3, 2, wft=False)])
def test_unknown_path_is_named_in_the_error(layer):
    x = Tensor(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="'ANN'"):
        layer(x, "ANN")
    with pytest.raises(ValueError, match="'both'"):
        layer.weight("both")


def test_bad_inputs_raise():
    conv = TwinConv2d(2, 3, 5, padding=1)
    with pytest.raises(ValueError, match=r"kernel 5×5 is larger than the padded input 4×6"):
        conv(Tensor(np.ones((1, 2, 2, 4), np.float32)), "snn")
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        conv(Tensor(np.ones((1, 3, 8, 8), np.float32)), "ann")
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        TwinLinear(3, 2)(Tensor(np.ones((1, 4), np.float32)), "ann")
    with pytest.raises(TypeError, match="wft"):
        TwinConv2d(2, 3, 3, wft="yes")
    with pytest.raises(ValueError, match="sigma"):
        rebuild_weight(np.ones((3, 2)), np.ones(3), np.ones((2, 4)))
    with pytest.raises(TypeError, match="Module"):
        count_parameters([TwinLinear(3, 2)])


# ---- GPU -----------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_cupy_matches_numpy(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    gy = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    results = []
    for name in ("numpy", "cupy"):
        with minijoint.using_backend(name):
            layer = TwinConv2d(3, 4, 3, padding=1, bias=True, rng=np.random.default_rng(7))
            y = layer(Tensor(x), "snn")
            y.backward(gy)
            results.append([y.numpy()] + [minijoint.to_host(p.grad) for p in
                                          (layer.U, layer.Vh, layer.sigma_snn)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
