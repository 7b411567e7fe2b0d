"""Every figure renders to a PNG on the Agg canvas, and draws the data it was given."""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from minijoint import Tensor
from minijoint.energy import EnergyRow, EnergyTables
from minijoint.models import JointNet
from minijoint.plot import (gradient_norms, plot_energy, plot_firing_rates, plot_gradient_norms,
                            plot_membrane, plot_singular_value_drift, plot_singular_values,
                            plot_spike_raster, plot_surrogates, plot_training_curves)
from minijoint.snn import ATan, Rectangle, Sigmoid, Triangle, lif_forward

PNG = b"\x89PNG\r\n\x1a\n"


def _saved(fig, path):
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def _line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def test_membrane_draws_u_pre_threshold_and_spikes(tmp_path):
    u_pre = np.array([0.3, 0.6, 0.2, 0.55, 0.1])
    y = (u_pre >= 0.5).astype(float)
    fig = plot_membrane(u_pre, y, v_th=0.5, save=tmp_path / "m.png")
    _saved(fig, tmp_path / "m.png")
    ax = fig.axes[0]
    line = _line(ax, "u_pre, neuron 0")
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(line.get_ydata(), u_pre)
    np.testing.assert_array_equal(_line(ax, "V_th = 0.5").get_ydata(), [0.5, 0.5])
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[2, 0.6], [4, 0.55]])


def test_membrane_from_a_current_runs_the_lif_recursion(tmp_path):
    c = np.array([[0.3, 0.9], [0.3, 0.1], [0.4, 0.6]])          # T=3, two neurons
    y, u_pre = lif_forward(c, 0.25, 0.5, Rectangle())
    fig = plot_membrane(c=Tensor(c), tau=0.25, v_th=0.5, save=tmp_path / "c.png")
    _saved(fig, tmp_path / "c.png")
    for k in range(2):
        line = _line(fig.axes[0], f"u_pre, neuron {k}")
        np.testing.assert_allclose(line.get_ydata(), u_pre[:, k])
        np.testing.assert_array_equal(_line(fig.axes[0], f"c, neuron {k}").get_ydata(), c[:, k])
    with pytest.raises(ValueError, match="same shape|one shape"):
        plot_membrane(np.zeros(3), np.zeros(4))


def test_spike_raster_marks_every_spike(tmp_path):
    s = np.zeros((4, 2, 3))                                       # (T, C, H): 6 neurons
    s[0, 0, 1] = s[2, 1, 2] = s[3, 0, 0] = 1
    fig = plot_spike_raster(s, save=tmp_path / "r.png")
    _saved(fig, tmp_path / "r.png")
    got = sorted(map(tuple, fig.axes[0].collections[0].get_offsets().tolist()))
    assert got == [(1, 1), (3, 5), (4, 0)]                        # (t from 1, flat neuron index)
    with pytest.raises(ValueError, match=r"\(T, \.\.\.\)"):
        plot_spike_raster(np.zeros(3))


def test_surrogates_draw_derivative_and_primitive(tmp_path):
    sgs = [Rectangle(), Triangle(), Sigmoid(), ATan()]
    fig = plot_surrogates(save=tmp_path / "s.png")
    _saved(fig, tmp_path / "s.png")
    a_s, a_p = fig.axes
    for sg in sgs:
        ls, lp = _line(a_s, repr(sg)), _line(a_p, repr(sg))
        u = ls.get_xdata()
        np.testing.assert_allclose(ls.get_ydata(), sg.grad(u, 0.5))
        np.testing.assert_allclose(lp.get_ydata(), sg.primitive(u, 0.5))
    assert a_s.get_lines()[0].get_ydata().max() == 1.0           # Rectangle(1): peak 1/a


def test_firing_rates_bars(tmp_path):
    rates = {"stem.lif": 0.2, "stages.0.lif1": 0.05, "stages.0.lif2": 0.31}
    fig = plot_firing_rates(rates, save=tmp_path / "f.png")
    _saved(fig, tmp_path / "f.png")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == list(rates.values())
    net = JointNet("resnet10", width=2, image_size=8, in_channels=1, T=2,
                   rng=np.random.default_rng(0))
    net(Tensor(np.random.default_rng(1).random((2, 1, 8, 8)).astype(np.float32)))
    fig = plot_firing_rates(net)
    assert [p.get_height() for p in fig.axes[0].patches] == list(net.firing_rates().values())
    with pytest.raises(ValueError, match="rate"):
        plot_firing_rates({})


def test_gradient_norms_alone_vs_joint(tmp_path):
    alone = {"conv1": 1e-4, "conv2": 1e-3, "conv3": 1e-2}
    joint = {"conv1": 1e-2, "conv2": 2e-2, "conv3": 3e-2}
    fig = plot_gradient_norms(alone, joint, save=tmp_path / "g.png")
    _saved(fig, tmp_path / "g.png")
    ax = fig.axes[0]
    assert list(_line(ax, "SNN trained alone").get_ydata()) == list(alone.values())
    assert list(_line(ax, "SNN trained jointly with the ANN").get_ydata()) == list(joint.values())
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="same"):
        plot_gradient_norms(alone, {"conv1": 1.0})


def test_gradient_norms_reads_each_paths_own_weight():
    for wft in (False, True):
        net = JointNet("resnet10", width=2, image_size=8, in_channels=1, T=2, wft=wft,
                       rng=np.random.default_rng(0))
        out = net(Tensor(np.random.default_rng(1).random((2, 1, 8, 8)).astype(np.float32)))
        (out.snn_logits[-1] ** 2).sum().backward()
        norms = gradient_norms(net, "snn")
        assert list(norms) == [n for n, _ in net.twin_layers()]
        for name, m in net.twin_layers():
            g = (m.sigma_snn if wft else m.W_snn).grad
            assert norms[name] == pytest.approx(np.linalg.norm(g))
        assert gradient_norms(net, "ann") == {}                  # no ANN loss, no ANN gradient


def test_training_curves_from_rows_and_a_run_folder(tmp_path):
    history = [dict(epoch=1, loss=3.0, ce=2.0, kld=0.5, ann_acc=0.5, snn_acc=0.4),
               dict(epoch=2, loss=2.0, ce=1.5, kld=0.3, ann_acc=0.7, snn_acc=0.6),
               dict(epoch=3, loss=1.5, ce=1.2, kld=0.2, ann_acc=0.8)]    # no snn_acc, no norm
    fig = plot_training_curves(history, save=tmp_path / "curves.png")
    _saved(fig, tmp_path / "curves.png")
    a_l, a_a = fig.axes
    assert list(_line(a_l, "loss").get_ydata()) == [3.0, 2.0, 1.5]
    assert list(_line(a_a, "snn_acc").get_xdata()) == [1, 2]
    assert "norm" not in [ln.get_label() for ln in a_l.get_lines()]
    (tmp_path / "metrics.csv").write_text("epoch,loss,ann_acc\n1,2.5,0.5\n2,1.5,0.75\n")
    for source in (tmp_path, tmp_path / "metrics.csv"):   # the run folder, or the file
        fig = plot_training_curves(source)
        assert list(_line(fig.axes[1], "ann_acc").get_ydata()) == [0.5, 0.75]
        assert list(_line(fig.axes[0], "loss").get_xdata()) == [1, 2]


def test_energy_bars(tmp_path):
    rows = [EnergyRow("ANN", "m", 0.9, 1e6, 1e6, 5.5e-6, 6.4e7, 1e-5, 1e-4),
            EnergyRow("SNN (T=4)", "m", 0.8, 3e5, 1e4, 3.16e-7, 1.3e8, 2e-5, 2e-4)]
    table = EnergyTables(rows, [], 4, 10, {})
    fig = plot_energy(table, save=tmp_path / "e.png")
    _saved(fig, tmp_path / "e.png")
    a_c, a_m = fig.axes
    assert "µJ" in a_c.get_ylabel()                               # the largest value is 200 µJ
    np.testing.assert_allclose([p.get_height() for p in a_c.patches], [5.5, 0.316])
    np.testing.assert_allclose([p.get_height() for p in a_m.patches], [10, 20, 100, 200])


def test_singular_value_plots_render(tmp_path):
    net = JointNet("resnet10", width=2, image_size=8, in_channels=1, T=2,
                   rng=np.random.default_rng(0))
    fig = plot_singular_values(net, save=tmp_path / "sv.png")
    _saved(fig, tmp_path / "sv.png")
    s_ann = net.stem.unit.conv.sigma_ann.numpy()
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets()[:, 0], s_ann.ravel())
    snap = {"a": (np.ones(3), np.ones(3))}
    fig = plot_singular_value_drift([snap, {"a": (np.ones(3), np.full(3, 1.5))}],
                                    save=tmp_path / "d.png")
    _saved(fig, tmp_path / "d.png")
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.0, 0.5])
