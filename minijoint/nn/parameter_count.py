r"""How many weights a twin layer holds, against the alternatives (paper Section 4.3.1).

The paper counts a full SVD, ``(C² + OC² + 2r)·P`` per layer (P = KH·KW kernel positions);
the thin SVD of :mod:`.factorized` keeps ``(r·(C + OC) + 2r)·P``; two separate weights
take ``2·OC·C·P``. :func:`count_parameters` gives all three for a layer or a network.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .factorized import TwinLayer
from .module import Module

__all__ = ["ParameterCount", "count_parameters"]


@dataclass(frozen=True)
class ParameterCount:
    r"""Weight counts of twin layers, three ways side by side (Section 4.3.1), P = KH·KW:

    * ``factorized``: thin SVD (ours), ``(r·(C + OC) + 2r)·P``;
    * ``separate``: W_ANN and W_SNN, ``2·OC·C·P``;
    * ``paper``: the paper's full-SVD formula, ``(C² + OC² + 2r)·P``;
    * ``held``: the weight scalars the layers actually hold (``factorized`` for WFT layers,
      ``separate`` for separate ones, when both paths are built);
    * ``bias``: bias scalars of both paths, kept out of the counts above (never factorized);
    * ``layers``: how many twin layers were counted.
    """

    factorized: int = 0
    separate: int = 0
    paper: int = 0
    held: int = 0
    bias: int = 0
    layers: int = 0

    def __add__(self, other: "ParameterCount") -> "ParameterCount":
        return ParameterCount(*(getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)))


def _count_layer(layer: TwinLayer) -> ParameterCount:
    C, OC, KH, KW = layer.geometry()
    P, r = KH * KW, min(C, OC)
    sizes = {name: int(p.size) for name, p in layer.named_parameters()}
    bias = sum(n for name, n in sizes.items() if name.startswith("bias_"))
    return ParameterCount(factorized=(r * (C + OC) + 2 * r) * P, separate=2 * OC * C * P,
                          paper=(C * C + OC * OC + 2 * r) * P,
                          held=sum(sizes.values()) - bias, bias=bias, layers=1)


def count_parameters(module: Module) -> ParameterCount:
    """:class:`ParameterCount` of one twin layer, or summed over every twin layer inside a
    module (other layers — BatchNorm, plain Conv2d — are not counted)."""
    if not isinstance(module, Module):
        raise TypeError(f"count_parameters: expected a Module, got {type(module).__name__}")
    total = ParameterCount()
    for _, m in module.named_modules():
        if isinstance(m, TwinLayer):
            total = total + _count_layer(m)
    return total
