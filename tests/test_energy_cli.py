"""``python -m minijoint energy CKPT --model NAME`` (docs/method.md §8): the default output is
the paper's tables, unchanged; another model prints its assumptions and writes its files and
its per-layer plot next to the checkpoint; ``--model list`` names the models."""
import csv
import io

import pytest
from matplotlib.figure import Figure

from minijoint.cli import main
from minijoint.energy import COST_MODELS, energy_tables, model_report
from minijoint.plot import plot_energy_per_layer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"            # trained by the command line too
    assert main(["train", "--epochs", "1", "--limit-train", "64", "--limit-test", "64",
                 "--width", "4", "--out", str(out)]) == 0
    return out / "checkpoint.npz"


def test_model_list_names_every_model_on_one_line(capsys):
    assert main(["energy", "--model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(COST_MODELS)
    assert all(COST_MODELS[line.split()[0]].summary in line for line in lines)


def test_the_default_is_the_papers_tables_unchanged(checkpoint, capsys):
    assert main(["energy", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(energy_tables(str(checkpoint)).to_markdown())
    wrote = [line.split("/")[-1] for line in out.splitlines() if line.startswith("wrote ")]
    assert wrote == ["energy.md", "energy.csv", "energy_layers.csv"]


def test_a_memory_aware_model_prints_its_assumptions_and_writes_its_files(checkpoint, capsys):
    assert main(["energy", str(checkpoint), "--model", "lemaire", "--batches", "1"]) == 0
    out = capsys.readouterr().out
    folder = checkpoint.parent
    text = (folder / "energy-lemaire.md").read_text()
    assert out.startswith(text)
    assert all(a in text for a in COST_MODELS["lemaire"].assumptions)
    assert "QANN (3-bit activations)" in text and "r* vs QANN" in text and "NeuroBench" in text
    rows = list(csv.DictReader(io.StringIO((folder / "energy-lemaire.csv").read_text())))
    report = model_report(energy_tables(str(checkpoint), batches=1), "lemaire")
    assert [r["layer"] for r in rows] == [c.layer.name for c in report.costs]
    assert sum(float(r["snn_total_J"]) for r in rows) == pytest.approx(
        report.totals()["snn"].total, rel=1e-5)
    assert (folder / "energy-lemaire.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("energy-lemaire.md", "energy-lemaire.csv", "energy-lemaire.png"):
        assert f"wrote {folder / name}" in out


@pytest.mark.parametrize("args,message", [
    (["--model", "horowitz"], "unknown cost model 'horowitz'; expected one of paper, lemaire"),
    ([], "give a checkpoint")])
def test_energy_refuses_an_unknown_model_or_no_checkpoint(capsys, args, message):
    assert main(["energy", *args]) == 2
    assert message in capsys.readouterr().err


def test_plot_energy_per_layer_draws_a_panel_per_model(checkpoint, tmp_path):
    tables = energy_tables(str(checkpoint), batches=1)
    reports = [model_report(tables, name) for name in COST_MODELS]
    fig = plot_energy_per_layer(reports, save=tmp_path / "e.png")
    assert isinstance(fig, Figure) and len(fig.axes) == len(COST_MODELS)
    assert [len(ax.patches) for ax in fig.axes] == [len(r.costs) * k for r, k in
                                                    zip(reports, (2, 3, 3))]   # paper: no QANN
    assert (tmp_path / "e.png").stat().st_size > 0
    assert len(plot_energy_per_layer(reports[1]).axes) == 1
    with pytest.raises(ValueError, match="plot_energy_per_layer"):
        plot_energy_per_layer([])
