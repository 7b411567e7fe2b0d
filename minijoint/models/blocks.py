r"""Building blocks shared by the ANN and the SNN twin (paper Sections 4.2–4.4, docs/method.md §3–§4).

Every block holds ONE set of twin convolutions (:class:`~minijoint.nn.TwinConv2d`: shared
U, Vh with σ per path when ``wft=True``, separate W per path when ``wft=False``) and one
BatchNorm PER PATH (BN is never shared, docs/method.md §6). It runs either network:

* ``forward_ann(x)``: x (N, C, H, W) analog activations → (N, OC, OH, OW), ReLU activations;
* ``forward_snn(s)``: s (T, N, C, H, W) spikes → (T, N, OC, OH, OW) spikes. The stateless
  layers (conv, BN, pooling) run through :func:`~minijoint.nn.per_step`, time folded into
  the batch, so the SNN's BN takes its statistics over (T·N, H, W); only the LIF neurons
  see the time axis.

A block built without a path (``paths``) holds nothing of it: no σ / W, no BN, no LIF.
Each LIF is its own :class:`~minijoint.nn.LIF` module, so its firing rate is logged per
layer (``JointNet.firing_rates``).
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..nn.layers import BatchNorm2d
from ..nn.containers import ModuleList
from ..nn.module import Module
from ..nn.factorized import PATHS, TwinConv2d, check_paths
from ..nn.spiking import LIF, per_step, repeat_time

__all__ = ["TwinBatchNorm2d", "ConvBN", "Stem", "BasicBlock", "ConvBNAct", "MaxPool",
           "Stage", "check_int"]


def check_int(where: str, name: str, value, minimum: int, why: str = "") -> int:
    """``value`` as an int ≥ ``minimum``; a ValueError saying what was expected otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}{why}, got {value!r}")
    return int(value)


class TwinBatchNorm2d(Module):
    r"""One :class:`~minijoint.nn.BatchNorm2d` per path (docs/method.md §6: BN is never shared).

    ``forward(x, path)``: x (M, C, H, W) → BN_path(x). For the SNN, M = T·N (time folded
    into the batch), so the statistics run over (T·N, H, W). Attributes ``ann`` / ``snn``
    hold the two layers; a path not in ``paths`` gets None (no parameters, no buffers).
    """

    def __init__(self, num_features: int, paths=PATHS, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.paths = check_paths("TwinBatchNorm2d", paths)
        self.ann = BatchNorm2d(num_features, momentum, eps) if "ann" in self.paths else None
        self.snn = BatchNorm2d(num_features, momentum, eps) if "snn" in self.paths else None

    def bn(self, path) -> BatchNorm2d:
        """The BatchNorm2d of ``path``."""
        if path not in self.paths:
            raise ValueError(f"TwinBatchNorm2d: path must be one of {self.paths}, got {path!r}")
        return self.ann if path == "ann" else self.snn

    def forward(self, x, path):
        return self.bn(path)(x)

    def path_parameters(self, path) -> dict:
        """{name: Parameter} of ``path``'s BatchNorm ("ann.gamma", …)."""
        return dict(self.bn(path).named_parameters(path))

    def extra_repr(self):
        return f"paths={self.paths}"


class ConvBN(Module):
    r"""A twin convolution followed by the path's BatchNorm, no activation:
    ``forward(x, path) = BN_path(conv(x, W_path))``, x (M, C, H, W) → (M, OC, OH, OW).
    The convolution has no bias (BN's β plays that role)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, wft, paths, rng):
        super().__init__()
        self.conv = TwinConv2d(in_channels, out_channels, kernel_size, stride=stride,
                               padding=padding, bias=False, wft=wft, paths=paths, rng=rng)
        self.bn = TwinBatchNorm2d(out_channels, paths)

    def forward(self, x, path):
        return self.bn(self.conv(x, path), path)


class Stem(Module):
    r"""The first convolution (3×3) with BN and activation: the only layer that sees the image.

    * ANN: ``relu(BN(conv x))``.
    * SNN, direct encoding (docs/method.md §3): the analog image enters the stem at every step, and
      ``BN(conv x)`` is the same at every t, so it is computed ONCE on (N, C, H, W) and
      broadcast over T (``repeat_time``; its gradient is the sum over t). In training mode
      the BN output equals that of the stem run on T stacked copies (same batch mean and
      biased variance). Then ``LIF``: (N, C, H, W) → (T, N, OC, OH, OW) spikes.
    """

    def __init__(self, in_channels, out_channels, stride, wft, paths, lif_kw, rng):
        super().__init__()
        self.unit = ConvBN(in_channels, out_channels, 3, stride, 1, wft, paths, rng)
        self.lif = LIF(**lif_kw) if "snn" in paths else None

    def forward_ann(self, x):
        return F.relu(self.unit(x, "ann"))

    def forward_snn(self, x, T: int):
        return self.lif(repeat_time(self.unit(x, "snn"), T))


class BasicBlock(Module):
    r"""The ResNet basic block and its spiking twin (Eq. 6 with g = LIF, docs/method.md §4):

        ANN:  out = relu( BN₂(conv₂ relu(BN₁(conv₁ x))) + shortcut(x) )
        SNN:  out = LIF₂( BN₂(conv₂ LIF₁(BN₁(conv₁ s))) + shortcut(s) )

    conv₁ is 3×3 with ``stride``, conv₂ 3×3 stride 1. shortcut is the identity, or a 1×1
    conv (with ``stride``) + BN when the shape changes (stride ≠ 1 or C ≠ OC). The SNN's
    shortcut carries spikes s (T, N, C, H, W); its sum with the residual is the current of LIF₂.
    """

    def __init__(self, in_channels, out_channels, stride, wft, paths, lif_kw, rng):
        super().__init__()
        snn = "snn" in paths
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.unit1 = ConvBN(in_channels, out_channels, 3, stride, 1, wft, paths, rng)
        self.lif1 = LIF(**lif_kw) if snn else None
        self.unit2 = ConvBN(out_channels, out_channels, 3, 1, 1, wft, paths, rng)
        self.lif2 = LIF(**lif_kw) if snn else None
        reshape = stride != 1 or in_channels != out_channels
        self.shortcut = ConvBN(in_channels, out_channels, 1, stride, 0, wft, paths, rng) \
            if reshape else None

    def _shortcut(self, x, path):
        return x if self.shortcut is None else self.shortcut(x, path)

    def forward_ann(self, x):
        """x (N, C, H, W) → (N, OC, OH, OW)."""
        h = F.relu(self.unit1(x, "ann"))
        return F.relu(self.unit2(h, "ann") + self._shortcut(x, "ann"))

    def forward_snn(self, s):
        """s (T, N, C, H, W) spikes → (T, N, OC, OH, OW) spikes; conv₁ and the shortcut read
        the same folded s."""
        c1, short = per_step(lambda s4: (self.unit1(s4, "snn"), self._shortcut(s4, "snn")), s)
        h = self.lif1(c1)                                          # LIF₁(BN₁(conv₁ s))
        c2 = per_step(lambda h4: self.unit2(h4, "snn"), h)         # BN₂(conv₂ h)
        return self.lif2(c2 + short)                               # LIF₂(… + shortcut(s))

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class ConvBNAct(Module):
    r"""The VGG unit: 3×3 conv (stride 1, padding 1) + BN + activation.

        ANN:  relu(BN(conv x))          SNN:  LIF(BN(conv s))   (conv, BN folded over T)
    """

    def __init__(self, in_channels, out_channels, wft, paths, lif_kw, rng):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.unit = ConvBN(in_channels, out_channels, 3, 1, 1, wft, paths, rng)
        self.lif = LIF(**lif_kw) if "snn" in paths else None

    def forward_ann(self, x):
        return F.relu(self.unit(x, "ann"))

    def forward_snn(self, s):
        return self.lif(per_step(lambda s4: self.unit(s4, "snn"), s))

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}"


class MaxPool(Module):
    r"""2×2 max-pooling, stride 2 (VGG's down-sampling). On spikes it is stateless and folds
    T: the max of 0/1 values is a spike iff any input in the window spiked."""

    def forward_ann(self, x):
        return F.max_pool2d(x, 2, stride=2)

    def forward_snn(self, s):
        return per_step(lambda s4: F.max_pool2d(s4, 2, stride=2), s)


class Stage(Module):
    r"""A stage: units run in order (``forward_ann`` / ``forward_snn``); its exit is a branch
    point (Section 4.2: GAP → FC after each of the four stages).
    ``out_channels``: channels of the stage's output; ``size``: its spatial side for the
    network's ``image_size`` (for documentation and tests)."""

    def __init__(self, units, out_channels: int, size: int):
        super().__init__()
        self.units = ModuleList(units)
        self.out_channels, self.size = out_channels, size

    def forward_ann(self, x):
        for u in self.units:
            x = u.forward_ann(x)
        return x

    def forward_snn(self, s):
        for u in self.units:
            s = u.forward_snn(s)
        return s

    def extra_repr(self):
        return f"out_channels={self.out_channels}, size={self.size}"
