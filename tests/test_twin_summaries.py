"""What the twin layers report (docs/method.md §6): their parameter counts against the
paper's Section 4.3.1 formula, the singular values σ_ANN, σ_SNN of the factorized ones, and
the plots of both."""
import numpy as np
import pytest

from minijoint import nn
from minijoint.nn import (TwinConv2d, TwinLinear, count_parameters, singular_value_drift,
                          singular_values)
from minijoint.plot import plot_singular_value_drift, plot_singular_values


# ---- parameter counts (Section 4.3.1) -----------------------------------------------------------
def test_parameter_counts_of_two_resnet_convs():
    same = count_parameters(TwinConv2d(64, 64, 3, rng=np.random.default_rng(0)))
    # C = OC = 64, r = 64, P = 3·3 = 9
    assert same.factorized == (64 * (64 + 64) + 2 * 64) * 9 == 74_880      # thin SVD
    assert same.separate == 2 * 64 * 64 * 9 == 73_728                       # W_ANN, W_SNN
    assert same.paper == (64**2 + 64**2 + 2 * 64) * 9 == 74_880            # full SVD
    assert same.held == same.factorized and same.bias == 0 and same.layers == 1
    down = count_parameters(TwinConv2d(64, 128, 3, rng=np.random.default_rng(0)))
    # C = 64, OC = 128, r = 64: thin SVD keeps U (9, 128, 64), Vh (9, 64, 64), 2 σ (9, 64)
    assert down.factorized == 9 * 128 * 64 + 9 * 64 * 64 + 2 * 9 * 64 == 111_744
    assert down.separate == 2 * 64 * 128 * 9 == 147_456
    assert down.paper == (64**2 + 128**2 + 2 * 64) * 9 == 185_472           # 25% over separate
    assert down.held == 111_744
    sep = count_parameters(TwinConv2d(64, 128, 3, bias=True, wft=False,
                                      rng=np.random.default_rng(0)))
    assert (sep.factorized, sep.separate, sep.paper) == (111_744, 147_456, 185_472)
    assert sep.held == 147_456 and sep.bias == 2 * 128


def test_parameter_counts_sum_over_twin_layers_only():
    net = nn.Sequential(TwinConv2d(1, 4, 3, rng=np.random.default_rng(0)),
                        nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.Flatten(),
                        TwinLinear(4, 10, wft=False, rng=np.random.default_rng(0)))
    c = count_parameters(net)
    # conv 1→4, r = 1, P = 9: (1·5 + 2)·9 = 63; linear 4→10, r = 4: 4·14 + 8 = 64
    assert c.factorized == 63 + 64 and c.separate == 2 * 4 * 9 + 2 * 40
    assert c.paper == (1 + 16 + 2) * 9 + (16 + 100 + 8)
    assert c.held == 63 + 80 and c.bias == 20 and c.layers == 2


# ---- singular values and plots -------------------------------------------------------------------
def _trained_net():
    net = nn.Sequential(TwinConv2d(1, 3, 3, rng=np.random.default_rng(0)), nn.ReLU(),
                        TwinConv2d(3, 3, 1, wft=False), TwinLinear(4, 2))
    net[3].sigma_snn.data[...] *= 1.5
    return net


def test_singular_values_names_only_factorized_layers():
    table = singular_values(_trained_net())
    assert list(table) == ["0", "3"]
    assert table["0"][0].shape == (3, 3, 1) and table["3"][1].shape == (2,)
    np.testing.assert_allclose(table["3"][1], 1.5 * table["3"][0], rtol=1e-6)
    assert list(singular_values(TwinLinear(3, 2))) == ["TwinLinear"]


def test_plot_singular_values_draws_what_it_is_given(tmp_path):
    net = _trained_net()
    path = tmp_path / "sigma.png"
    fig = plot_singular_values(net, save=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    for coll, (name, (sa, ss)) in zip(ax.collections, singular_values(net).items()):
        assert coll.get_label() == name
        np.testing.assert_allclose(coll.get_offsets(), np.c_[sa.ravel(), ss.ravel()], rtol=1e-6)
    assert len(ax.collections) == 2
    xs, ys = ax.lines[0].get_data()
    np.testing.assert_array_equal(xs, ys)                              # the identity line
    with pytest.raises(ValueError, match="no factorized layers"):
        plot_singular_values(nn.Sequential(TwinLinear(2, 2, wft=False)))


def test_plot_singular_value_drift_draws_the_mean_gap(tmp_path):
    history = [{"a": (np.array([1.0, 2.0]), np.array([1.0, 2.0])), "b": (np.ones(3), np.ones(3))},
               {"a": (np.array([1.0, 2.0]), np.array([1.5, 1.0])), "b": (np.ones(3), np.zeros(3))}]
    assert singular_value_drift(history)["a"].tolist() == [0.0, 0.75]
    fig = plot_singular_value_drift(history, save=tmp_path / "drift.png")
    assert (tmp_path / "drift.png").stat().st_size > 1000
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].lines}
    np.testing.assert_array_equal(lines["a"], [0.0, 0.75])
    np.testing.assert_array_equal(lines["b"], [0.0, 1.0])
    with pytest.raises(ValueError, match="epoch 1"):
        singular_value_drift([{"a": history[0]["a"]}, {"c": history[0]["a"]}])
