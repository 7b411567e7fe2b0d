r"""VGG-16 in the CIFAR layout as four stages (paper Section 4.4, docs/method.md §4).

VGG-16 has 13 convolutions in 5 blocks, each block closed by a 2×2 max-pool; "BN after
each conv" (the CIFAR layout), and no big FC classifier: the branch heads (GAP → FC) do
that job. Channels per block, scaled by ``width/64`` (64 is the paper's width):

    block 1: 64, 64 | block 2: 128, 128 | block 3: 256 ×3 | block 4: 512 ×3 | block 5: 512 ×3

i.e. w, 2w, 4w, 8w, 8w: every count is a multiple of w, so no block is empty once w ≥ 1.
Section 4.4 puts the four branch points at the exits of the last four down-sampling
stages, so here:

* stem    = block 1's first conv + BN (+ ReLU / LIF), 3×3 stride 1;
* stage 1 = the rest of block 1 (conv, pool) and block 2 (2 convs, pool);
* stage 2, 3, 4 = blocks 3, 4, 5, each with its pool.

**Input size.** All down-sampling is in the pools, so the stem never changes. A pool
halves the side (floor); when the map is already 1×1 the pool is left out, so pooling
stops at 1×1: 8×8 digits give stage sides 2, 1, 1, 1; 32×32 CIFAR gives 8, 4, 2, 1; 64×64
Tiny-ImageNet gives 16, 8, 4, 2. Inputs below 8×8 are refused, as for the ResNets.
"""
from __future__ import annotations

from .blocks import ConvBNAct, MaxPool, Stage, Stem, check_int

__all__ = ["VGG16_BLOCKS", "build_vgg"]

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
MIN_IMAGE_SIZE = 8


def build_vgg(name: str, width: int, in_channels: int, image_size: int, wft: bool = True,
              paths=("ann", "snn"), lif_kw=None, rng=None):
    r"""The stem and the 4 stages of VGG-16 as twin modules (see the module docstring).

    Returns ``(stem, stages)``, stages with ``out_channels`` 2w, 4w, 8w, 8w. Arguments as
    :func:`~minijoint.models.resnet.build_resnet`.
    """
    if name != "vgg16":
        raise ValueError(f"build_vgg: unknown VGG {name!r}; expected 'vgg16'")
    width = check_int("build_vgg", "width", width, 1, " (block channels w, 2w, 4w, 8w, 8w)")
    in_channels = check_int("build_vgg", "in_channels", in_channels, 1)
    image_size = check_int("build_vgg", "image_size", image_size, MIN_IMAGE_SIZE)
    lif_kw = {} if lif_kw is None else dict(lif_kw)
    blocks = [[c * width // 64 for c in block] for block in VGG16_BLOCKS]
    stem = Stem(in_channels, blocks[0][0], 1, wft, paths, lif_kw, rng)
    side, channels, units, stages = image_size, blocks[0][0], [], []
    for b, block in enumerate(blocks):
        for out_channels in block[1:] if b == 0 else block:   # block 1's first conv is the stem
            units.append(ConvBNAct(channels, out_channels, wft, paths, lif_kw, rng))
            channels = out_channels
        if side > 1:                                           # pooling stops at 1×1
            units.append(MaxPool())
            side //= 2
        if b >= 1:                                             # exits of blocks 2..5
            stages.append(Stage(units, channels, side))
            units = []
    return stem, stages
