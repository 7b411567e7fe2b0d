r"""Ops that move elements without changing them: reshape, transpose, indexing, joining.

Each backward moves ``gy`` back to where the elements came from. Indexing with an
integer array may read one element several times; its backward then *adds* the
gradients (``add.at``), it does not overwrite them.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module, is_cupy_array, to_host
from ..function import Function
from ..tensor import Tensor, as_tensor

__all__ = ["reshape", "transpose", "getitem", "concatenate", "stack", "flatten"]


class ReshapeOp(Function):
    r"""y = x viewed with a new shape (same elements, row-major order).   ḡx = gy reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.in_shape)


class TransposeOp(Function):
    r"""y = x with its axes permuted: y.shape[i] = x.shape[axes[i]].

    ḡx = gy permuted by the inverse permutation ``argsort(axes)``.
    """

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, gy):
        return gy.transpose(tuple(int(a) for a in np.argsort(ctx.axes)))


class GetItemOp(Function):
    r"""y = x[index] (slices, ints, ``None``, integer or boolean arrays).

    ḡx = zeros like x, then ``ḡx[index] += gy`` **accumulating** repeated indices
    (``x[[0, 0]]`` sends both rows of ``gy`` to row 0).
    """

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return get_array_module(x).asarray(x[index])

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(ctx.shape, dtype=gy.dtype)
        if _has_int_array(ctx.index):
            _add_at(gx, ctx.index, gy)
        else:  # basic indexing or a boolean mask: each element is read at most once
            gx[ctx.index] = gy
        return gx


class ConcatenateOp(Function):
    r"""y = [x₀ x₁ …] joined along ``axis``.   ḡxᵢ = the slice of gy that xᵢ filled."""

    @staticmethod
    def forward(ctx, *xs, axis):
        xp = get_array_module(*xs)
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1].tolist()
        return xp.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        return tuple(xp.split(gy, ctx.bounds, axis=ctx.axis))


class StackOp(Function):
    r"""y = x₀, x₁, … stacked along a new axis ``axis``.

    ḡxᵢ = gy taken at position i of that axis.
    """

    @staticmethod
    def forward(ctx, *xs, axis):
        xp = get_array_module(*xs)
        ctx.axis, ctx.n = axis, len(xs)
        return xp.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        lead = (slice(None),) * ctx.axis
        return tuple(gy[lead + (i,)] for i in range(ctx.n))


# ---- helpers ------------------------------------------------------------------------
def _has_int_array(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" and p.ndim > 0 for p in parts)


def _add_at(gx, index, gy) -> None:
    """gx[index] += gy, adding (not overwriting) where ``index`` repeats an element."""
    xp = get_array_module(gx)
    if xp is np or hasattr(xp.add, "at"):
        xp.add.at(gx, index, gy)
    else:  # CuPy before ufunc.at
        import cupyx
        cupyx.scatter_add(gx, index, gy)


def _index_on(index, xp):
    """``index`` with Tensors unwrapped and lists/arrays moved to ``xp`` (NumPy or CuPy)."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, Tensor):
            p = p.data
        if isinstance(p, list) or isinstance(p, np.ndarray) or is_cupy_array(p):
            p = np.asarray(to_host(p)) if xp is np else xp.asarray(p)
            if p.dtype.kind not in "iub":
                raise IndexError(f"getitem: index arrays must hold integers or booleans, "
                                 f"got dtype {p.dtype}")
        out.append(p)
    return tuple(out) if isinstance(index, tuple) else out[0]


def _same_dtype(op: str, tensors) -> None:
    dtypes = {str(t.dtype) for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: all inputs must have the same dtype, got {sorted(dtypes)}")


def _check_axis(op: str, axis, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for {ndim}-D")
    return int(axis) % ndim


# ---- the functions users call -------------------------------------------------------
def reshape(x, shape) -> Tensor:
    """``x`` with shape ``shape`` (one entry may be -1: inferred from the size)."""
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    known = int(np.prod([n for n in shape if n != -1]))
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid target shape {shape} (at most one -1, no other negatives)")
    if (-1 in shape and (known == 0 or x.size % known)) or (-1 not in shape and known != x.size):
        raise ValueError(f"reshape: cannot reshape shape {x.shape} ({x.size} elements) into {shape}")
    return ReshapeOp.apply(x, shape=shape)


def transpose(x, axes=None) -> Tensor:
    """Permute the axes; ``axes=None`` reverses them (a matrix transpose for 2-D)."""
    x = as_tensor(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) for a in axes)
    if not all(-x.ndim <= a < x.ndim for a in axes) or \
            sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of shape {x.shape}")
    return TransposeOp.apply(x, axes=tuple(a % x.ndim for a in axes))


def getitem(x, index) -> Tensor:
    """``x[index]``: basic slices, ints, ``None``/``...``, integer arrays (repeats allowed,
    their gradients add up), boolean masks; an index may be an integer Tensor."""
    x = as_tensor(x)
    return GetItemOp.apply(x, index=_index_on(index, get_array_module(x.data)))


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join a list of tensors along an existing axis (all other sizes must agree)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor, got an empty list")
    axis = _check_axis("concatenate", axis, tensors[0].ndim)
    for t in tensors[1:]:
        other = t.shape[:axis] + t.shape[axis + 1:]
        first = tensors[0].shape[:axis] + tensors[0].shape[axis + 1:]
        if t.ndim != tensors[0].ndim or other != first:
            raise ValueError(f"concatenate: shapes {tensors[0].shape} and {t.shape} differ "
                             f"outside axis {axis}")
    _same_dtype("concatenate", tensors)
    return ConcatenateOp.apply(*tensors, axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Stack a list of same-shape tensors along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor, got an empty list")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    axis = _check_axis("stack", axis, tensors[0].ndim + 1)
    _same_dtype("stack", tensors)
    return StackOp.apply(*tensors, axis=axis)


def flatten(x, start_dim: int = 1) -> Tensor:
    """Merge the axes from ``start_dim`` on into one: (N, C, H, W) → (N, C·H·W) by default."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("flatten: x must have at least 1 axis, got a 0-d tensor")
    start = _check_axis("flatten", start_dim, x.ndim)
    return reshape(x, x.shape[:start] + (int(np.prod(x.shape[start:])),))
