r"""``JointNet``: an ANN and an SNN over one architecture, with four branches each
(paper Sections 4.2–4.4, docs/method.md §3–§4, §6).

What the two networks share and what they do not:

==================  =========================================================================
twin convolutions   ``wft=True``: U, Vh shared, σ_ANN / σ_SNN per path (nn/factorized.py);
                    ``wft=False``: separate W_ANN, W_SNN (the baseline of Table 4)
BatchNorm           one per path, never shared (docs/method.md §6)
branch heads        four per network: after stage i, GAP → Linear (stage 4's is the classifier)
==================  =========================================================================

Forward, x (N, C, H, W) analog images:

* ANN: stem → stage 1..4; branch i: Fᵢ = GAP(stage-i output) (N, Cᵢ), zᵢ = headᵢ(Fᵢ).
* SNN, direct encoding: the stem's conv+BN runs once on x and is broadcast over T, then
  LIF; the stages run on spikes (T, N, C, H, W). Fᵢ = GAP(stage-i spikes) averaged over T
  (firing rates in [0, 1]); zᵢ = the readout of headᵢ over the T steps
  (:func:`~minijoint.nn.readout_from_mean` of Fᵢ), their mean (``readout_mode="mean"``, the
  paper) or their sum (``"sum"``, the released code); Fᵢ stays the mean rates either way.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from .. import functional as F
from ..function import no_grad
from ..nn.factorized import TwinConv2d, check_paths
from ..nn.layers import Linear
from ..nn.module import Module
from ..nn.spiking import LIF, per_step, readout, readout_from_mean
from ..random import get_rng
from ..tensor import Tensor
from .blocks import TwinBatchNorm2d, check_int
from .resnet import RESNET_STAGES, build_resnet
from .vgg import build_vgg

__all__ = ["JointOutput", "JointNet", "build_joint_net", "MODELS"]

MODELS = {**{name: build_resnet for name in RESNET_STAGES}, "vgg16": build_vgg}
READOUTS = ("mean", "sum")


@dataclass
class JointOutput:
    """What :meth:`JointNet.forward` returns: for each path, 4 Tensors in stage order, or
    None for a path not run. logits (N, K); feats (N, Cᵢ) (SNN: firing rates in [0, 1])."""

    ann_logits: list | None = None
    ann_feats: list | None = None
    snn_logits: list | None = None
    snn_feats: list | None = None


class JointNet(Module):
    r"""The ANN and the SNN of one architecture with their branches (see the module docstring).

    arch          "resnet10" | "resnet18" | "resnet34" | "vgg16"
    num_classes   K, the width of every head
    width         w: stage channels w, 2w, 4w, 8w (64 is the paper's)
    in_channels   image channels (1 for digits, 3 for CIFAR)
    image_size    side of the square input; sets the ResNet stem's stride (resnet.py)
    T             time steps of the SNN
    wft           True: factorized twin weights; False: separate weights
    tau, v_th, surrogate, detach_reset   the LIF settings of every neuron (docs/method.md §1)
    readout_mode  "mean" (the paper) or "sum" (the released code: T times the mean's
                  logits); see :func:`~minijoint.nn.readout`
    paths         which networks exist: ("ann", "snn"), ("snn",) or ("ann",). Nothing is
                  built for a missing path: no σ / W in the twin convolutions, no BN, no
                  heads, no LIF.
    rng           NumPy Generator for every initial weight (default: the shared one)

    Attributes: ``stem``, ``stages`` (4), ``ann_heads`` / ``snn_heads`` (4 Linear each, or
    None), ``freeze_ann`` (False; when True the ANN path runs under no_grad with its BN in
    eval mode: the frozen teacher of the ``kd`` mode).
    """

    def __init__(self, arch="resnet10", num_classes=10, width=16, in_channels=1, image_size=8,
                 T=4, wft=True, tau=0.25, v_th=0.5, surrogate=None, detach_reset=False,
                 readout_mode="mean", paths=("ann", "snn"), rng=None):
        super().__init__()
        if arch not in MODELS:
            raise ValueError(f"JointNet: unknown model {arch!r}; known models: "
                             f"{', '.join(sorted(MODELS))}")
        self.arch = arch
        self.num_classes = check_int("JointNet", "num_classes", num_classes, 1)
        self.in_channels = check_int("JointNet", "in_channels", in_channels, 1)
        self.T = check_int("JointNet", "T", T, 1, " (time steps)")
        if readout_mode not in READOUTS:
            raise ValueError(f"JointNet: readout_mode must be one of {READOUTS}, "
                             f"got {readout_mode!r}")
        self.readout_mode = readout_mode
        self.paths = check_paths("JointNet", paths)
        self.wft = bool(wft)
        self.freeze_ann = False
        lif_kw = dict(tau=tau, v_th=v_th, surrogate=surrogate, detach_reset=detach_reset)
        rng = get_rng(rng)
        self.stem, self.stages = MODELS[arch](arch, width, in_channels, image_size, wft,
                                              self.paths, lif_kw, rng)
        self.width, self.image_size = int(width), int(image_size)   # validated by the builder
        channels = [s.out_channels for s in self.stages]
        self.ann_heads = [Linear(c, num_classes, rng=rng) for c in channels] \
            if "ann" in self.paths else None
        self.snn_heads = [Linear(c, num_classes, rng=rng) for c in channels] \
            if "snn" in self.paths else None

    # ---- forward ------------------------------------------------------------------
    def forward(self, x, paths=None) -> JointOutput:
        """Run the networks in ``paths`` (default: all built) on x (N, C, H, W)."""
        x = self._check_input(x)
        paths = self.paths if paths is None else check_paths("JointNet.forward", paths)
        missing = [p for p in paths if p not in self.paths]
        if missing:
            raise ValueError(f"JointNet.forward: path {missing[0]!r} was not built "
                             f"(this network has paths={self.paths})")
        out = JointOutput()
        if "ann" in paths:
            with self._ann_context():
                out.ann_logits, out.ann_feats = self._forward_ann(x)
        if "snn" in paths:
            out.snn_logits, out.snn_feats = self._forward_snn(x)
        return out

    def _forward_ann(self, x):
        logits, feats = [], []
        h = self.stem.forward_ann(x)
        for stage, head in zip(self.stages, self.ann_heads):
            h = stage.forward_ann(h)
            f = F.global_avg_pool2d(h)                                  # Fᵢ (N, Cᵢ)
            feats.append(f)
            logits.append(head(f))                                      # zᵢ (N, K)
        return logits, feats

    def _forward_snn(self, x):
        logits, feats = [], []
        s = self.stem.forward_snn(x, self.T)                            # (T, N, C, H, W)
        for stage, head in zip(self.stages, self.snn_heads):
            s = stage.forward_snn(s)
            rates = per_step(F.global_avg_pool2d, s)                    # (T, N, Cᵢ)
            f = readout(rates)                                          # Fᵢ: mean over T
            feats.append(f)
            logits.append(readout_from_mean(f, self.T, self.readout_mode, head))  # zᵢ (N, K)
        return logits, feats

    def _check_input(self, x):
        if not isinstance(x, Tensor):
            if not hasattr(x, "shape"):
                raise TypeError(f"JointNet: x must be a Tensor or array (N, C, H, W), "
                                f"got {type(x).__name__}")
            x = Tensor(x)
        want = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"JointNet: x must have shape (N, {want[0]}, {want[1]}, {want[2]}) "
                             f"(in_channels={want[0]}, image_size={want[1]}), "
                             f"got shape {tuple(x.shape)}")
        return x

    @contextlib.contextmanager
    def _ann_context(self):
        """no_grad and the ANN's BN in eval mode while ``freeze_ann``; nothing otherwise."""
        if not self.freeze_ann:
            yield
            return
        bns = [m.ann for _, m in self.named_modules() if isinstance(m, TwinBatchNorm2d)]
        modes = [bn.training for bn in bns]
        for bn in bns:
            bn.training = False
        try:
            with no_grad():
                yield
        finally:
            for bn, mode in zip(bns, modes):
                bn.training = mode

    # ---- introspection --------------------------------------------------------------
    def lif_layers(self) -> list:
        """(name, LIF module) for every neuron layer, in forward order."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, LIF)]

    def firing_rates(self) -> dict:
        """{LIF layer name: fraction of neurons that fired, over T·N·…} from the last SNN
        forward (layers that have not run yet are left out)."""
        rates = {n: m.last_rate for n, m in self.lif_layers()}  # each read once: one device sync
        return {n: float(r) for n, r in rates.items() if r is not None}

    def twin_layers(self) -> list:
        """(name, twin convolution) for every one, in definition (= forward) order."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, TwinConv2d)]

    def set_smooth(self, flag: bool = True) -> None:
        """Every LIF fires P(u_pre) instead of H when ``flag`` (for gradient checks, docs/method.md §1)."""
        for _, m in self.lif_layers():
            m.smooth = bool(flag)

    # ---- parameters per path ----------------------------------------------------------
    def named_path_parameters(self, path) -> list:
        """(name, Parameter) that ``path``'s forward reads, in :meth:`named_parameters`
        order: shared U/Vh and σ_path or W_path, the path's BN and its heads. Empty for a
        path that was not built."""
        if path not in self.paths:
            return []
        out = []
        for name, m in self.named_modules():
            if isinstance(m, (TwinConv2d, TwinBatchNorm2d)):
                out += [(f"{name}.{n}", p) for n, p in m.path_parameters(path).items()]
        heads = f"{path}_heads"
        for i, head in enumerate(getattr(self, heads)):
            out += list(head.named_parameters(f"{heads}.{i}"))
        return out

    def ann_parameters(self) -> list:
        """Parameters the ANN reads: shared U/Vh, σ_ANN or W_ANN, ANN BN, ANN heads."""
        return [p for _, p in self.named_path_parameters("ann")]

    def ann_state_names(self) -> set:
        """state_dict keys that belong to the ANN: its parameters (shared U/Vh included)
        and its BN statistics. ``kd`` loads exactly these from a trained ``ann`` run."""
        names = {n for n, _ in self.named_path_parameters("ann")}
        for n, m in self.named_modules():
            if isinstance(m, TwinBatchNorm2d) and m.ann is not None:
                names |= {b for b, _ in m.ann.named_buffers(f"{n}.ann")}
        return names

    def snn_parameters(self) -> list:
        """Parameters the SNN reads: shared U/Vh, σ_SNN or W_SNN, SNN BN, SNN heads."""
        return [p for _, p in self.named_path_parameters("snn")]

    def extra_repr(self):
        return (f"arch={self.arch!r}, width={self.width}, T={self.T}, wft={self.wft}, "
                f"paths={self.paths}, readout_mode={self.readout_mode!r}")


def build_joint_net(arch: str, **kw) -> JointNet:
    """``JointNet(arch=arch, **kw)``; ``arch`` one of :data:`MODELS`."""
    return JointNet(arch=arch, **kw)
