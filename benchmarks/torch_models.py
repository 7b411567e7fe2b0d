r"""The PyTorch twin of minijoint's ``JointNet`` ResNet, for the benchmarks only.

PyTorch is an optional *benchmark* dependency: nothing in ``minijoint/`` imports this file.
Every layer has the same shape, order and arithmetic as in ``minijoint/models/``:

* stem: 3×3 conv (no bias) + BN computed ONCE on x (N, C, H, W) and broadcast over T,
  then LIF (SNN); relu(BN(conv x)) (ANN);
* BasicBlock: ``LIF₂(BN₂(conv₂ LIF₁(BN₁(conv₁ s))) + shortcut(s))``, the shortcut a 1×1
  conv + BN when the shape changes; convs and BN run on the folded (T·N, C, H, W);
* four branch heads (GAP → Linear) per network, the SNN's on firing rates averaged over T;
* twin convs: separate W per path (``wft=False``) or one SVD per kernel position,
  W_path = U · diag(σ_path) · Vh, permuted (KH, KW, OC, C) → (OC, C, KH, KW) (``wft=True``);
* LIF (τ, V_th, Rectangle(a) surrogate, reset not detached), either as ONE
  ``torch.autograd.Function`` over the whole sequence with the hand-written BPTT
  (``lif="function"``, the default: the same algorithm as minijoint's LIF op) or as the
  usual autograd loop over t with a surrogate spike function (``lif="autograd"``).

Parameter names mirror minijoint's (``stages.1.units.0.unit1.conv.W_snn`` …), so
:func:`copy_from_minijoint` can load a minijoint model's weights and both frameworks then
compute the same loss and gradients (bench_step.py checks this in float64).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch import nn

__all__ = ["LIFSequence", "SpikeRectangle", "lif_autograd", "LIF", "TwinConv", "ConvBN",
           "Stem", "BasicBlock", "Stage", "TorchJointNet", "joint_loss", "copy_from_minijoint"]

RESNET_STAGES = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
STAGE_STRIDES = (1, 2, 2, 2)


class LIFSequence(torch.autograd.Function):
    r"""LIF over the whole sequence c (T, N, ...) → spikes y (T, N, ...), one op:

        forward   u_preᵗ = τ·uᵗ⁻¹ + cᵗ,   yᵗ = H(u_preᵗ − V_th),   uᵗ = u_preᵗ·(1 − yᵗ)
        backward  s = (1/a)·1[|u_pre − V_th| < a/2],   ∂uᵗ/∂u_preᵗ = 1 − yᵗ − u_preᵗ·sᵗ
                  ḡcᵗ = gyᵗ·sᵗ + τ·ḡcᵗ⁺¹·∂uᵗ/∂u_preᵗ   (t = T−1 … 1)
    Saves u_pre and y (as minijoint's LIF op does)."""

    @staticmethod
    def forward(ctx, c, tau, v_th, a):
        u_pre = torch.empty(c.shape, dtype=c.dtype, device=c.device)
        y = torch.empty_like(u_pre)
        u = torch.zeros_like(u_pre[0])
        for t in range(c.shape[0]):
            torch.add(c[t], u, alpha=tau, out=u_pre[t])
            torch.ge(u_pre[t], v_th, out=y[t])
            torch.mul(u_pre[t], y[t], out=u)          # uᵗ = u_preᵗ − u_preᵗ·yᵗ
            torch.sub(u_pre[t], u, out=u)
        ctx.save_for_backward(u_pre, y)
        ctx.settings = tau, v_th, a
        return y

    @staticmethod
    def backward(ctx, gy):
        u_pre, y = ctx.saved_tensors
        tau, v_th, a = ctx.settings
        s = torch.sub(u_pre, v_th).abs_().lt_(0.5 * a)      # in place, as minijoint's op
        if a != 1.0:
            s.div_(a)
        du = torch.mul(u_pre, s).add_(y).neg_().add_(1.0)   # 1 − yᵗ − u_preᵗ·sᵗ
        gc = torch.mul(gy, s)
        gu = torch.empty_like(u_pre[0])
        for t in range(u_pre.shape[0] - 2, -1, -1):
            torch.mul(gc[t + 1], tau, out=gu)
            gc[t].add_(gu.mul_(du[t]))
        return gc, None, None, None


class SpikeRectangle(torch.autograd.Function):
    """y = H(u_pre − V_th); ḡu_pre = gy · (1/a)·1[|u_pre − V_th| < a/2] (straight-through)."""

    @staticmethod
    def forward(ctx, u_pre, v_th, a):
        ctx.save_for_backward(u_pre)
        ctx.settings = v_th, a
        return (u_pre >= v_th).to(u_pre.dtype)

    @staticmethod
    def backward(ctx, gy):
        (u_pre,) = ctx.saved_tensors
        v_th, a = ctx.settings
        return gy * ((u_pre - v_th).abs() < 0.5 * a).to(gy.dtype) / a, None, None


def lif_autograd(c, tau, v_th, a):
    """The common PyTorch LIF: a loop over t whose membrane arithmetic autograd records."""
    u, ys = torch.zeros_like(c[0]), []
    for t in range(c.shape[0]):
        u_pre = tau * u + c[t]
        y = SpikeRectangle.apply(u_pre, v_th, a)
        u = u_pre * (1.0 - y)                     # reset not detached
        ys.append(y)
    return torch.stack(ys)


class LIF(nn.Module):
    """LIF neurons over (T, N, ...); ``mode`` "function" (LIFSequence) or "autograd"."""

    def __init__(self, tau=0.25, v_th=0.5, a=1.0, mode="function"):
        super().__init__()
        if mode not in ("function", "autograd"):
            raise ValueError(f"LIF: mode must be 'function' or 'autograd', got {mode!r}")
        self.tau, self.v_th, self.a, self.mode = float(tau), float(v_th), float(a), mode

    def forward(self, c):
        if self.mode == "function":
            return LIFSequence.apply(c, self.tau, self.v_th, self.a)
        return lif_autograd(c, self.tau, self.v_th, self.a)


class TwinConv(nn.Module):
    """Twin conv (no bias): W_ann / W_snn, or U, Vh and σ per path (one SVD per position)."""

    def __init__(self, C, OC, k, stride, padding, wft, paths):
        super().__init__()
        self.stride, self.padding, self.wft = stride, padding, wft
        W = torch.randn(OC, C, k, k) * math.sqrt(2.0 / (C * k * k))      # Kaiming normal
        if wft:
            U, s, Vh = torch.linalg.svd(W.permute(2, 3, 0, 1), full_matrices=False)
            self.U, self.Vh = nn.Parameter(U.contiguous()), nn.Parameter(Vh.contiguous())
            for p in paths:
                setattr(self, f"sigma_{p}", nn.Parameter(s.clone()))
        else:
            for p in paths:
                setattr(self, f"W_{p}", nn.Parameter(W.clone()))

    def weight(self, path):
        if not self.wft:
            return getattr(self, f"W_{path}")
        sigma = getattr(self, f"sigma_{path}")
        return torch.matmul(self.U * sigma.unsqueeze(-2), self.Vh).permute(2, 3, 0, 1)

    def forward(self, x, path):
        return TF.conv2d(x, self.weight(path), None, self.stride, self.padding)


class ConvBN(nn.Module):
    def __init__(self, C, OC, k, stride, padding, wft, paths):
        super().__init__()
        self.conv = TwinConv(C, OC, k, stride, padding, wft, paths)
        self.bn = nn.ModuleDict({p: nn.BatchNorm2d(OC) for p in paths})

    def forward(self, x, path):
        return self.bn[path](self.conv(x, path))


def _fold(s):
    return s.flatten(0, 1)                                        # (T, N, ...) → (T·N, ...)


class Stem(nn.Module):
    def __init__(self, C, OC, stride, wft, paths, lif_kw):
        super().__init__()
        self.unit = ConvBN(C, OC, 3, stride, 1, wft, paths)
        self.lif = LIF(**lif_kw) if "snn" in paths else None

    def forward_ann(self, x):
        return torch.relu(self.unit(x, "ann"))

    def forward_snn(self, x, T):
        h = self.unit(x, "snn")                                   # once, (N, OC, OH, OW)
        return self.lif(h.unsqueeze(0).expand(T, *h.shape))       # broadcast over T


class BasicBlock(nn.Module):
    def __init__(self, C, OC, stride, wft, paths, lif_kw):
        super().__init__()
        snn = "snn" in paths
        self.unit1 = ConvBN(C, OC, 3, stride, 1, wft, paths)
        self.lif1 = LIF(**lif_kw) if snn else None
        self.unit2 = ConvBN(OC, OC, 3, 1, 1, wft, paths)
        self.lif2 = LIF(**lif_kw) if snn else None
        self.shortcut = ConvBN(C, OC, 1, stride, 0, wft, paths) \
            if stride != 1 or C != OC else None

    def _short(self, x, path):
        return x if self.shortcut is None else self.shortcut(x, path)

    def forward_ann(self, x):
        h = torch.relu(self.unit1(x, "ann"))
        return torch.relu(self.unit2(h, "ann") + self._short(x, "ann"))

    def forward_snn(self, s):
        T, N = s.shape[:2]
        s4 = _fold(s)
        h = self.lif1(self.unit1(s4, "snn").unflatten(0, (T, N)))
        c = self.unit2(_fold(h), "snn") + self._short(s4, "snn")
        return self.lif2(c.unflatten(0, (T, N)))


class Stage(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.units = nn.ModuleList(units)

    def forward_ann(self, x):
        for u in self.units:
            x = u.forward_ann(x)
        return x

    def forward_snn(self, s):
        for u in self.units:
            s = u.forward_snn(s)
        return s


class TorchJointNet(nn.Module):
    """ResNet ANN/SNN twins with four branches each; ``forward(x)`` returns
    (ann_logits, ann_feats, snn_logits, snn_feats), lists of 4 (None for a missing path)."""

    def __init__(self, arch="resnet18", num_classes=10, width=16, in_channels=3, image_size=32,
                 T=4, wft=True, paths=("ann", "snn"), tau=0.25, v_th=0.5, a=1.0, lif="function"):
        super().__init__()
        self.T, self.paths = T, tuple(p for p in ("ann", "snn") if p in paths)
        lif_kw = dict(tau=tau, v_th=v_th, a=a, mode=lif)
        self.stem = Stem(in_channels, width, 1 if image_size <= 32 else 2, wft, self.paths, lif_kw)
        stages, C = [], width
        for i, (n, stride) in enumerate(zip(RESNET_STAGES[arch], STAGE_STRIDES)):
            OC = width * 2 ** i
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(C, OC, stride if b == 0 else 1, wft, self.paths, lif_kw))
                C = OC
            stages.append(Stage(blocks))
        self.stages = nn.ModuleList(stages)
        chans = [width * 2 ** i for i in range(4)]
        for p in self.paths:
            setattr(self, f"{p}_heads", nn.ModuleList(nn.Linear(c, num_classes) for c in chans))

    def forward(self, x):
        za = fa = zs = fs = None
        if "ann" in self.paths:
            za, fa, h = [], [], self.stem.forward_ann(x)
            for stage, head in zip(self.stages, self.ann_heads):
                h = stage.forward_ann(h)
                fa.append(h.mean(dim=(2, 3)))
                za.append(head(fa[-1]))
        if "snn" in self.paths:
            zs, fs, s = [], [], self.stem.forward_snn(x, self.T)
            for stage, head in zip(self.stages, self.snn_heads):
                s = stage.forward_snn(s)
                rates = _fold(s).mean(dim=(2, 3)).unflatten(0, s.shape[:2])   # (T, N, C)
                fs.append(rates.mean(dim=0))
                zs.append(head(fs[-1]))
        return za, fa, zs, fs


def joint_loss(za, fa, zs, fs, target, lambda_kld=1.0, lambda_norm=0.3, temperature=1.0,
               all_branches=True):
    """minijoint.joint.JointLoss (Eqs. 7–10) in PyTorch: CE of every branch of both networks,
    + λ₁·κ²·KL(softmax(stopgrad z_ANN/κ) ‖ softmax(z_SNN/κ)) + λ₂·batch-mean ‖stopgrad F_ANN − F_SNN‖²."""
    pick = (lambda xs: xs) if all_branches else (lambda xs: xs[-1:])
    total = 0.0
    for zz in (za, zs):
        if zz is not None:
            total = total + sum(TF.cross_entropy(z, target) for z in pick(zz))
    if za is not None and zs is not None:
        k = temperature
        if lambda_kld > 0:
            total = total + lambda_kld * k * k * sum(
                TF.kl_div(TF.log_softmax(s / k, 1), TF.log_softmax(a.detach() / k, 1),
                          reduction="batchmean", log_target=True)
                for a, s in zip(pick(za), pick(zs)))
        if lambda_norm > 0:
            total = total + lambda_norm * sum(
                (s - a.detach()).square().sum() / s.shape[0] for a, s in zip(pick(fa), pick(fs)))
    return total


def _torch_name(name: str) -> str:
    """minijoint parameter/buffer name → this twin's (BN gamma/beta → weight/bias, head W/b)."""
    head, leaf = name.rsplit(".", 1)
    if ".bn." in name:
        leaf = {"gamma": "weight", "beta": "bias"}.get(leaf, leaf)
    elif name.startswith(("ann_heads.", "snn_heads.")):
        leaf = {"W": "weight", "b": "bias"}[leaf]
    return f"{head}.{leaf}"


def copy_from_minijoint(model: TorchJointNet, mj_model, to_numpy) -> None:
    """Load every parameter and BN buffer of a minijoint JointNet into ``model`` (by name,
    same shapes; raises if either side has a name the other lacks)."""
    ours = dict(model.named_parameters())
    ours.update({n: b for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")})
    theirs = {_torch_name(n): p.data for n, p in mj_model.named_parameters()}
    theirs.update({_torch_name(n): b for n, b in mj_model.named_buffers()})
    if set(ours) != set(theirs):
        raise ValueError(f"copy_from_minijoint: names differ; only in torch: "
                         f"{sorted(set(ours) - set(theirs))[:5]}, only in minijoint: "
                         f"{sorted(set(theirs) - set(ours))[:5]}")
    with torch.no_grad():
        for n, t in ours.items():
            src = torch.from_numpy(to_numpy(theirs[n]))
            if tuple(src.shape) != tuple(t.shape):
                raise ValueError(f"copy_from_minijoint: {n} has shape {tuple(t.shape)} here, "
                                 f"{tuple(src.shape)} in minijoint")
            t.copy_(src.to(t.dtype))
