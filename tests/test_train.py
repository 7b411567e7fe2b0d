"""The training loop and its run folder: checkpoints, resume, Ctrl-C, NaN, kd, ablation, CLI."""
import csv
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from minijoint.joint import train as train_mod
from minijoint.joint.ablation import run_ablation
from minijoint.joint.checkpoint import CheckpointError, load_checkpoint
from minijoint.joint.config import TrainConfig
from minijoint.joint.loss import JointLoss
from minijoint.joint.train import TrainingDiverged, evaluate_checkpoint, load_trained, train
from minijoint.plot import plot_training_curves

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TrainConfig(epochs=2, width=4, batch_size=32, limit_train=128, limit_test=64, seed=3)
quiet = lambda *a, **k: None  # noqa: E731


def _state(run):
    arrays, meta = load_checkpoint(os.path.join(run, "checkpoint.npz"))
    return arrays, meta


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_run_folder_contents(tmp_path):
    final = train(TINY, str(tmp_path), log=quiet, curves=plot_training_curves)
    assert {"config.json", "metrics.csv", "checkpoint.npz", "curves.png"} <= set(os.listdir(tmp_path))
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for col in ("epoch", "loss", "ce", "kld", "norm", "ann_acc", "snn_acc", "seconds"):
        assert col in rows[0]
    assert any(c.startswith("rate_") for c in rows[0])
    assert all(0 <= float(r["ann_acc"]) <= 1 and 0 <= float(r["snn_acc"]) <= 1 for r in rows)
    assert all(0 <= float(v) <= 1 for r in rows for k, v in r.items() if k.startswith("rate_"))
    # checkpoint round trip: the reloaded model evaluates to the logged accuracies
    again = evaluate_checkpoint(str(tmp_path / "checkpoint.npz"))
    assert again["ann_acc"] == pytest.approx(final["ann_acc"])
    assert again["snn_acc"] == pytest.approx(final["snn_acc"])
    model, cfg, _ = load_trained(str(tmp_path / "checkpoint.npz"))
    assert cfg == TINY and not model.training


def test_resume_after_ctrl_c_equals_uninterrupted(tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, epochs=3)
    full = train(cfg, str(tmp_path / "a"), log=quiet)
    calls = {"n": 0}
    original = train_mod.ProgressBar.update

    def interrupt(self, done, values):
        original(self, done, values)
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 2, step 2 of 4
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod.ProgressBar, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "b"), log=quiet)
    _, meta = _state(tmp_path / "b")
    assert (meta["epoch"], meta["step"]) == (1, 2)
    monkeypatch.setattr(train_mod.ProgressBar, "update", original)
    resumed = train(None, str(tmp_path / "b"), resume=True, log=quiet)
    a, _ = _state(tmp_path / "a")
    b, _ = _state(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _without_time(resumed["history"]) == _without_time(full["history"])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = JointLoss.__call__

    def poisoned(self, *args):
        total, parts = original(self, *args)
        calls["n"] += 1
        return (total * float("nan") if calls["n"] == 6 else total), parts

    monkeypatch.setattr(JointLoss, "__call__", poisoned)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2"):
        train(TINY, str(tmp_path), log=quiet)
    _, meta = _state(tmp_path)
    assert meta["epoch"] == 1 and meta["step"] == 0  # the end of epoch 1, untouched


def test_truncated_checkpoint_and_other_architecture(tmp_path):
    train(dataclasses.replace(TINY, epochs=1), str(tmp_path), log=quiet)
    path = tmp_path / "checkpoint.npz"
    arrays, _ = load_checkpoint(str(path))
    wider = train_mod.build_model(dataclasses.replace(TINY, width=8),
                                  __import__("minijoint.data", fromlist=["x"]).load_dataset("digits")[2])
    with pytest.raises(CheckpointError, match="does not fit this model"):
        train_mod.load_model_state(wider, arrays)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        evaluate_checkpoint(str(path))


def test_stop_gradient_ann_trajectory_is_identical(tmp_path):
    """docs/method.md §5: with separate weights, L_Norm never reaches the ANN, bit for bit."""
    a = train(dataclasses.replace(TINY, mode="joint-ce-kld"), str(tmp_path / "a"), log=quiet)
    b = train(dataclasses.replace(TINY, mode="joint-ce-kld-norm"), str(tmp_path / "b"), log=quiet)
    sa, _ = _state(tmp_path / "a")
    sb, _ = _state(tmp_path / "b")
    model, _, _ = load_trained(str(tmp_path / "a" / "checkpoint.npz"))
    ann = model.ann_state_names()
    assert ann
    for k in ann:
        np.testing.assert_array_equal(sa[f"model/{k}"], sb[f"model/{k}"], err_msg=k)
    snn_differs = [k for k in sa if k.startswith("model/snn_heads") and not np.array_equal(sa[k], sb[k])]
    assert snn_differs and a["ann_acc"] == b["ann_acc"]


def test_kd_trains_its_teacher_first_and_freezes_it(tmp_path):
    lines = []
    train(dataclasses.replace(TINY, mode="kd", epochs=1), str(tmp_path), log=lines.append)
    assert any("training one first" in line for line in lines)
    teacher, _ = _state(tmp_path / "teacher")
    student, _ = _state(tmp_path)
    model, _, _ = load_trained(str(tmp_path / "checkpoint.npz"))
    for k in model.ann_state_names():
        np.testing.assert_array_equal(teacher[f"model/{k}"], student[f"model/{k}"], err_msg=k)


def test_ablation_table(tmp_path):
    rows = run_ablation(["ann", "snn"], [0, 1], dataclasses.replace(TINY, epochs=1), str(tmp_path), log=quiet)
    assert [r["mode"] for r in rows] == ["ann", "snn"]
    assert "snn_acc" not in rows[0] and "ann_acc" not in rows[1]
    table = (tmp_path / "table4.md").read_text()
    assert "| ann |" in table and "| snn |" in table and "92.39" in table and "±" in table
    again = run_ablation(["ann", "snn"], [0, 1], TINY, str(tmp_path), log=quiet, summarize_only=True)
    assert again == rows  # re-tabulated from the run folders, no training


@pytest.mark.parametrize("field,value,match", [
    ("mode", "bogus", "unknown mode"), ("model", "resnet99", "unknown model"),
    ("dataset", "mnist", "unknown dataset"), ("T", 0, "T must be >= 1"),
    ("width", 0, "width must be >= 1"), ("tau", 1.5, r"tau must be a number in \(0, 1\)"),
])
def test_config_errors(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **{field: value}).validate()


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "minijoint", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_train_and_eval_end_to_end(tmp_path):
    """Smoke test of the command a student types first, on a tiny budget."""
    out = tmp_path / "run"
    r = _cli("train", "--epochs", "1", "--width", "4", "--limit-train", "96", "--limit-test", "64",
             "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "test accuracy: ANN" in r.stdout and "SNN" in r.stdout
    assert "epoch 1/1" in r.stderr
    r = _cli("eval", str(out / "checkpoint.npz"), cwd=tmp_path)
    assert r.returncode == 0 and "SNN test accuracy" in r.stdout, r.stderr
    r = _cli("train", "--T", "0", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "T must be >= 1" in r.stderr
    r = _cli("train", "--dataset", "cifar10", "--data-path", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 2 and "nowhere" in r.stderr


def test_figures_smoke(tmp_path):
    """Smoke test: `python -m minijoint figures` draws every README picture from a run folder."""
    from minijoint.figures import make_figures
    train(dataclasses.replace(TINY, epochs=1), str(tmp_path / "run"), log=quiet)
    written = make_figures(str(tmp_path / "run"), str(tmp_path / "fig"))
    names = {os.path.basename(p) for p in written}
    assert names == {"membrane.png", "surrogates.png", "firing_rates.png", "singular_values.png",
                     "energy.png", "curves.png"}
    assert all(open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for p in written)


def test_ablation_spread_verdict():
    from minijoint.joint.ablation import format_table
    rows = [{"mode": "snn", "snn_acc": (94.0, 0.2), "sec_per_epoch": 1.0},
            {"mode": "full", "snn_acc": (95.0, 0.3), "ann_acc": (97.0, 0.1), "sec_per_epoch": 1.0},
            {"mode": "wft", "snn_acc": (94.3, 0.9), "sec_per_epoch": 1.0}]
    table = format_table(rows, 3)
    assert "+1.00 (exceeds spread)" in table      # 1.0 > 2·sqrt((0.3² + 0.2²)/3) = 0.42
    assert "+0.30 (within spread)" in table       # 0.3 < 2·sqrt((0.9² + 0.2²)/3) = 1.06


def test_real_ctrl_c_mid_step_resumes_exactly(tmp_path, monkeypatch):
    """A SIGINT arriving in the middle of a step (after BN statistics moved) is held until
    the step ends, so resuming reproduces the uninterrupted run bit for bit."""
    import signal
    cfg = dataclasses.replace(TINY, epochs=2)
    train(cfg, str(tmp_path / "a"), log=quiet)
    calls = {"n": 0}
    original = JointLoss.__call__

    def ctrl_c_inside_step(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # the forward of epoch 1, step 3 has run
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(JointLoss, "__call__", ctrl_c_inside_step)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "b"), log=quiet)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    _, meta = _state(tmp_path / "b")
    assert (meta["epoch"], meta["step"]) == (0, 3)
    monkeypatch.setattr(JointLoss, "__call__", original)
    train(None, str(tmp_path / "b"), resume=True, log=quiet)
    a, _ = _state(tmp_path / "a")
    b, _ = _state(tmp_path / "b")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_float64_training_runs_in_float64(tmp_path):
    final = train(dataclasses.replace(TINY, epochs=1, dtype="float64"), str(tmp_path), log=quiet)
    arrays, _ = _state(tmp_path)
    assert 0 <= final["snn_acc"] <= 1
    assert all(v.dtype == np.float64 for k, v in arrays.items() if k.endswith((".U", ".W", "gamma")))
