"""Input that used to be accepted silently, or that failed far from its cause, now gets a
clear error at the public entry (what was expected, what was given)."""
import dataclasses
import os

import numpy as np
import pytest

import minijoint.functional as F
from minijoint import random as mj_random
from minijoint.cli import main
from minijoint.joint.checkpoint import CheckpointError
from minijoint.joint.config import TrainConfig
from minijoint.joint.train import train
from minijoint.snn.lif import lif, lif_forward
from minijoint.tensor import Tensor

TINY = TrainConfig(epochs=1, width=4, batch_size=32, limit_train=64, limit_test=32, seed=3)
quiet = lambda *a, **k: None  # noqa: E731


@pytest.mark.parametrize("args,message", [
    (["--limit-train", "0"], "limit_train must be >= 1"),
    (["--limit-train", "-5"], "limit_train must be >= 1"),
    (["--limit-test", "0"], "limit_test must be >= 1"),
    (["--lambda-kld", "nan"], "lambda_kld must be a finite number, got nan"),
    (["--lambda-norm", "inf"], "lambda_norm must be a finite number"),
    (["--lambda-kld", "-1"], "lambda_kld must be >= 0"),
    (["--v-th", "nan"], "v_th must be a finite number"),
    (["--v-th", "inf"], "v_th must be a finite number > 0"),   # a neuron that never fires
    (["--tau", "1"], "tau must be a number in (0, 1)"),
    (["--lr", "0"], "lr must be > 0"),
    (["--temperature", "-2"], "temperature must be > 0"),
    (["--seed", "-1"], "seed must be >= 0"),
])
def test_train_refuses_bad_values_before_touching_any_folder(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not out.exists()


def test_data_path_with_digits_is_warned_about(tmp_path, capsys):
    code = main(["train", "--epochs", "1", "--width", "4", "--limit-train", "64", "--limit-test", "32",
                 "--data-path", str(tmp_path), "--out", str(tmp_path / "run")])
    assert code == 0
    assert "warning: --data-path" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,hint", [("--mode", "snn", "--modes snn"), ("--seed", "4", "--seeds 4")])
def test_ablation_refuses_the_single_run_flags(tmp_path, capsys, flag, value, hint):
    assert main(["ablation", flag, value, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert hint in err and not os.listdir(tmp_path)


def test_energy_refuses_a_bad_batch_count(tmp_path, capsys):
    assert main(["energy", str(tmp_path), "--batches", "0"]) == 2
    assert "--batches must be >= 1" in capsys.readouterr().err


def test_eval_takes_a_run_folder_and_figures_stay_inside_it(tmp_path, capsys, monkeypatch):
    train(TINY, str(tmp_path / "run"), log=quiet)
    assert main(["eval", str(tmp_path / "run")]) == 0
    assert "SNN test accuracy" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)   # the default used to be the current folder's docs/
    assert main(["figures", "run"]) == 0
    assert "membrane.png" in os.listdir(tmp_path / "run" / "figures")
    assert not (tmp_path / "docs").exists()


def test_every_cli_argument_has_help():
    import argparse
    from minijoint.cli import make_parser
    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name}: {a.dest}" for name, p in sub.choices.items() for a in p._actions if not a.help]
    assert missing == []


def test_mixed_dtypes_fail_in_the_forward_naming_both_operands():
    a = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = Tensor(np.ones((2, 3), np.float64), requires_grad=True)
    for op in (lambda: a + b, lambda: a * b, lambda: b - a, lambda: a / b, lambda: a @ b.T):
        with pytest.raises(TypeError, match=r"(a|b) float(32|64), (b|a) float(64|32)"):
            op()
    assert (a * 2.0).dtype == np.float32   # a Python scalar takes the tensor's dtype


def test_a_broadcasting_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) \(a\) and \(4,\) \(b\) do not broadcast"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"mul: shapes"):
        F.mul(np.ones((3, 2)), Tensor(np.ones((2, 3))))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, None])
def test_random_seed_takes_whole_numbers_only(bad):
    with pytest.raises(ValueError, match="whole number >= 0"):
        mj_random.seed(bad)


@pytest.mark.parametrize("where", [0, 2, 3])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("smooth", [False, True])
def test_lif_raises_on_a_non_finite_input_current(where, value, smooth):
    c = np.full((4, 2, 3), 0.3)
    c[where, 1, 2] = value
    with pytest.raises(FloatingPointError, match=rf"NaN or inf \(first at time step t = {where + 1} of 4\)"):
        lif(Tensor(c), smooth=smooth)
    c[where, 1, 2] = 0.3
    y, _ = lif_forward(c, 0.25, 0.5, None)   # finite input: unchanged behaviour
    assert np.isfinite(y).all()


def test_a_kd_teacher_of_another_width_names_the_checkpoint_and_both_widths(tmp_path):
    train(dataclasses.replace(TINY, mode="ann"), str(tmp_path / "teacher"), log=quiet)
    ckpt = str(tmp_path / "teacher" / "checkpoint.npz")
    with pytest.raises(CheckpointError, match=rf"kd teacher {ckpt} \(a resnet10 of width 4 on digits\) "
                                              r"does not fit this resnet10 of width 8"):
        train(dataclasses.replace(TINY, mode="kd", width=8, teacher=ckpt), str(tmp_path / "kd"), log=quiet)
