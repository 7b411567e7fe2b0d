r"""A run's pieces from its config, and trained runs read back.

:func:`build_model` and :func:`make_loaders` turn a :class:`TrainConfig` into the
:class:`~minijoint.models.JointNet` and the data it trains on; :func:`evaluate` measures
both networks' test accuracy and the SNN's firing rates; :func:`load_trained` rebuilds a
saved run for ``eval``, ``energy`` and ``figures``.
"""
from __future__ import annotations

import os

import numpy as np

from .. import backend
from ..data import DataLoader, load_dataset
from ..data.augment import cifar_augment
from ..function import no_grad
from ..models import JointNet
from ..nn.spiking import RateMeter
from ..snn.surrogate import get_surrogate
from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig
from .modes import get_mode
from .run import CHECKPOINT

__all__ = ["build_model", "make_loaders", "evaluate", "load_trained", "evaluate_checkpoint",
           "load_model_state", "load_teacher"]


def build_model(cfg: TrainConfig, info) -> JointNet:
    """The JointNet a config describes (the mode decides which networks and ``wft``)."""
    mode = get_mode(cfg.mode)
    return JointNet(arch=cfg.model, num_classes=info.num_classes, width=cfg.width,
                    in_channels=info.in_channels, image_size=_side(info.image_size), T=cfg.T,
                    wft=mode.wft, tau=cfg.tau, v_th=cfg.v_th,
                    surrogate=get_surrogate(cfg.surrogate), detach_reset=cfg.detach_reset,
                    readout_mode=cfg.readout, paths=mode.paths,
                    rng=np.random.default_rng(cfg.seed))


def evaluate(model: JointNet, loader) -> dict:
    """Test accuracy of each network's classifier (fractions) and SNN firing rates per layer."""
    was_training = model.training
    model.eval()
    correct, rates, n = {}, RateMeter(), 0
    with no_grad():
        for x, y in loader:
            out = model(x, paths=("snn",) if _ann_frozen(model) else None)
            for path, logits in (("ann", out.ann_logits), ("snn", out.snn_logits)):
                if logits is not None:
                    hit = int((logits[-1].data.argmax(axis=1) == y).sum())
                    correct[path] = correct.get(path, 0) + hit
            rates.add(model.firing_rates(), len(y))
            n += len(y)
    model.train(was_training)
    result = {f"{p}_acc": c / n for p, c in correct.items()}
    result["rates"] = rates.rates
    return result


def _ann_frozen(model) -> bool:
    """kd: the ANN is a frozen teacher, so only the SNN is evaluated."""
    return getattr(model, "freeze_ann", False)


def make_loaders(cfg):
    """(train loader, test loader, dataset info) for ``cfg``, in the run's dtype."""
    (x_tr, y_tr), (x_te, y_te), info = load_dataset(cfg.dataset, cfg.data_path)
    x_tr, y_tr = _as_run_dtype(x_tr[:cfg.limit_train], cfg), y_tr[:cfg.limit_train]
    x_te, y_te = _as_run_dtype(x_te[:cfg.limit_test], cfg), y_te[:cfg.limit_test]
    augment = cfg.augment if cfg.augment is not None else cfg.dataset != "digits"
    # a last batch of one image would give BN a single value per channel in the 1x1 stages
    train_loader = DataLoader(x_tr, y_tr, cfg.batch_size, shuffle=True, seed=cfg.seed,
                              drop_last=len(x_tr) % cfg.batch_size == 1,
                              augment=cifar_augment() if augment else None)
    return train_loader, DataLoader(x_te, y_te, 256, shuffle=False), info


def load_model_state(model, arrays) -> None:
    """Load ``model/…`` arrays of a checkpoint, with a clear error for another architecture."""
    sd = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(sd)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"the checkpoint does not fit this model (another architecture, "
                              f"width, mode or dataset?): {e}") from None


def load_trained(path: str):
    """``(model, cfg, test_loader)`` from a checkpoint: the model rebuilt from its saved
    config, its weights and BN statistics loaded, in eval mode on the config's backend.
    ``path`` may be the run folder. A checkpoint holding NaN or inf is refused."""
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    arrays, meta = load_checkpoint(path)
    if "config" not in meta:
        raise CheckpointError(f"{path} is not a training checkpoint of minijoint (its metadata "
                              "has no 'config')")
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


def load_teacher(model, path: str, cfg) -> None:
    """kd: load the trained ``ann`` run at ``path`` into the ANN of ``model`` (a JointNet
    built from ``cfg``) and freeze it; a clear error when it is not an ``ann`` run or does
    not fit."""
    arrays, meta = load_checkpoint(path)
    tc = meta.get("config")
    if tc is None or tc.get("mode") != "ann":
        raise CheckpointError(f"kd teacher {path} is {'a ' + repr(tc['mode']) if tc else 'not a'} "
                              "training run; expected a trained 'ann' run")
    names = model.ann_state_names()
    sd = {k[len("model/"):]: v for k, v in arrays.items() if k[len("model/"):] in names}
    missing = sorted(names - set(sd))
    about = (f"kd teacher {path} (a {tc.get('model')} of width {tc.get('width')} on "
             f"{tc.get('dataset')}) does not fit this {cfg.model} of width {cfg.width} on {cfg.dataset}")
    if missing:
        raise CheckpointError(f"{about}: it lacks {missing[:3]}")
    try:
        model.load_state_dict(sd, strict=False)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{about}: {e}") from None
    model.freeze_ann = True
