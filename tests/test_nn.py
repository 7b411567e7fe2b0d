"""Module bookkeeping (names, buffers, checkpoints, modes), the layers, and initialization."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minijoint
import minijoint.nn as nn
from minijoint import Tensor
from minijoint.nn import init
from minijoint.testing import gradcheck


class Block(nn.Module):
    def __init__(self, c, rng=None):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn1(self.conv1(x)))


class Net(nn.Module):
    def __init__(self, rng=None):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, rng=rng)
        self.blocks = [Block(4, rng), Block(4, rng)]
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(4, 3, rng=rng)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.fc(self.pool(x))


NET_PARAMS = ["stem.W", "stem.b",
              "blocks.0.conv1.W", "blocks.0.bn1.gamma", "blocks.0.bn1.beta",
              "blocks.1.conv1.W", "blocks.1.bn1.gamma", "blocks.1.bn1.beta",
              "fc.W", "fc.b"]
NET_BUFFERS = [f"blocks.{i}.bn1.{k}" for i in (0, 1) for k in ("running_mean", "running_var")]


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- names, order, buffers --------------------------------------------------------------
def test_named_parameters_nested_names_in_definition_order():
    net = Net(rng())
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert [n for n, _ in net.named_buffers()] == NET_BUFFERS
    assert net.parameters()[0] is net.stem.W
    assert net.num_parameters() == 4 * 9 + 4 + 2 * (16 * 9 + 8) + 12 + 3


def test_definition_order_interleaves_parameters_and_modules():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(np.zeros(1))
            self.inner = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))
            self.z = nn.Parameter(np.zeros(2))
    assert [n for n, _ in M().named_parameters()] == ["a", "inner.0.W", "inner.0.b",
                                                       "inner.2.W", "z"]


def test_shared_parameter_and_module_listed_once():
    lin = nn.Linear(2, 2)

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = lin, nn.Sequential(lin, nn.ReLU())
            self.tied = lin.W
    names = [n for n, _ in Twin().named_parameters()]
    assert names == ["left.W", "left.b"]


def test_buffer_stays_registered_after_reassignment():
    bn = nn.BatchNorm1d(3)
    bn.running_mean = np.full(3, 7.0, dtype=np.float32)
    assert np.array_equal(bn.state_dict()["running_mean"], [7.0, 7.0, 7.0])
    with pytest.raises(TypeError, match="raw array"):
        bn.register_buffer("x", Tensor(np.zeros(2)))


def test_parameter_copies_its_data():
    a = np.ones(3)
    p = nn.Parameter(a)
    p.data -= 1.0
    assert a.tolist() == [1.0, 1.0, 1.0] and p.requires_grad


# ---- state_dict / load_state_dict -------------------------------------------------------
def test_state_dict_round_trip_with_bn_buffers():
    src, dst = Net(rng(0)), Net(rng(1))
    for _, buf in src.named_buffers():
        buf[...] = rng(2).uniform(0.5, 2.0, buf.shape)
    state = src.state_dict()
    assert list(state) == NET_PARAMS + NET_BUFFERS
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert not np.array_equal(dst.state_dict()["fc.W"], state["fc.W"])
    bn_mean = dst.blocks[0].bn1.running_mean
    dst.load_state_dict(state)
    for k, v in dst.state_dict().items():
        assert np.array_equal(v, state[k]), k
    assert dst.blocks[0].bn1.running_mean is bn_mean  # copied in place


def test_state_dict_is_a_copy():
    lin = nn.Linear(2, 2)
    lin.state_dict()["W"][...] = 42.0
    assert not np.any(lin.W.numpy() == 42.0)


def test_load_state_dict_missing_and_unexpected_keys():
    net = Net(rng())
    state = net.state_dict()
    del state["fc.b"]
    state["fc.bias"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing keys \['fc.b'\].*unexpected keys \['fc.bias'\]"):
        net.load_state_dict(state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["fc.b"] and unexpected == ["fc.bias"]


def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_changes_nothing():
    net = Net(rng())
    before = net.state_dict()
    state = Net(rng(5)).state_dict()
    state["fc.W"] = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"'fc.W' expects shape \(3, 4\), got \(3, 5\)"):
        net.load_state_dict(state)
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# ---- modes and gradients ----------------------------------------------------------------
def test_train_eval_propagate_to_nested_modules():
    net = Net(rng())
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert not net.blocks[1].bn1.training
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_clears_every_parameter():
    net = Net(rng())
    for p in net.parameters():
        p.grad = np.ones(p.shape, dtype=p.dtype)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_repr_lists_submodules():
    text = repr(Net(rng()))
    assert "(blocks.1): Block(" in text and "(conv1): Conv2d(4, 4, kernel_size=(3, 3)" in text
    assert "(fc): Linear(4, 3, bias=True)" in text


# ---- layers -----------------------------------------------------------------------------
@settings(max_examples=15)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=3), n_in=st.integers(1, 5),
       n_out=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_linear_shape_and_value(lead, n_in, n_out, seed):
    lin = nn.Linear(n_in, n_out, rng=rng(seed))
    lin.b.data[...] = rng(seed + 1).standard_normal(n_out)
    x = rng(seed + 2).standard_normal((*lead, n_in)).astype(np.float32)
    y = lin(Tensor(x))
    assert y.shape == (*lead, n_out) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x @ lin.W.numpy().T + lin.b.numpy(), rtol=1e-5, atol=1e-5)


@settings(max_examples=15)
@given(N=st.integers(1, 2), C=st.integers(1, 3), OC=st.integers(1, 3), K=st.integers(1, 3),
       S=st.integers(1, 2), P=st.integers(0, 1), extra=st.integers(0, 3))
def test_conv2d_output_shape(N, C, OC, K, S, P, extra):
    H = W = K + extra
    conv = nn.Conv2d(C, OC, K, stride=S, padding=P)
    y = conv(Tensor(np.zeros((N, C, H, W), dtype=np.float32)))
    OH = (H + 2 * P - K) // S + 1
    assert y.shape == (N, OC, OH, OH)
    assert conv.W.shape == (OC, C, K, K) and conv.b.shape == (OC,)


def test_batchnorm_eval_uses_running_stats_and_train_updates_them():
    bn = nn.BatchNorm2d(3, momentum=0.5)
    bn.gamma.data[...] = [1.0, 2.0, 0.5]
    bn.beta.data[...] = [0.0, -1.0, 3.0]
    bn.running_mean[...] = [0.5, -1.0, 2.0]
    bn.running_var[...] = [4.0, 1.0, 0.25]
    x = rng().standard_normal((4, 3, 2, 2)).astype(np.float32)
    bn.eval()
    y = bn(Tensor(x)).numpy()
    c = (slice(None), None, None)
    expected = (bn.gamma.numpy()[c] * (x - bn.running_mean[c]) / np.sqrt(bn.running_var[c] + 1e-5)
                + bn.beta.numpy()[c])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert bn.running_mean.tolist() == [0.5, -1.0, 2.0]  # eval leaves them alone
    bn.train()
    y = bn(Tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), bn.beta.numpy(), atol=1e-5)
    np.testing.assert_allclose(bn.running_mean, 0.5 * np.array([0.5, -1.0, 2.0])
                               + 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)


def test_batchnorm1d_shape():
    bn = nn.BatchNorm1d(5)
    assert bn(Tensor(rng().standard_normal((7, 5)).astype(np.float32))).shape == (7, 5)
    with pytest.raises(ValueError, match=r"BatchNorm1d.*got shape \(7, 5, 1\)"):
        bn(Tensor(np.zeros((7, 5, 1), dtype=np.float32)))


def test_pool_flatten_relu_layers():
    x = Tensor(np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4) - 16)
    assert nn.MaxPool2d(2)(x).numpy()[0, 0].tolist() == [[-11, -9], [-3, -1]]
    assert nn.AvgPool2d(2)(x).numpy()[0, 0].tolist() == [[-13.5, -11.5], [-5.5, -3.5]]
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(x).numpy(), [[-8.5, 7.5]])
    assert nn.Flatten()(x).shape == (1, 32)
    assert nn.ReLU()(x).numpy().min() == 0.0


def test_small_network_gradients_float64():
    with minijoint.default_dtype(np.float64):
        net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=rng(1)), nn.BatchNorm2d(3),
                            nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 2, rng=rng(2)))
    x = rng(3).standard_normal((3, 2, 4, 4))
    params = net.parameters()
    # the ReLU kink is crossed by an ε-perturbation only with negligible probability here
    gradcheck(lambda x, *ps: net(x), x, *params, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Linear(0, 3), "in_features must be a positive integer, got 0"),
    (lambda: nn.Linear(3, 2.5), "out_features"),
    (lambda: nn.Conv2d(3, 4, 0), "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3, stride=0), "stride"),
    (lambda: nn.Conv2d(3, 4, 3, padding=-1), "padding"),
    (lambda: nn.BatchNorm2d(-1), "num_features"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), "momentum"),
    (lambda: nn.MaxPool2d(2, padding=2), "padding"),
])
def test_constructor_arguments_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_layers_reject_wrong_input_shapes():
    with pytest.raises(ValueError, match=r"Linear\(4, 3.*\(\.\.\., 4\), got shape \(2, 5\)"):
        nn.Linear(4, 3)(Tensor(np.zeros((2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d\(3, .*got shape \(2, 4, 5, 5\)"):
        nn.Conv2d(3, 4, 3)(Tensor(np.zeros((2, 4, 5, 5), dtype=np.float32)))


# ---- initialization ---------------------------------------------------------------------
@pytest.mark.parametrize("fan_in", [9, 100, 576])
def test_kaiming_normal_std(fan_in):
    w = init.kaiming_normal((200, 500), fan_in=fan_in, rng=rng())
    assert w.dtype == np.float32
    assert abs(float(w.std()) / math.sqrt(2 / fan_in) - 1) < 0.05
    assert abs(float(w.mean())) < 0.05 * math.sqrt(2 / fan_in)


def test_kaiming_uniform_bound_and_std():
    w = init.kaiming_uniform((300, 300), fan_in=50, rng=rng())
    assert float(np.abs(w).max()) <= math.sqrt(6 / 50)
    assert abs(float(w.std()) / math.sqrt(2 / 50) - 1) < 0.05


def test_conv_and_linear_weights_use_their_fan_in():
    conv = nn.Conv2d(64, 64, 3, rng=rng())
    assert abs(float(conv.W.numpy().std()) / math.sqrt(2 / (64 * 9)) - 1) < 0.05
    lin = nn.Linear(400, 200, rng=rng())
    assert abs(float(lin.W.numpy().std()) / math.sqrt(2 / 400) - 1) < 0.05
    assert not lin.b.numpy().any()


def test_seeded_init_is_reproducible():
    a, b, c = Net(rng(7)), Net(rng(7)), Net(rng(8))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(sa["stem.W"], sc["stem.W"])
    minijoint.random.seed(3)
    d = Net()
    minijoint.random.seed(3)
    e = Net()
    assert np.array_equal(d.fc.W.numpy(), e.fc.W.numpy())


def test_init_dtype_follows_default_and_validates():
    with minijoint.default_dtype(np.float64):
        assert init.kaiming_normal((2, 2), fan_in=2).dtype == np.float64
        assert nn.Linear(2, 2).W.dtype == np.float64
    assert init.ones(3).dtype == np.float32 and init.zeros((2, 1)).tolist() == [[0.0], [0.0]]
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal((2, 2), fan_in=0)


@pytest.mark.gpu
def test_state_dict_moves_between_cupy_and_numpy():
    with minijoint.using_backend("cupy"):
        gpu = Net(rng(0))
        x = Tensor(rng(1).standard_normal((2, 1, 5, 5)).astype(np.float32))
        y_gpu = gpu.eval()(x).numpy()
        state = gpu.state_dict()
    cpu = Net(rng(9))
    cpu.load_state_dict(state)
    y_cpu = cpu.eval()(Tensor(x.numpy())).numpy()
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-4, atol=1e-5)
    with minijoint.using_backend("cupy"):
        back = Net(rng(4))
        back.load_state_dict(cpu.state_dict())
        assert type(back.fc.W.data).__module__.startswith("cupy")
