r"""Joint ANN–SNN training (Algorithm 1): one loop for every mode of Table 4.

:func:`train_step` is one iteration of Algorithm 1: run the networks the mode has, compute
its loss (Eqs. 7–10), back-propagate through both (the SNN through time, Eq. 4; with
``wft`` the shared U, Vh receive the sum of both networks' gradients, Eq. 13) and update
every trainable parameter. :func:`train_epoch` loops it over the training set;
:func:`train` runs the epochs, evaluates both networks after each, and keeps the run in a
run folder (:mod:`minijoint.joint.run`: lock, checkpoints, metrics, resume, signals).

A step that meets a NaN or inf — in the input batch, the loss, a gradient or a parameter
after the update — stops the run with :class:`TrainingDiverged` before anything is saved.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..optim import SGD, Adam, CosineAnnealing
from .build import (build_model, evaluate, evaluate_checkpoint, load_model_state, load_teacher,
                    load_trained, make_loaders)
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .modes import get_mode
from .run import (CHECKPOINT, ForcedInterrupt, RunFolder, RunInterrupted, signal_name,
                  stop_at_step_boundary)
from .runlog import ProgressBar

__all__ = ["train", "train_step", "train_epoch", "evaluate", "build_model", "load_trained",
           "evaluate_checkpoint", "load_model_state", "TrainingDiverged", "Progress", "CHECKPOINT"]


class TrainingDiverged(FloatingPointError):
    """A NaN or inf stopped the run; the message names the step and the first quantity."""


def train_step(model, loss_fn, optimizer, x, y):
    r"""One step of Algorithm 1 on the batch ``(x, y)``; returns ``(loss, parts)``.

    forward (both networks, T steps) → L (Eq. 10) → backward (BPTT, Eq. 4) → update.
    Raises :class:`TrainingDiverged` at the first NaN or inf, checked in this order: the
    input batch, the loss, the gradients, the parameters after the update.
    """
    images = getattr(x, "data", x)   # a Tensor or an array
    if not _all_finite([images]):
        raise TrainingDiverged(f"the input batch holds {_n_bad(images)} NaN or inf value(s)")
    try:
        out = model(x)
        total, parts = loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats, y)
    except FloatingPointError as e:
        raise TrainingDiverged(f"in the forward pass: {e}") from None
    value = float(total.data)
    if not math.isfinite(value):
        raise TrainingDiverged(f"the loss is {value}")
    optimizer.zero_grad()
    total.backward()
    if not _all_finite([p.grad for p in optimizer.params if p.grad is not None]):
        raise TrainingDiverged(f"the gradient of {_first_bad(model, lambda p: p.grad)} is NaN or inf")
    optimizer.step()
    if not _all_finite([p.data for p in optimizer.params]):
        raise TrainingDiverged(f"parameter {_first_bad(model, lambda p: p.data)} became NaN or "
                               "inf in the update")
    return value, parts


def _all_finite(arrays) -> bool:
    """Whether every array holds finite values only (one host sync for all of them)."""
    if not arrays:
        return True
    xp = get_array_module(arrays[0])
    return bool(xp.stack([xp.isfinite(a).all() for a in arrays]).all())


def _n_bad(a) -> int:
    return int((~get_array_module(a).isfinite(a)).sum())


def _first_bad(model, get) -> str:
    """The name of the first parameter (definition order) whose ``get(p)`` is not finite."""
    return next((f"{name} {tuple(p.shape)}" for name, p in model.named_parameters()
                 if get(p) is not None and not _all_finite([get(p)])), "a parameter")


@dataclass
class Progress:
    """Where a run stands: ``epoch`` epochs finished, ``step`` steps of the next one done,
    the running ``sums`` of the loss parts over those steps (``n`` images), the training
    ``seconds`` of the epoch, and one metrics row per finished epoch in ``history``."""

    epoch: int = 0
    step: int = 0
    sums: dict = field(default_factory=dict)
    seconds: float = 0.0
    history: list = field(default_factory=list)

    def add(self, loss: float, parts: dict, n: int, seconds: float) -> None:
        for k, v in (("loss", loss), *parts.items()):
            self.sums[k] = self.sums.get(k, 0.0) + v * n
        self.sums["n"] = self.sums.get("n", 0) + n
        self.step += 1
        self.seconds += seconds

    def end_epoch(self, row: dict) -> None:
        """Keep the finished epoch's metrics row and start the next epoch."""
        self.history.append(row)
        self.epoch, self.step, self.sums, self.seconds = self.epoch + 1, 0, {}, 0.0

    def means(self) -> dict:
        """The epoch's mean of every loss part computed so far (a part never computed is
        absent: ``kld`` with λ₁ = 0 is not a measured 0)."""
        n = max(self.sums.get("n", 0), 1)
        return {k: v / n for k, v in self.sums.items() if k != "n"}


def train_epoch(model, loader, loss_fn, optimizer, progress: Progress, label: str = "",
                stopped=lambda: None) -> None:
    """Run :func:`train_step` over ``loader`` from step ``progress.step`` on (resuming
    mid-epoch replays the same shuffle and skips what was done). After each step,
    ``stopped()`` (a signal number or None) may end the epoch early with
    :class:`~minijoint.joint.run.RunInterrupted`."""
    loader.set_epoch(progress.epoch)
    bar = ProgressBar(len(loader), label, stream=sys.stderr)
    model.train()
    for step, (x, y) in enumerate(loader):
        if step < progress.step:
            continue
        t0 = time.perf_counter()
        try:
            value, parts = train_step(model, loss_fn, optimizer, x, y)
        except TrainingDiverged as e:
            bar.close()
            raise TrainingDiverged(f"epoch {progress.epoch + 1}, step {step + 1}: {e}") from None
        progress.add(value, parts, len(y), time.perf_counter() - t0)
        bar.update(progress.step, {k: v for k, v in progress.means().items()
                                   if k in ("loss", "ce", "kld", "norm")})
        signum = stopped()
        if signum:
            bar.close()
            raise RunInterrupted(signum)
    bar.close()


def train(cfg: TrainConfig | None = None, out_dir: str | None = None, resume: bool = False,
          log=print, overwrite: bool = False, curves=None) -> dict:
    """Train ``cfg`` into the run folder ``out_dir`` (None: keep nothing on disk); return
    the last epoch's metrics row, with the whole ``history``.

    ``resume=True`` continues the run in ``out_dir`` exactly where its checkpoint stands;
    ``cfg`` may then be None (the saved settings) or differ from them in ``epochs`` only,
    to train on. A folder that holds a run is refused unless ``resume`` or ``overwrite``.
    Ctrl-C, SIGTERM and SIGHUP stop at the next step boundary and save a checkpoint that
    resumes exactly (:class:`~minijoint.joint.run.RunInterrupted`). ``curves``, e.g.
    :func:`minijoint.plot.plot_training_curves`, draws ``curves.png`` into the run folder
    every 5 epochs and at the end (training itself never imports plotting).
    """
    arrays = meta = None
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the run folder (--out)")
        run, cfg, arrays, meta = RunFolder.resume(out_dir, cfg, log)
    else:
        if cfg is None:
            raise ValueError("train: pass a TrainConfig (or resume=True with a run folder)")
        cfg.validate()
        run = RunFolder.start(out_dir, log, overwrite=overwrite) if out_dir else None
    try:
        with backend.using_backend(cfg.backend), backend.default_dtype(np.dtype(cfg.dtype)):
            teacher = _teacher(cfg, run, log) if get_mode(cfg.mode).frozen_teacher else None
            return _fit(cfg, run, arrays, meta, log, curves, teacher)
    finally:
        if run is not None:
            run.close()


def _fit(cfg, run, arrays, meta, log, curves, teacher):
    train_loader, test_loader, info = make_loaders(cfg)
    mode = get_mode(cfg.mode)
    model = build_model(cfg, info)
    if mode.frozen_teacher:
        load_teacher(model, teacher, cfg)
    params = model.snn_parameters() if mode.frozen_teacher else model.parameters()
    opt = (Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam"
           else SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    sched = CosineAnnealing(opt, T_max=cfg.epochs)
    loss_fn = mode.loss(cfg.lambda_kld, cfg.lambda_norm, cfg.temperature)
    progress = Progress()
    if meta is not None:
        _restore(model, opt, sched, arrays, meta, progress)
        sched.T_max = cfg.epochs   # equal unless --epochs grew: re-plan the cosine over it
        opt.lr = sched.lr
        log(f"resuming {run.path} at epoch {progress.epoch + 1}, step {progress.step}")
    if progress.epoch >= cfg.epochs:
        log(f"the run in {run.path} has finished its {cfg.epochs} epochs; pass a larger "
            "--epochs to train on")

    def save():
        if run is not None:
            run.save(*_snapshot(model, opt, sched, cfg, progress))

    try:
        with stop_at_step_boundary() as stopped:
            # said only once signals are caught: from this line on, a stop saves
            if progress.epoch < cfg.epochs:
                log(f"training {cfg.mode} on {cfg.dataset} ({len(train_loader.x)} train / "
                    f"{len(test_loader.x)} test): {cfg.model} width {cfg.width}, T={cfg.T}, "
                    f"{cfg.epochs} epochs, {cfg.backend}")
            while progress.epoch < cfg.epochs:
                lr = opt.lr
                train_epoch(model, train_loader, loss_fn, opt, progress,
                            f"epoch {progress.epoch + 1}/{cfg.epochs}", stopped)
                sched.step()
                ev = evaluate(model, test_loader)
                log("  test accuracy " + _accuracies(ev) + f" ({progress.seconds:.1f}s training)")
                progress.end_epoch(_metrics_row(progress, ev, lr))
                save()
                if run is not None:   # curves.png takes ~0.5 s: redrawn every 5 epochs and at the end
                    draw = progress.epoch == cfg.epochs or progress.epoch % 5 == 0
                    run.write_metrics(progress.history, curves if draw else None)
                signum = stopped()
                if signum:
                    raise RunInterrupted(signum)
    except TrainingDiverged as e:
        where = run.describe_checkpoint() if run else "Nothing was saved (no run folder)."
        raise TrainingDiverged(f"{e}. {where} Try a lower --lr, or check the data.") from None
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", None)
        what = signal_name(signum) if signum else "interrupted"
        if run is None or isinstance(e, ForcedInterrupt):
            log(f"\n{what}: stopped at once; " + (run.describe_checkpoint() if run else "nothing saved"))
            raise
        save()
        run.write_metrics(progress.history)
        log(f"\n{what}: checkpoint saved at epoch {progress.epoch + 1}, step {progress.step}; "
            f"continue with --resume --out {run.path}")
        raise
    final = dict(progress.history[-1]) if progress.history else {}
    final["history"] = progress.history
    if progress.history:
        log(f"test accuracy: {_accuracies(final)}")
    return final


def _accuracies(ev) -> str:
    return ", ".join(f"{p.upper()} {ev[f'{p}_acc']:.2%}" for p in ("ann", "snn") if f"{p}_acc" in ev)


def _metrics_row(progress, ev, lr) -> dict:
    """One row of ``metrics.csv``; a loss part that was not computed is None (blank)."""
    means = progress.means()
    row = {"epoch": progress.epoch + 1, "lr": lr}
    row.update({k: means.get(k) for k in ("loss", "ce", "kld", "norm", "ce_ann", "ce_snn")})
    row.update({k: ev[k] for k in ("ann_acc", "snn_acc") if k in ev})
    row.update({f"rate_{k}": v for k, v in ev["rates"].items()})
    row["seconds"] = progress.seconds
    return row


_PROGRESS = ("epoch", "step", "sums", "seconds", "history")


def _snapshot(model, opt, sched, cfg, progress):
    """(arrays, meta) of a checkpoint: the model's state, the optimizer's, the schedule's,
    the config and the progress."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"config": cfg.to_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
            **{k: getattr(progress, k) for k in _PROGRESS}}
    return arrays, meta


def _restore(model, opt, sched, arrays, meta, progress):
    load_model_state(model, arrays)
    opt.load_state_dict(meta["optim"])
    sched.load_state_dict(meta["sched"])
    for k in _PROGRESS:
        setattr(progress, k, meta[k])


def _teacher(cfg, run, log) -> str:
    """kd: the path of the ANN teacher's checkpoint: ``--teacher``, or the run folder's
    ``teacher/`` run, trained there first (mode ``ann``, same settings) when missing and
    resumed when unfinished."""
    if cfg.teacher is not None:
        return cfg.teacher
    if run is None:
        raise ValueError("kd mode needs a trained ANN: pass --teacher CHECKPOINT or --out DIR")
    teacher_dir = os.path.join(run.path, "teacher")
    path = os.path.join(teacher_dir, CHECKPOINT)
    tcfg = TrainConfig.from_dict({**cfg.to_dict(), "mode": "ann", "teacher": None})
    if not os.path.exists(path):
        log(f"kd mode needs a trained ANN teacher: training one first (mode ann) in {teacher_dir}")
        train(tcfg, teacher_dir, log=log)
    elif load_checkpoint(path)[1].get("epoch", 0) < tcfg.epochs:
        log(f"the ANN teacher in {teacher_dir} is unfinished: resuming it first")
        train(None, teacher_dir, resume=True, log=log)
    return path
