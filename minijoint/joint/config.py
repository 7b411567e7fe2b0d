r"""``TrainConfig``: every setting of a run, validated, saved as ``config.json``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..data.loader import DATASETS
from ..models.joint import MODELS as _ARCHS
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
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.tau < 1:
            raise ValueError(f"tau must lie in (0, 1), got {self.tau}")
        if self.v_th <= 0:
            raise ValueError(f"v_th must be > 0, got {self.v_th}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
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


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
