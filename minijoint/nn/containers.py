r"""Containers: modules that hold other modules in order, named by index (``0.W``, ``1.W``)."""
from __future__ import annotations

from .module import Module

__all__ = ["ModuleList", "Sequential"]


class ModuleList(Module):
    """A list of modules, named by index (``0.W``, ``1.W``, ...); supports ``len``, indexing,
    iteration and ``append``."""

    def __init__(self, modules=()):
        super().__init__()
        self._items = []
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: expected a Module, got "
                            f"{type(module).__name__}")
        self._items.append(module)
        return self

    def _members(self):
        for i, m in enumerate(self._items):
            yield str(i), m

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(self._items[i])
        return self._items[i]


class Sequential(ModuleList):
    """``Sequential(a, b, c)(x) = c(b(a(x)))``; children are named ``0``, ``1``, ``2``."""

    def __init__(self, *modules):
        super().__init__(modules)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self._items[i])
        return self._items[i]

    def forward(self, x):
        for m in self._items:
            x = m(x)
        return x
