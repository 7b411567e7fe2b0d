r"""``TrainConfig``: every setting of a run, validated, saved as ``config.json``."""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from ..data.loader import DATASETS
from ..models.joint import MODELS as _ARCHS
from ..snn.lif import check_settings
from ..snn.surrogate import SURROGATES
from .modes import get_mode

MODELS = tuple(_ARCHS)


@dataclass
class TrainConfig:
    """Defaults: the README's first command — ``full`` on digits, a one-block-per-stage
    spiking ResNet (``resnet10``) of width 16 at T = 4, Adam with coupled L2 and a cosine
    schedule (docs/method.md §7)."""

    mode: str = "full"
    dataset: str = "digits"
    data_path: str | None = None
    model: str = "resnet10"
    width: int = 16
    T: int = 4
    tau: float = 0.25
    v_th: float = 0.5
    surrogate: str = "rectangle"
    detach_reset: bool = False
    readout: str = "mean"
    epochs: int = 40
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lambda_kld: float = 1.0
    lambda_norm: float = 0.3
    temperature: float = 1.0
    seed: int = 0
    backend: str = "numpy"
    dtype: str = "float32"
    augment: bool | None = None      # None: on for CIFAR/Tiny-ImageNet, off for digits
    teacher: str | None = None       # kd: checkpoint of a trained `ann` run
    limit_train: int | None = None   # use only the first n training images (quick runs)
    limit_test: int | None = None

    def validate(self) -> "TrainConfig":
        get_mode(self.mode)
        _choice("model", self.model, MODELS)
        _choice("dataset", self.dataset, DATASETS)
        _choice("surrogate", self.surrogate, SURROGATES)
        _choice("readout", self.readout, ("mean", "sum"))
        _choice("optimizer", self.optimizer, ("adam", "sgd"))
        _choice("backend", self.backend, ("numpy", "cupy"))
        _choice("dtype", self.dtype, ("float32", "float64"))
        for name in ("T", "width", "epochs", "batch_size"):
            _whole(name, getattr(self, name), 1)
        for name in ("limit_train", "limit_test"):
            if getattr(self, name) is not None:
                _whole(name, getattr(self, name), 1, " (or None for all images)")
        _whole("seed", self.seed, 0)
        check_settings("TrainConfig", self.tau, self.v_th, self.surrogate)   # the LIF's own rule
        for name, low, high in (("lr", 0, None),
                                ("temperature", 0, None), ("weight_decay", None, None),
                                ("lambda_kld", None, None), ("lambda_norm", None, None),
                                ("momentum", None, 1)):
            _real(name, getattr(self, name), low, high)
        for name in ("weight_decay", "lambda_kld", "lambda_norm", "momentum"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dataset != "digits" and not self.data_path:
            raise ValueError(f"dataset {self.dataset!r} needs --data-path (it is never downloaded)")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        return cls(**d)


def _whole(name, value, low, hint=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be >= {low}, a whole number{hint}; got {value!r}")


def _real(name, value, low, high):
    """A finite number, strictly inside (low, high) where those are given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and not value > low) or (high is not None and not value < high):
        where = (f"lie in ({low}, {high})" if low is not None and high is not None
                 else f"be > {low}" if low is not None else f"be < {high}")
        raise ValueError(f"{name} must {where}, got {value!r}")


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
