r"""Arrays that hold only 0 and 1, kept for the backward in 1 bit per value.

A spiking layer's output is a float array whose every value is 0 or 1. An op that keeps such
an input for its backward (the LIF that fired it, a convolution reading it) can keep it in
1 bit per value instead of 32 (float32) or 64 (float64), and get it back exactly: 0 and 1
survive float → bit → float unchanged. (:func:`pack_bits`, :meth:`PackedBits.unpack`.)

How an op knows, without reading every value, that its input is binary: the op that made the
values allocated their memory as a :class:`BinaryArray` (:func:`binary_empty`) and wrote only
0 and 1 into it. Views of that memory (a reshape, a slice, the plain view a Tensor keeps) do
not carry the type, but they lead back to it through ``.base``: :func:`binary_owner` follows
that chain. The owner is made read-only once written (:func:`seal_binary`), so no view can
put another value there later.

The bits are packed once per owner and cached on it, so the LIF op that fired the spikes and
every convolution that reads them (the SNN's time folding reshapes them) share one copy.
On CuPy no array is marked: the LIF still packs its own spikes, convolutions keep floats.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module

__all__ = ["BinaryArray", "binary_empty", "seal_binary", "binary_owner", "PackedBits",
           "pack_bits"]


class BinaryArray(np.ndarray):
    """A NumPy float array whose memory holds only 0 and 1 (allocate with :func:`binary_empty`).

    Arithmetic on it returns plain arrays (twice a spike is not binary): only the memory
    itself, and views of it, are known to be binary.
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        def plain(a):
            return a.view(np.ndarray) if isinstance(a, BinaryArray) else a
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(a) for a in kwargs["out"])
        return getattr(ufunc, method)(*map(plain, inputs), **kwargs)


def binary_empty(xp, shape, dtype):
    """Memory for values that will all be 0 or 1: on NumPy a :class:`BinaryArray` owning its
    buffer, on CuPy a plain array. Seal it (:func:`seal_binary`) once written."""
    return BinaryArray(shape, dtype=dtype) if xp is np else xp.empty(shape, dtype=dtype)


def seal_binary(a):
    """Make the written :class:`BinaryArray` ``a`` read-only (and every view made of it
    later), so that it keeps holding 0 and 1; return it. Other arrays pass unchanged."""
    if isinstance(a, BinaryArray):
        a.flags.writeable = False
    return a


def binary_owner(a):
    """The :class:`BinaryArray` whose memory ``a`` views (``a`` itself, or found along
    ``.base``), or None: then nothing is known about a's values."""
    while a is not None and not isinstance(a, BinaryArray):
        a = getattr(a, "base", None)
    return a


class PackedBits:
    """An array of 0 and 1 in 1 bit per value: ``bits`` (uint8, 8 values a byte, in
    ``packbits`` order over the values in row-major order) and the array's ``shape``."""

    def __init__(self, bits, shape):
        self.bits, self.shape = bits, tuple(shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def reshape(self, shape) -> "PackedBits":
        """The same bits read with another shape of the same size (row-major, as ndarray)."""
        return PackedBits(self.bits, shape)

    def unpack(self):
        """The values as a uint8 array of 0 and 1, of shape ``shape`` (exactly those packed)."""
        xp = get_array_module(self.bits)
        return xp.unpackbits(self.bits)[:self.size].reshape(self.shape)


def pack_bits(a) -> PackedBits:
    """``a``, an array of 0 and 1 (any dtype), in 1 bit per value.

    When ``a`` covers its :func:`binary_owner`'s whole memory in order (a reshape of it, as
    the SNN's time folding makes), the owner's cached bits are returned, packed on first use.
    """
    xp = get_array_module(a)
    owner = binary_owner(a)
    if owner is not None and a.size == owner.size and a.flags.c_contiguous \
            and a.__array_interface__["data"][0] == owner.__array_interface__["data"][0]:
        if getattr(owner, "packed", None) is None:
            owner.packed = PackedBits(np.packbits(owner.view(np.ndarray) != 0), owner.shape)
        return owner.packed.reshape(a.shape)
    return PackedBits(xp.packbits(a != 0), a.shape)
