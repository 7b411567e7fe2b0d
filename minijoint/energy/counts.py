r"""Operation counts and energy arithmetic of Section 5.4 (Tables 5–6), by hand.

Notation: ``C``/``OC`` in/out channels, ``KH, KW`` kernel, ``OH, OW`` output side,
``T`` time steps. All counts are **per sample** (one image) and per time step unless said.

**MACs.** One multiply-accumulate per weight per output position:

    conv2d:  MACs = C · OC · KH · KW · OH · OW     (padding zeros are counted, as usual)
    linear:  MACs = C · OC
    pooling: avg KH×KW → KH·KW − 1 adds and 1 mult per output; max → KH·KW − 1 compares

Biases, BatchNorm (folded into the conv at inference), ReLU and pooling are left out of
the tables, as the paper and the standard MAC figures do.

**Energy of computation** (45 nm CMOS, Horowitz ISSCC 2014; docs/method.md §8)::

    E = e_add · #Add + e_mult · #Mult,      e_add = 0.9 pJ,  e_mult = 4.6 pJ

An ANN MAC is one add and one mult (5.5 pJ). An SNN layer fed by spikes only adds, and
only where a spike arrived: ``rate · MACs`` adds per step.

**The paper's units slip.** Table 5 prints 1.03 J, 168 mJ, 80.3 mJ, 82.2 mJ; the formula
gives 1028.5 µJ, 168.3 µJ, 80.27 µJ, 82.25 µJ for its own counts (:func:`paper_table5`):
its J and mJ are µJ, a factor 1000. The ratio 12.5× is unaffected.

**Data movement** (Table 6): moving 64 bits costs 10 pJ (min) to 100 pJ (max).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["E_ADD", "E_MULT", "E_MOVE_MIN", "E_MOVE_MAX", "Ops", "conv2d_macs",
           "linear_macs", "conv_output_side", "avg_pool2d_ops", "max_pool2d_ops",
           "global_avg_pool2d_ops", "compute_energy", "movement_energy",
           "ann_movement_bits", "snn_movement_bits", "PaperRow", "paper_table5",
           "resnet_mac_count", "macs_187m_candidates"]

E_ADD = 0.9e-12        # J per addition (32-bit float, 45 nm)
E_MULT = 4.6e-12       # J per multiplication
E_MOVE_MIN = 10e-12    # J per 64 bits moved, cheapest cache access
E_MOVE_MAX = 100e-12   # J per 64 bits moved, dearest


def _count(where, **values):
    """Check that every value is a non-negative integer; return them as ints."""
    out = []
    for name, v in values.items():
        try:
            n = operator.index(v)
        except TypeError:
            n = None
        if isinstance(v, bool) or n is None or n < 0:
            raise ValueError(f"{where}: {name} must be a non-negative integer, got {v!r}")
        out.append(int(n))
    return out


class Ops(NamedTuple):
    """Additions and multiplications of one layer, per sample."""
    adds: int
    mults: int


def conv2d_macs(C, OC, KH, KW, OH, OW) -> int:
    """MACs of a convolution per sample: C·OC·KH·KW·OH·OW (each output value is a dot
    product of length C·KH·KW)."""
    C, OC, KH, KW, OH, OW = _count("conv2d_macs", C=C, OC=OC, KH=KH, KW=KW, OH=OH, OW=OW)
    return C * OC * KH * KW * OH * OW


def linear_macs(in_features, out_features) -> int:
    """MACs of a fully connected layer per sample: in·out."""
    C, OC = _count("linear_macs", in_features=in_features, out_features=out_features)
    return C * OC


def conv_output_side(side, kernel, stride=1, padding=0) -> int:
    """OH = ⌊(H + 2·PH − KH) / SH⌋ + 1 (the same rule for convolution and pooling)."""
    side, kernel, stride, padding = _count("conv_output_side", side=side, kernel=kernel,
                                           stride=stride, padding=padding)
    if stride < 1 or side + 2 * padding < kernel:
        raise ValueError(f"conv_output_side: kernel {kernel} does not fit side {side} with "
                         f"padding {padding} (or stride {stride} < 1)")
    return (side + 2 * padding - kernel) // stride + 1


def avg_pool2d_ops(C, OH, OW, KH, KW) -> Ops:
    """Average pooling per sample: each of the C·OH·OW outputs sums KH·KW inputs
    (KH·KW − 1 adds) and scales once (1 mult)."""
    C, OH, OW, KH, KW = _count("avg_pool2d_ops", C=C, OH=OH, OW=OW, KH=KH, KW=KW)
    n = C * OH * OW
    return Ops(adds=n * (KH * KW - 1), mults=n)


def max_pool2d_ops(C, OH, OW, KH, KW) -> int:
    """Max pooling per sample: KH·KW − 1 comparisons per output (no adds, no mults; on
    spikes it is an OR)."""
    C, OH, OW, KH, KW = _count("max_pool2d_ops", C=C, OH=OH, OW=OW, KH=KH, KW=KW)
    return C * OH * OW * (KH * KW - 1)


def global_avg_pool2d_ops(C, H, W) -> Ops:
    """Global average pooling (the branches' GAP): an H×W average pool to 1×1."""
    return avg_pool2d_ops(C, 1, 1, H, W)


def compute_energy(n_add, n_mult, e_add=E_ADD, e_mult=E_MULT) -> float:
    r"""Energy of computation in joules: E = e_add·#Add + e_mult·#Mult (defaults 0.9 pJ,
    4.6 pJ). ``n_add``/``n_mult`` may be fractional (rate × ops)."""
    for name, v in (("n_add", n_add), ("n_mult", n_mult), ("e_add", e_add), ("e_mult", e_mult)):
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        if isinstance(v, bool) or not (f >= 0 and math.isfinite(f)):
            raise ValueError(f"compute_energy: {name} must be a finite number >= 0, got {v!r}")
    return float(e_add) * float(n_add) + float(e_mult) * float(n_mult)


def movement_energy(bits, e_per_64_bits) -> float:
    """Energy in joules of moving ``bits`` bits at ``e_per_64_bits`` J per 64 bits."""
    if not float(bits) >= 0 or not float(e_per_64_bits) >= 0:
        raise ValueError(f"movement_energy: expected bits >= 0 and energy >= 0, got {bits!r}, "
                         f"{e_per_64_bits!r}")
    return float(bits) / 64.0 * float(e_per_64_bits)


def ann_movement_bits(activations, bits=32, moves=2) -> int:
    """Bits an ANN moves per sample: every activation written to the cache after its layer
    and read back for the next one (``moves`` = 2) at ``bits`` = 32 bits each."""
    activations, bits, moves = _count("ann_movement_bits", activations=activations,
                                      bits=bits, moves=moves)
    return moves * bits * activations


def snn_movement_bits(neurons, T, membrane_bits=32, spike_bits=1, moves=2) -> int:
    r"""Bits an SNN moves per sample: at each of T steps every neuron's membrane potential
    (32 bits) and its output spike (1 bit), each moved ``moves`` times as an ANN
    activation is (out to the cache and back in). ``moves=2`` gives an SNN/ANN volume
    ratio of T·33/32 (2.06 at T = 2; the paper's Table 6 has 2.006, which its text does
    not explain); ``moves=1`` for the membrane-and-spike-once reading gives T·33/64."""
    neurons, T, mb, sb, moves = _count("snn_movement_bits", neurons=neurons, T=T,
                                       membrane_bits=membrane_bits, spike_bits=spike_bits,
                                       moves=moves)
    return moves * T * (mb + sb) * neurons


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 5: its counts and the energy label it printed."""
    method: str
    model: str
    acc: float
    adds: float
    mults: float
    printed: str          # the paper's Energy column, with its units slip

    @property
    def energy(self) -> float:
        """E = 0.9 pJ·#Add + 4.6 pJ·#Mult in joules (1.0285e-3 for the ANN row)."""
        return compute_energy(self.adds, self.mults)


def paper_table5() -> list:
    r"""The paper's Table 5 with its energy recomputed from its counts (:class:`PaperRow`).

    Energies in µJ: ANN 1028.5, SNN [35] (T=5) 168.3, SNN [33] (T=2) 80.27, ours (T=2)
    82.25; ANN / ours = 12.5×. The paper prints J and mJ for these: a 1000× units slip.
    """
    return [PaperRow("ANN (ours)", "Res-18", 95.74, 187e6, 187e6, "1.03J"),
            PaperRow("SNN [35] (T=5)", "Res-20", 92.70, 142e6, 8.80e6, "168mJ"),
            PaperRow("SNN [33] (T=2)", "Res-18", 93.13, 71.2e6, 3.52e6, "80.3mJ"),
            PaperRow("SNN (ours, T=2)", "Res-18", 94.01, 73.4e6, 3.52e6, "82.2mJ")]


def resnet_mac_count(blocks=(2, 2, 2, 2), width=64, image_size=32, in_channels=3,
                     num_classes=10, stem_kernel=3, stem_stride=1, stem_pool=False) -> dict:
    r"""MACs per sample of a ResNet with BasicBlocks, counted by hand from the layout alone
    (it never builds a network, so it checks :func:`~minijoint.energy.layer_table`).

    Layout: stem conv ``stem_kernel``×``stem_kernel`` (padding k//2) with ``stem_stride``
    (C → w), then a 3×3 stride-2 max-pool if ``stem_pool`` (the ImageNet stem); stages of
    ``blocks`` BasicBlocks with w, 2w, 4w, 8w channels and first strides 1, 2, 2, 2, a 1×1
    shortcut conv when the shape changes; the classifier 8w → num_classes after GAP.
    The CIFAR ResNet-18 (the defaults) has 555,422,720 MACs ("0.56 G").

    Returns {"stem", "stage1".."stage4", "fc", "total"}.
    """
    side = conv_output_side(image_size, stem_kernel, stem_stride, stem_kernel // 2)
    counts = {"stem": conv2d_macs(in_channels, width, stem_kernel, stem_kernel, side, side)}
    if stem_pool:
        side = conv_output_side(side, 3, 2, 1)
    C = width
    for i, (n, first_stride) in enumerate(zip(blocks, (1, 2, 2, 2))):
        OC, macs = width * 2 ** i, 0
        for b in range(n):
            stride = first_stride if b == 0 else 1
            out = conv_output_side(side, 3, stride, 1)
            macs += conv2d_macs(C, OC, 3, 3, out, out)          # conv1, 3×3 with stride
            macs += conv2d_macs(OC, OC, 3, 3, out, out)         # conv2, 3×3
            if stride != 1 or C != OC:
                macs += conv2d_macs(C, OC, 1, 1, out, out)      # 1×1 shortcut
            C, side = OC, out
        counts[f"stage{i + 1}"] = macs
    counts["fc"] = linear_macs(C, num_classes)
    counts["total"] = sum(counts.values())
    return counts


def macs_187m_candidates(target=187e6) -> list:
    r"""Which ResNet-18 has the paper's 187M MACs (Table 5's ANN row)? Candidates counted
    with :func:`resnet_mac_count`, returned as (description, MACs, MACs / target), nearest
    first. The standard CIFAR ResNet-18 has 555M, 2.97× the paper's figure; the width or
    input side that would give 187M exactly is not a usual one (w ≈ 37, side ≈ 18.6), and
    no candidate here is within 20%: the nearest are 148M (ImageNet stem, 64×64) and 140M.

    The paper's own SNN rows point to the standard layout: their mults, 3.52M at T = 2 and
    8.80M at T = 5, are T × 1.76M, the stem of a 32×32, 64-channel CIFAR ResNet
    (3·64·9·1024 = 1.77M). Its 73.4M adds at T = 2, less the analog stem's 2 · 1.77M,
    imply a mean input rate of 69.9M / (2 · 553.6M) ≈ 6.3% on the spike-fed layers of the
    555M network (it would be ≈ 19% on 187M)."""
    configs = {
        "CIFAR ResNet-18, w=64, 32x32 (standard)": {},
        "CIFAR ResNet-18, w=32, 32x32": dict(width=32),
        "CIFAR ResNet-18, w=48, 32x32": dict(width=48),
        "CIFAR ResNet-18, w=64, 16x16 input": dict(image_size=16),
        "CIFAR ResNet-18, w=64, 32x32, stride-2 stem": dict(stem_stride=2),
        "CIFAR ResNet-18, w=64, 32x32, 3x3 stem + max-pool": dict(stem_pool=True),
        "ImageNet ResNet-18 (7x7/2 stem + pool), 32x32": dict(stem_kernel=7, stem_stride=2,
                                                              stem_pool=True),
        "ImageNet ResNet-18 (7x7/2 stem + pool), 64x64": dict(stem_kernel=7, stem_stride=2,
                                                              stem_pool=True, image_size=64),
        "ImageNet ResNet-18 (7x7/2 stem + pool), 224x224, 1000 classes": dict(
            stem_kernel=7, stem_stride=2, stem_pool=True, image_size=224, num_classes=1000),
        "CIFAR ResNet-34, w=32, 32x32": dict(blocks=(3, 4, 6, 3), width=32),
    }
    rows = [(d, resnet_mac_count(**kw)["total"]) for d, kw in configs.items()]
    rows = [(d, m, m / target) for d, m in rows]
    return sorted(rows, key=lambda r: abs(math.log(r[2])))
