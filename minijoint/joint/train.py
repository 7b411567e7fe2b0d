r"""Joint ANN–SNN training (Algorithm 1): one loop for every mode of Table 4.

Each step runs the networks the mode has, computes its loss (Eqs. 7–10), back-propagates
through both (the SNN through time, Eq. 4) and takes an optimizer step on every trainable
parameter; with ``wft`` the shared U, Vh receive the sum of both networks' gradients
(Eq. 13). After each epoch both networks are evaluated on the test set and the run folder
gets a row of ``metrics.csv``, a fresh ``checkpoint.npz`` (written atomically) and
``curves.png``. ``resume=True`` continues from the checkpoint and reproduces the
uninterrupted run exactly on NumPy; Ctrl-C saves a checkpoint mid-epoch that resumes.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from .. import backend
from ..function import no_grad
from ..data import DataLoader, load_dataset
from ..data.augment import cifar_augment
from ..models import JointNet
from ..optim import SGD, Adam, CosineAnnealing
from ..snn.surrogate import get_surrogate
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .modes import get_mode
from .runlog import ProgressBar, write_metrics

CHECKPOINT = "checkpoint.npz"


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def build_model(cfg: TrainConfig, info) -> JointNet:
    """The JointNet a config describes (the mode decides which networks and ``wft``)."""
    mode = get_mode(cfg.mode)
    return JointNet(arch=cfg.model, num_classes=info.num_classes, width=cfg.width,
                    in_channels=info.in_channels, image_size=_side(info.image_size), T=cfg.T,
                    wft=mode.wft, tau=cfg.tau, v_th=cfg.v_th,
                    surrogate=get_surrogate(cfg.surrogate), detach_reset=cfg.detach_reset,
                    readout=cfg.readout, paths=mode.paths, rng=np.random.default_rng(cfg.seed))


def evaluate(model: JointNet, loader) -> dict:
    """Test accuracy of each network's classifier (fractions) and SNN firing rates per layer."""
    was_training = model.training
    model.eval()
    correct, rates, n = {}, {}, 0
    with no_grad():
        for x, y in loader:
            out = model(x, paths=("snn",) if _teacher_only(model) else None)
            for path, logits in (("ann", out.ann_logits), ("snn", out.snn_logits)):
                if logits is not None:
                    hit = int((logits[-1].data.argmax(axis=1) == y).sum())
                    correct[path] = correct.get(path, 0) + hit
            for name, r in model.firing_rates().items():
                rates[name] = rates.get(name, 0.0) + r * len(y)
            n += len(y)
    model.train(was_training)
    result = {f"{p}_acc": c / n for p, c in correct.items()}
    result["rates"] = {k: v / n for k, v in rates.items()}
    return result


def _teacher_only(model) -> bool:
    return getattr(model, "freeze_ann", False)


def train(cfg: TrainConfig, out_dir: str | None = None, resume: bool = False, log=print) -> dict:
    """Train ``cfg`` into ``out_dir``; return the final metrics row (plus the history)."""
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the run folder (--out)")
        arrays, meta = load_checkpoint(os.path.join(out_dir, CHECKPOINT))
        cfg = TrainConfig.from_dict(meta["config"])
    cfg.validate()
    with backend.using_backend(cfg.backend), backend.default_dtype(np.dtype(cfg.dtype)):
        return _train(cfg, out_dir, arrays if resume else None, meta if resume else None, log)


def _train(cfg, out_dir, arrays, meta, log):
    (x_tr, y_tr), (x_te, y_te), info = load_dataset(cfg.dataset, cfg.data_path)
    x_tr, y_tr = _as_run_dtype(x_tr[:cfg.limit_train], cfg), y_tr[:cfg.limit_train]
    x_te, y_te = _as_run_dtype(x_te[:cfg.limit_test], cfg), y_te[:cfg.limit_test]
    augment = cfg.augment if cfg.augment is not None else cfg.dataset != "digits"
    # a last batch of one image would give BN a single value per channel in the 1x1 stages
    train_loader = DataLoader(x_tr, y_tr, cfg.batch_size, shuffle=True, seed=cfg.seed,
                              drop_last=len(x_tr) % cfg.batch_size == 1,
                              augment=cifar_augment() if augment else None)
    test_loader = DataLoader(x_te, y_te, 256, shuffle=False)
    mode = get_mode(cfg.mode)
    model = build_model(cfg, info)
    if mode.frozen_teacher:
        _load_teacher(model, cfg, out_dir, log)
    params = model.snn_parameters() if mode.frozen_teacher else model.parameters()
    opt = (Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam"
           else SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    sched = CosineAnnealing(opt, T_max=cfg.epochs)
    loss_fn = mode.loss(cfg.lambda_kld, cfg.lambda_norm, cfg.temperature)
    state = {"epoch": 0, "step": 0, "sums": {}, "seconds": 0.0, "history": []}
    if arrays is not None:
        _restore(model, opt, sched, arrays, meta, state)
        log(f"resuming {out_dir} at epoch {state['epoch'] + 1}, step {state['step']}")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        _write_json(os.path.join(out_dir, "config.json"), cfg.to_dict())
    log(f"training {cfg.mode} on {cfg.dataset} ({len(x_tr)} train / {len(x_te)} test): "
        f"{cfg.model} width {cfg.width}, T={cfg.T}, {cfg.epochs} epochs, {cfg.backend}")
    save = (lambda: _save(out_dir, model, opt, sched, cfg, state)) if out_dir else (lambda: None)
    try:
        with _ctrl_c_at_step_boundary() as interrupted:
            _epochs(model, train_loader, test_loader, loss_fn, opt, sched, cfg, state, log, save,
                    out_dir, interrupted)
    except _ForcedInterrupt:
        log(f"\ninterrupted twice: the checkpoint in {out_dir} is the last one saved")
        raise
    except KeyboardInterrupt:
        save()
        if out_dir:
            write_metrics(out_dir, state["history"])
        log(f"\ninterrupted: checkpoint saved at epoch {state['epoch'] + 1}, step {state['step']}; "
            f"continue with --resume --out {out_dir}" if out_dir else "\ninterrupted")
        raise
    final = dict(state["history"][-1]) if state["history"] else {}
    final["history"] = state["history"]
    accs = ", ".join(f"{p.upper()} {final[f'{p}_acc']:.2%}" for p in ("ann", "snn") if f"{p}_acc" in final)
    log(f"test accuracy: {accs}")
    return final


class _ForcedInterrupt(KeyboardInterrupt):
    """A second Ctrl-C: stop at once, mid-step, saving nothing."""


@contextlib.contextmanager
def _ctrl_c_at_step_boundary():
    """Hold a Ctrl-C until the training step under way has finished, so that the checkpoint
    saved then is exactly the state between two steps (a forward cut short would already
    have moved BN's running statistics). Yields a function that says whether Ctrl-C was
    pressed; a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise _ForcedInterrupt
        pressed.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _epochs(model, train_loader, test_loader, loss_fn, opt, sched, cfg, state, log, save,
            out_dir, interrupted):
    while state["epoch"] < cfg.epochs:
        _run_epoch(model, train_loader, loss_fn, opt, cfg, state, log, interrupted)
        sched.step()
        ev = evaluate(model, test_loader)
        row = _metrics_row(state, ev)
        log("  test accuracy " + ", ".join(f"{p.upper()} {ev[f'{p}_acc']:.2%}" for p in ("ann", "snn")
                                           if f"{p}_acc" in ev) + f" ({row['seconds']:.1f}s training)")
        state["history"].append(row)
        state.update(epoch=state["epoch"] + 1, step=0, sums={}, seconds=0.0)
        save()
        if out_dir:  # curves.png takes ~0.5 s: redrawn every 5 epochs and at the end
            last = state["epoch"] == cfg.epochs
            write_metrics(out_dir, state["history"], curves=last or state["epoch"] % 5 == 0)
        if interrupted():
            raise KeyboardInterrupt


def _run_epoch(model, loader, loss_fn, opt, cfg, state, log, interrupted):
    epoch = state["epoch"]
    loader.set_epoch(epoch)
    bar = ProgressBar(len(loader), f"epoch {epoch + 1}/{cfg.epochs}", stream=sys.stderr)
    model.train()
    sums = state["sums"]
    for step, (x, y) in enumerate(loader):
        if step < state["step"]:
            continue  # resuming mid-epoch: the shuffle and augmentation replay identically
        t0 = time.perf_counter()
        out = model(x)
        try:
            total, parts = loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats, y)
        except FloatingPointError as e:
            raise TrainingDiverged(f"epoch {epoch + 1}, step {step + 1}: {e}; "
                                   "the last good checkpoint is kept") from None
        value = float(total.data)
        if not math.isfinite(value):
            raise TrainingDiverged(f"the loss is {value} at epoch {epoch + 1}, step {step + 1}; "
                                   "the last good checkpoint is kept (try a lower --lr)")
        opt.zero_grad()
        total.backward()
        opt.step()
        for k, v in (("loss", value), *parts.items()):
            sums[k] = sums.get(k, 0.0) + v * len(y)
        sums["n"] = sums.get("n", 0) + len(y)
        state["step"] = step + 1
        state["seconds"] += time.perf_counter() - t0
        bar.update(step + 1, {k: sums[k] / sums["n"] for k in ("loss", "ce", "kld", "norm")})
        if interrupted():
            bar.close()
            raise KeyboardInterrupt
    bar.close()


def _metrics_row(state, ev) -> dict:
    sums = state["sums"]
    n = max(sums.get("n", 0), 1)
    row = {"epoch": state["epoch"] + 1}
    row.update({k: sums.get(k, 0.0) / n for k in ("loss", "ce", "kld", "norm", "ce_ann", "ce_snn")})
    row.update({k: ev[k] for k in ("ann_acc", "snn_acc") if k in ev})
    row.update({f"rate_{k}": v for k, v in ev["rates"].items()})
    row["seconds"] = state["seconds"]
    return row


def _save(out_dir, model, opt, sched, cfg, state):
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"config": cfg.to_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
            **{k: state[k] for k in ("epoch", "step", "sums", "seconds", "history")}}
    save_checkpoint(os.path.join(out_dir, CHECKPOINT), arrays, meta)


def _restore(model, opt, sched, arrays, meta, state):
    load_model_state(model, arrays)
    opt.load_state_dict(meta["optim"])
    sched.load_state_dict(meta["sched"])
    for k in ("epoch", "step", "sums", "seconds", "history"):
        state[k] = meta[k]


def load_model_state(model, arrays) -> None:
    """Load ``model/…`` arrays of a checkpoint, with a clear error for another architecture."""
    sd = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(sd)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"the checkpoint does not fit this model (another architecture, "
                              f"width, mode or dataset?): {e}") from None


def _load_teacher(model, cfg, out_dir, log):
    """kd: load (or first train) the ANN teacher, then freeze it."""
    path = cfg.teacher
    if path is None:
        if out_dir is None:
            raise ValueError("kd mode needs a trained ANN: pass --teacher CHECKPOINT or --out DIR")
        teacher_dir = os.path.join(out_dir, "teacher")
        path = os.path.join(teacher_dir, CHECKPOINT)
        if not os.path.exists(path):
            log(f"kd mode needs a trained ANN teacher: training one first (mode ann) in {teacher_dir}")
            tcfg = TrainConfig.from_dict({**cfg.to_dict(), "mode": "ann", "teacher": None})
            _train(tcfg, teacher_dir, None, None, log)
    arrays, meta = load_checkpoint(path)
    if meta["config"]["mode"] != "ann":
        raise CheckpointError(f"kd teacher {path} is a {meta['config']['mode']!r} run, expected 'ann'")
    names = model.ann_state_names()
    sd = {k[len("model/"):]: v for k, v in arrays.items() if k[len("model/"):] in names}
    missing = sorted(names - set(sd))
    if missing:
        raise CheckpointError(f"kd teacher {path} does not fit this model: missing {missing[:5]}")
    model.load_state_dict(sd, strict=False)
    model.freeze_ann = True


def _write_json(path, obj):
    import json
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def load_trained(path: str):
    """``(model, cfg, test_loader)`` from a checkpoint: the model rebuilt from its saved
    config, its weights and BN statistics loaded, in eval mode on the config's backend."""
    arrays, meta = load_checkpoint(path)
    cfg = TrainConfig.from_dict(meta["config"]).validate()
    with backend.using_backend(cfg.backend), backend.default_dtype(np.dtype(cfg.dtype)):
        _, (x_te, y_te), info = load_dataset(cfg.dataset, cfg.data_path)
        x_te, y_te = _as_run_dtype(x_te[:cfg.limit_test], cfg), y_te[:cfg.limit_test]
        model = build_model(cfg, info)
        load_model_state(model, arrays)
        if get_mode(cfg.mode).frozen_teacher:
            model.freeze_ann = True
        loader = DataLoader(x_te, y_te, 256, shuffle=False)
    model.eval()
    return model, cfg, loader


def evaluate_checkpoint(path: str) -> dict:
    """Test accuracies and firing rates of a saved run (``python -m minijoint eval``)."""
    model, cfg, loader = load_trained(path)
    with backend.default_dtype(np.dtype(cfg.dtype)):
        return evaluate(model, loader)


def _as_run_dtype(x, cfg):
    """Images in the run's float dtype (the loaders give float32; ``--dtype float64`` trains
    in float64 end to end)."""
    return x.astype(cfg.dtype, copy=False)


def _side(size) -> int:
    """The side of a square image from an int or an (H, W) pair."""
    if isinstance(size, (tuple, list)):
        if size[0] != size[1]:
            raise ValueError(f"the networks take square images, got {size[0]}x{size[1]}")
        return int(size[0])
    return int(size)
