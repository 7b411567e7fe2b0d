"""No run is ever lost: the run folder's guarantees (minijoint/joint/run.py), tried the way
users and schedulers break runs: a second run into the same folder, signals, kills during a
write, divergence, resume with other settings, read-only folders and full disks."""
import dataclasses
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minijoint.joint import build as build_mod
from minijoint.joint.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minijoint.joint.config import TrainConfig
from minijoint.joint.loss import JointLoss
from minijoint.joint.run import RunError, RunFolder
from minijoint.joint.runlog import read_metrics
from minijoint.joint.train import TrainingDiverged, evaluate_checkpoint, train
from minijoint.plot import plot_training_curves

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TrainConfig(epochs=2, width=4, batch_size=32, limit_train=128, limit_test=64, seed=3)
TINY_ARGS = ["--width", "4", "--batch-size", "32", "--limit-train", "256", "--limit-test", "64",
             "--seed", "3"]
quiet = lambda *a, **k: None  # noqa: E731
pytestmark = pytest.mark.slow


def _env():
    return dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def _cli(*args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "minijoint", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _popen(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "minijoint", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_line(proc, text, timeout=120):
    """Read ``proc``'s stdout until a line contains ``text``; return the lines read."""
    lines, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    raise AssertionError(f"never printed {text!r}: {lines} {proc.stderr.read()}")


def _files(folder):
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, n)) and n != ".lock"}


def _assert_same_checkpoints(a, b):
    xa, _ = load_checkpoint(os.path.join(a, "checkpoint.npz"))
    xb, _ = load_checkpoint(os.path.join(b, "checkpoint.npz"))
    assert xa.keys() == xb.keys()
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k], err_msg=k)


def _temps(folder):
    return [n for n in os.listdir(folder) if n.startswith(".tmp-") or n.endswith(".tmp")]


# ---- never overwrite -----------------------------------------------------------------------
def test_a_second_train_into_a_run_folder_is_refused_and_changes_no_byte(tmp_path):
    train(TINY, str(tmp_path), log=quiet, curves=plot_training_curves)
    before = _files(tmp_path)
    assert {"checkpoint.npz", "config.json", "metrics.csv", "curves.png"} <= set(before)
    with pytest.raises(RunError, match=r"already holds a run.*--resume.*another --out"):
        train(dataclasses.replace(TINY, width=8), str(tmp_path), log=quiet)
    assert _files(tmp_path) == before


def test_cli_refuses_then_overwrite_replaces(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--epochs", "1", *TINY_ARGS, "--out", str(out)]
    assert _cli(*args, cwd=tmp_path).returncode == 0
    (out / "energy.md").write_text("a stale report of the old run")
    before = _files(out)
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 1 and "already holds a run" in r.stderr and "--overwrite" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one error line, no traceback
    assert _files(out) == before
    r = _cli(*args[:-2], "--width", "8", "--out", str(out), "--overwrite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (out / "energy.md").exists()  # the old run's report went with it
    _, meta = load_checkpoint(str(out / "checkpoint.npz"))
    assert meta["config"]["width"] == 8


# ---- the lock ----------------------------------------------------------------------------
_HOLDER = ("import sys, time; from minijoint.joint.run import RunFolder; "
           "r = RunFolder.start(sys.argv[1], log=print); print('locked', flush=True); time.sleep(600)")


def test_a_second_process_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=rf"in use by pid {holder.pid} "):
            RunFolder.start(str(tmp_path), log=quiet)
        r = _cli("train", "--epochs", "1", *TINY_ARGS, "--out", str(tmp_path), cwd=tmp_path)
        assert r.returncode == 1 and f"in use by pid {holder.pid}" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    lines = []
    with RunFolder.start(str(tmp_path), log=lines.append):
        pass
    assert any(f"pid {holder.pid}" in line and "no longer running" in line for line in lines)


# ---- signals -----------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_saves_at_the_step_boundary_and_resume_is_exact(tmp_path, sig):
    args = ["train", "--epochs", "3", *TINY_ARGS]
    assert _cli(*args, "--out", str(tmp_path / "a"), cwd=tmp_path).returncode == 0
    proc = _popen(*args, "--out", str(tmp_path / "b"), cwd=tmp_path)
    _wait_for_line(proc, "training full on digits")
    time.sleep(0.3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "checkpoint saved at epoch" in out and "--resume" in out
    _, meta = load_checkpoint(str(tmp_path / "b" / "checkpoint.npz"))
    assert meta["epoch"] < 3, "the run ended before the signal: nothing was interrupted"
    r = _cli("train", "--resume", "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _assert_same_checkpoints(tmp_path / "a", tmp_path / "b")
    assert (read_metrics(tmp_path / "a")[-1]["snn_acc"] == read_metrics(tmp_path / "b")[-1]["snn_acc"])


# ---- kill -9 during a checkpoint write -----------------------------------------------------
_WRITER = """
import sys
import numpy as np
from minijoint.joint.run import RunFolder
from minijoint.joint.config import TrainConfig
import os
cfg = TrainConfig(epochs=10**6)
if os.path.exists(os.path.join(sys.argv[1], "checkpoint.npz")):
    run, _, _, meta = RunFolder.resume(sys.argv[1], cfg, log=lambda *a: None)
    start = meta["epoch"] + 1
else:
    run, start = RunFolder.start(sys.argv[1], log=lambda *a: None), 1
cfg = cfg.to_dict()
print("ready", flush=True)
for i in range(start, 10**6):
    arrays = {"model/w": np.full(1_000_000, float(i)), "model/b": np.full(1000, float(i))}
    run.save(arrays, {"config": cfg, "epoch": i, "step": 0})
"""


def test_sigkill_during_save_leaves_the_old_or_the_new_checkpoint_and_no_temp(tmp_path):
    rng = np.random.default_rng(0)
    temps_seen, epochs = 0, []
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], env=_env(),
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.2 + 0.4 * rng.random())
        p.kill()
        p.wait()
        left = len(_temps(tmp_path))
        temps_seen += left
        arrays, meta = load_checkpoint(str(tmp_path / "checkpoint.npz"))  # never torn
        assert np.all(arrays["model/w"] == meta["epoch"]) and np.all(arrays["model/b"] == meta["epoch"])
        epochs.append(meta["epoch"])
        lines = []
        RunFolder.resume(str(tmp_path), TrainConfig(epochs=10**6), log=lines.append)[0].close()
        assert _temps(tmp_path) == []     # the next start removed what the killed writer left
        assert sum("removed" in line for line in lines) == left
    assert temps_seen > 0, "no kill landed inside a write: the test did not test anything"
    assert epochs == sorted(epochs) and epochs[-1] > epochs[0]   # each writer went on from the last


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        train(dataclasses.replace(TINY, epochs=1), str(tmp_path), log=quiet, curves=plot_training_curves)
    finally:
        os.umask(old)
    for name in ("checkpoint.npz", "config.json", "metrics.csv", "curves.png"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o644, name


# ---- divergence --------------------------------------------------------------------------
def test_a_huge_lr_stops_the_run_and_leaves_only_finite_checkpoints(tmp_path):
    cfg = dataclasses.replace(TINY, epochs=3, lr=1e8, limit_train=64, batch_size=64)
    with pytest.raises(TrainingDiverged) as e:
        train(cfg, str(tmp_path), log=quiet)
    msg = str(e.value)
    assert re.search(r"epoch \d+, step \d+: (the loss|the gradient of|parameter|in the forward)", msg), msg
    ckpt = tmp_path / "checkpoint.npz"
    if ckpt.exists():
        load_checkpoint(str(ckpt))  # finite, or this raises
        assert "The last good checkpoint" in msg
    else:
        assert "No checkpoint has been saved" in msg


def _poison_batch(monkeypatch, at_batch):
    """Make the ``at_batch``-th training batch (counting from 1 over the run) hold one NaN."""
    from minijoint.data import DataLoader
    original, count = DataLoader.__iter__, {"n": 0}

    def batches(self):
        for x, y in original(self):
            if self.shuffle:  # the training loader
                count["n"] += 1
                if count["n"] == at_batch:
                    x = x.data.copy() if hasattr(x, "data") else x.copy()
                    x.reshape(-1)[7] = np.nan
            yield x, y

    monkeypatch.setattr(DataLoader, "__iter__", batches)


@pytest.mark.parametrize("mode", ["snn", "ann", "full"])
def test_a_nan_pixel_stops_every_mode_and_the_last_checkpoint_is_untouched(tmp_path, monkeypatch, mode):
    cfg = dataclasses.replace(TINY, mode=mode)
    train(dataclasses.replace(cfg, epochs=1), str(tmp_path / "one"), log=quiet)
    _poison_batch(monkeypatch, at_batch=6)   # epoch 2, step 2 of 4
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2: the input batch holds 1 NaN"):
        train(cfg, str(tmp_path / "run"), log=quiet)
    _, meta = load_checkpoint(str(tmp_path / "run" / "checkpoint.npz"))
    assert (meta["epoch"], meta["step"]) == (1, 0)
    _assert_same_checkpoints(tmp_path / "one", tmp_path / "run")


def test_nan_on_the_first_step_says_no_checkpoint_exists(tmp_path, monkeypatch):
    _poison_batch(monkeypatch, at_batch=1)
    with pytest.raises(TrainingDiverged, match="No checkpoint has been saved"):
        train(TINY, str(tmp_path), log=quiet)
    assert not (tmp_path / "checkpoint.npz").exists()
    monkeypatch.undo()
    train(dataclasses.replace(TINY, epochs=1), str(tmp_path), log=quiet)  # the folder is free


def test_a_non_finite_gradient_is_named_with_its_parameter(tmp_path, monkeypatch):
    import minijoint.functional as F
    original = JointLoss.__call__

    def with_sqrt_of_zero(self, *args):   # value 0, gradient 0/0 = NaN for a zero BN beta
        total, parts = original(self, *args)
        beta = with_sqrt_of_zero.beta
        return total + F.pow((beta * beta).sum(), 0.5), parts

    real_build = build_mod.build_model

    def build(cfg, info):
        model = real_build(cfg, info)
        with_sqrt_of_zero.beta = next(p for n, p in model.named_parameters() if n.endswith("beta"))
        return model

    monkeypatch.setattr(JointLoss, "__call__", with_sqrt_of_zero)
    monkeypatch.setattr("minijoint.joint.train.build_model", build)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1: the gradient of \S*beta"):
        train(TINY, str(tmp_path), log=quiet)


def test_checkpoints_with_nan_are_never_written_and_never_evaluated(tmp_path, monkeypatch):
    train(dataclasses.replace(TINY, epochs=1), str(tmp_path), log=quiet)
    path = str(tmp_path / "checkpoint.npz")
    arrays, meta = load_checkpoint(path)
    name = next(k for k, v in arrays.items() if v.dtype.kind == "f")
    arrays[name] = arrays[name].copy()
    arrays[name].reshape(-1)[0] = np.inf
    before = open(path, "rb").read()
    with pytest.raises(CheckpointError, match="NaN or inf"):
        save_checkpoint(path, arrays, meta)
    assert open(path, "rb").read() == before
    # a file written by an older minijoint, which did not refuse them
    import minijoint.joint.checkpoint as checkpoint_mod
    monkeypatch.setattr(checkpoint_mod, "non_finite", lambda arrays: [])
    save_checkpoint(str(tmp_path / "old.npz"), arrays, meta)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="NaN or inf.*diverged"):
        evaluate_checkpoint(str(tmp_path / "old.npz"))
    r = _cli("energy", str(tmp_path / "old.npz"), cwd=tmp_path)
    assert r.returncode == 2 and "NaN or inf" in r.stderr


# ---- resume ------------------------------------------------------------------------------
def test_resume_extends_a_finished_run_on_the_new_cosine(tmp_path):
    two = train(TINY, str(tmp_path), log=quiet)
    lines = []
    three = train(dataclasses.replace(TINY, epochs=3), str(tmp_path), resume=True, log=lines.append)
    assert any("extending the run from 2 to 3 epochs" in line for line in lines)
    assert len(three["history"]) == 3 and three["history"][:2] == two["history"]
    lr = [row["lr"] for row in read_metrics(tmp_path)]
    assert lr[:2] == pytest.approx([TINY.lr, TINY.lr * 0.5])               # the 2-epoch cosine
    assert lr[2] == pytest.approx(TINY.lr * (1 + math.cos(math.pi * 2 / 3)) / 2)  # the 3-epoch one
    again = []
    train(None, str(tmp_path), resume=True, log=again.append)
    assert any("has finished its 3 epochs" in line for line in again)


def test_resume_with_more_epochs_equals_an_uninterrupted_run_where_the_schedule_allows(tmp_path, monkeypatch):
    """Stopped in epoch 1 (where the cosine of any length gives lr₀), then resumed with a
    larger --epochs: bit for bit the run that was planned that long from the start."""
    train(dataclasses.replace(TINY, epochs=3), str(tmp_path / "a"), log=quiet)
    original, calls = JointLoss.__call__, {"n": 0}

    def ctrl_c(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(JointLoss, "__call__", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, str(tmp_path / "b"), log=quiet)
    monkeypatch.setattr(JointLoss, "__call__", original)
    train(dataclasses.replace(TINY, epochs=3), str(tmp_path / "b"), resume=True, log=quiet)
    _assert_same_checkpoints(tmp_path / "a", tmp_path / "b")


def test_resume_refuses_other_settings_and_fewer_epochs(tmp_path):
    train(TINY, str(tmp_path), log=quiet)
    before = _files(tmp_path)
    with pytest.raises(RunError, match=r"(?s)cannot change.*width: 4 \(saved\) -> 8.*lr: 0\.001 \(saved\) -> 0\.1"):
        train(dataclasses.replace(TINY, lr=0.1, width=8), str(tmp_path), resume=True, log=quiet)
    with pytest.raises(RunError, match="already trained 2 epochs"):
        train(dataclasses.replace(TINY, epochs=1), str(tmp_path), resume=True, log=quiet)
    assert _files(tmp_path) == before
    r = _cli("train", "--resume", "--out", str(tmp_path), "--lr", "0.1", cwd=tmp_path)
    assert r.returncode == 1 and "lr: 0.001 (saved) -> 0.1 (given)" in r.stderr


def test_cli_resume_finds_the_folder_a_fresh_run_of_that_mode_would_use(tmp_path):
    args = ["--mode", "snn", "--epochs", "1", *TINY_ARGS]
    assert _cli("train", *args, cwd=tmp_path).returncode == 0
    r = _cli("train", "--mode", "snn", "--resume", "--epochs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "run folder: runs/snn-digits" in r.stdout
    assert len(read_metrics(tmp_path / "runs" / "snn-digits")) == 2
    assert not (tmp_path / "runs" / "full-digits").exists()


def test_a_run_without_checkpoint_cannot_be_resumed_and_says_what_to_do(tmp_path):
    with pytest.raises(RunError, match="holds no run"):
        train(None, str(tmp_path), resume=True, log=quiet)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RunError, match="before its first checkpoint.*--overwrite"):
        train(None, str(tmp_path), resume=True, log=quiet)


def test_checkpoint_metadata_without_config_is_a_clear_error(tmp_path):
    save_checkpoint(str(tmp_path / "checkpoint.npz"), {"w": np.zeros(3)}, {"epoch": 1, "step": 0})
    with pytest.raises(CheckpointError, match="no 'config'"):
        evaluate_checkpoint(str(tmp_path / "checkpoint.npz"))
    with pytest.raises(CheckpointError, match="no 'config'"):
        train(None, str(tmp_path), resume=True, log=quiet)


def test_metrics_leave_parts_that_were_not_computed_blank(tmp_path):
    train(dataclasses.replace(TINY, mode="snn", epochs=1), str(tmp_path), log=quiet)
    header, row = (tmp_path / "metrics.csv").read_text().splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(",")))
    assert cells["kld"] == "" and cells["norm"] == "" and cells["ann_acc"] == ""
    assert float(cells["ce"]) > 0 and float(cells["lr"]) == TINY.lr


# ---- file-system errors ------------------------------------------------------------------
needs_mount = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                 reason="mounting a tmpfs (read-only, or full) needs root")


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(size_bytes):
        d = tmp_path / f"fs{len(mounted)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


@needs_mount
def test_a_read_only_folder_gives_one_error_line_and_energy_prints_its_tables_first(tmp_path, tmpfs):
    fs = tmpfs(8 << 20)
    run = fs / "run"
    assert _cli("train", "--epochs", "1", *TINY_ARGS, "--out", str(run), cwd=tmp_path).returncode == 0
    before = _files(run)
    assert subprocess.run(["mount", "-o", "remount,ro", str(fs)]).returncode == 0
    r = _cli("train", "--resume", "--epochs", "2", "--out", str(run), cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "read-only" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("energy", str(run), cwd=tmp_path)
    assert r.returncode == 1
    assert "## Table 5" in r.stdout and "## Table 6" in r.stdout   # the tables came first
    assert "could not write" in r.stderr and "energy.md" in r.stderr and "Traceback" not in r.stderr
    assert _files(run) == before


@needs_mount
def test_a_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temp(tmp_path, tmpfs):
    train(dataclasses.replace(TINY, epochs=1), str(tmp_path / "probe"), log=quiet)
    used = sum(len(b) for b in _files(tmp_path / "probe").values())
    ckpt = os.path.getsize(tmp_path / "probe" / "checkpoint.npz")
    fs = tmpfs(used + ckpt // 2)   # room for one checkpoint, not for its replacement beside it
    with pytest.raises(RunError, match=r"(?s)disk is full.*last good checkpoint.*end of epoch 1"):
        train(TINY, str(fs / "run"), log=quiet)
    _assert_same_checkpoints(tmp_path / "probe", fs / "run")
    assert _temps(fs / "run") == []


def test_out_that_is_a_file_gives_one_error_line(tmp_path):
    (tmp_path / "afile").write_text("mine")
    r = _cli("train", "--epochs", "1", *TINY_ARGS, "--out", str(tmp_path / "afile"), cwd=tmp_path)
    assert r.returncode == 1 and "is a file" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "afile").read_text() == "mine"

