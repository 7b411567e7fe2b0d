r"""ResNets as stage lists (paper Section 4.2, docs/method.md §4), built from twin blocks.

The paper splits a ResNet into a stem (the first convolution), a body of 4 stages of
residual blocks, and a head; a branch (GAP → FC) follows each stage. Here:

=========  ============  =========================================================
name       blocks/stage  use
=========  ============  =========================================================
resnet10   [1, 1, 1, 1]  shallow, for the 8×8 digits (one BasicBlock per stage)
resnet18   [2, 2, 2, 2]  CIFAR (the paper's Table 4)
resnet34   [3, 4, 6, 3]  CIFAR, Tiny-ImageNet
=========  ============  =========================================================

Stage i (i = 1..4) has ``w·2^(i−1)`` channels (w = ``width``; the paper's is 64) and its
first block has stride 1, 2, 2, 2. The stem is a 3×3 conv + BN with no max-pool (the CIFAR
layout).

**How the stem adapts to the input size.** The input size sets the stem's stride and
nothing else: stride 1 for ``image_size ≤ 32`` (digits 8×8, CIFAR 32×32), stride 2 above
(Tiny-ImageNet 64×64 → 32×32, after which the body sees CIFAR-sized maps, as the common
"CIFAR-ResNet on Tiny-ImageNet" recipes do). Every conv is 3×3 with padding 1, so a
stride-2 layer maps a side S to ⌈S/2⌉: 8×8 → stage sides 8, 4, 2, 1; 32×32 → 32, 16, 8, 4;
64×64 → 32, 16, 8, 4. Inputs below 8×8 are refused: the three down-samplings would run
out of pixels.
"""
from __future__ import annotations

from .blocks import BasicBlock, Stage, Stem, check_int

__all__ = ["RESNET_STAGES", "STAGE_STRIDES", "MIN_IMAGE_SIZE", "stem_stride", "build_resnet"]

RESNET_STAGES = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
STAGE_STRIDES = (1, 2, 2, 2)
MIN_IMAGE_SIZE = 8       # 8 → 4 → 2 → 1 through the three stride-2 stages
LARGEST_STRIDE_1 = 32    # inputs above this get a stride-2 stem


def stem_stride(image_size: int) -> int:
    """1 for inputs up to 32×32, 2 above (64×64 Tiny-ImageNet → 32×32 maps)."""
    return 1 if image_size <= LARGEST_STRIDE_1 else 2


def _out_side(side: int, stride: int) -> int:
    """Side after a 3×3 conv with padding 1: (S + 2 − 3) // stride + 1 = ⌈S/stride⌉."""
    return (side - 1) // stride + 1


def build_resnet(name: str, width: int, in_channels: int, image_size: int, wft: bool = True,
                 paths=("ann", "snn"), lif_kw=None, rng=None):
    r"""The stem and the 4 stages of ResNet ``name`` as twin modules.

    Returns ``(stem, stages)``: a :class:`~minijoint.models.blocks.Stem`
    (``in_channels`` → w) and a list of 4 :class:`~minijoint.models.blocks.Stage` with
    ``out_channels`` w, 2w, 4w, 8w. ``lif_kw``: the LIF settings (tau, v_th, surrogate,
    detach_reset) of every neuron; ``rng``: a NumPy Generator for the initial weights.
    """
    if name not in RESNET_STAGES:
        raise ValueError(f"build_resnet: unknown ResNet {name!r}; expected one of "
                         f"{sorted(RESNET_STAGES)}")
    where = f"build_resnet({name!r})"
    width = check_int(where, "width", width, 1, " (stage channels w, 2w, 4w, 8w)")
    in_channels = check_int(where, "in_channels", in_channels, 1)
    image_size = check_int(where, "image_size", image_size, MIN_IMAGE_SIZE,
                           " (three stride-2 stages: 8 → 4 → 2 → 1)")
    lif_kw = {} if lif_kw is None else dict(lif_kw)
    stride = stem_stride(image_size)
    stem = Stem(in_channels, width, stride, wft, paths, lif_kw, rng)
    side, channels, stages = _out_side(image_size, stride), width, []
    for i, (n_blocks, first_stride) in enumerate(zip(RESNET_STAGES[name], STAGE_STRIDES)):
        out_channels = width * 2 ** i
        blocks = []
        for b in range(n_blocks):
            s = first_stride if b == 0 else 1
            blocks.append(BasicBlock(channels, out_channels, s, wft, paths, lif_kw, rng))
            channels, side = out_channels, _out_side(side, s)
        stages.append(Stage(blocks, out_channels, side))
    return stem, stages
