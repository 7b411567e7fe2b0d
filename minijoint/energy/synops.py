r"""Synaptic operations in NeuroBench's terms (Yik et al., NeuroBench, 2023/2025), per layer.

NeuroBench counts the work of a network as *synaptic operations*: one per (input, weight)
pair that a forward pass multiplies or accumulates. Its four workload numbers, as
minijoint counts them (per image; docs/method.md §8):

* **dense SynOps**: every input counts, zero or not, but a tap that falls on the zero
  padding of a convolution does not (it meets no input). Per step this is
  ``Σ_i fanout_i`` over the input positions i, a little less than the MACs, which count
  the padding taps too (conv: C·OC·KH·KW·OH·OW);
* **effective SynOps**: only inputs that are not zero: ``Σ_t Σ_i s_i^t · fanout_i`` for
  spikes s ∈ {0, 1} (*accumulates*, ACs), ``Σ_i [x_i ≠ 0] · fanout_i`` for analog inputs
  (*multiply-accumulates*, MACs: the image in the stem, ReLU outputs in the ANN);
* **activation sparsity**: the fraction of neuron outputs that are 0, over all neurons and
  steps (1 − the firing rate, weighted by layer size);
* **neuron updates**: every LIF neuron updates its membrane at every step, neurons × T.

Notation: a convolution with kernel KH×KW, stride SH×SW, padding PH×PW maps (C, H, W) to
(OC, OH, OW). Input row h is read by the output rows oh with 0 ≤ h + PH − oh·SH < KH; their
number is ``cover_h[h]``, and the fan-out of input (c, h, w) is OC·cover_h[h]·cover_w[w]
(the same for every c). A linear layer C → OC: the fan-out of every input is OC.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["fanout_cover", "fanout_map", "dense_synops", "effective_synops",
           "activation_sparsity"]


def fanout_cover(side, kernel, stride, padding, out_side) -> np.ndarray:
    r"""cover[h] = #{oh ∈ [0, OH) : 0 ≤ h + P − oh·S < K}: how many output rows read input
    row h (0 … ⌈K/S⌉). An int64 array of length ``side`` (host side: it is geometry)."""
    h = np.arange(side)[:, None]
    k = h + padding - np.arange(out_side)[None, :] * stride      # the tap each output uses
    return ((k >= 0) & (k < kernel)).sum(axis=1)


def fanout_map(kind, in_shape, out_shape, geometry, stride=(1, 1), padding=(0, 0)):
    r"""The fan-out of one input element: an (H, W) int64 array for a convolution (the same
    for every input channel), the int OC for a linear layer. ``geometry`` = (C, OC, KH, KW);
    ``in_shape`` (C, H, W) or (C,) and ``out_shape`` (OC, OH, OW) or (OC,) per sample."""
    C, OC, KH, KW = geometry
    if kind == "linear":
        return int(OC)
    if kind != "conv" or len(in_shape) != 3 or len(out_shape) != 3:
        raise ValueError(f"fanout_map: expected kind 'conv' with (C, H, W) → (OC, OH, OW) or "
                         f"'linear', got {kind!r} with {in_shape} → {out_shape}")
    (_, H, W), (_, OH, OW) = in_shape, out_shape
    rows = fanout_cover(H, KH, stride[0], padding[0], OH)
    cols = fanout_cover(W, KW, stride[1], padding[1], OW)
    return OC * np.outer(rows, cols)


def dense_synops(kind, in_shape, out_shape, geometry, stride=(1, 1), padding=(0, 0)) -> int:
    r"""Dense SynOps of one sample (one step): Σ_i fanout_i over the C·H·W (or C) inputs.
    Without padding it equals the MACs; each padding tap makes it one less."""
    fan = fanout_map(kind, in_shape, out_shape, geometry, stride, padding)
    return int(geometry[0]) * (int(fan) if kind == "linear" else int(fan.sum()))


def effective_synops(x, fanout, spikes: bool = True):
    r"""Effective SynOps per sample of a batch ``x`` (M, C, H, W) or (M, C), on its device:

        (1/M) · Σ_m Σ_i a_{m,i} · fanout_i,   a = x (spikes: 0/1, or a mean over T of them)
                                               a = [x ≠ 0] (analog inputs, ``spikes=False``)

    For spikes folded over time, M = T·N and the result is per image and per step; a mean
    of spikes over T (the classifier's input) gives 1/T of the spikes' count, per image.
    ``fanout``: :func:`fanout_map` of the layer. x may be a Tensor; returns a 0-d array on
    x's device."""
    x = x.data if isinstance(x, Tensor) else x
    xp = get_array_module(x)
    a = x if spikes else (x != 0)
    M = x.shape[0]
    if x.ndim == 2:                                   # linear: every input meets OC weights
        return a.sum(dtype=xp.float64) * float(fanout) / M
    if x.ndim != 4 or tuple(x.shape[2:]) != tuple(np.shape(fanout)):
        raise ValueError(f"effective_synops: expected x (M, C, H, W) with (H, W) = "
                         f"{np.shape(fanout)}, got {tuple(x.shape)}")
    per_position = a.sum(axis=(0, 1), dtype=xp.float64)          # (H, W): Σ over samples, C
    return (per_position * xp.asarray(fanout, dtype=xp.float64)).sum() / M


def activation_sparsity(rates: dict, sizes: dict) -> float:
    r"""NeuroBench's activation sparsity of a spiking network: the fraction of its neuron
    outputs that are 0, over every LIF layer and step,
    1 − Σ_l rate_l · n_l / Σ_l n_l, with n_l the layer's neurons per image per step."""
    if not sizes or set(rates) != set(sizes):
        raise ValueError(f"activation_sparsity: expected a rate and a size for the same LIF "
                         f"layers, got {sorted(rates)} and {sorted(sizes)}")
    total = sum(sizes.values())
    return 1.0 - math.fsum(float(rates[n]) * sizes[n] for n in sizes) / total
