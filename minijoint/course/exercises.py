"""The registry: every exercise by name, in the order of the course."""
from __future__ import annotations

from .core import Exercise
from .ex_neuron import EXERCISES as _NEURON
from .ex_network import EXERCISES as _NETWORK

EXERCISES: dict = {e.name: e for e in (*_NEURON, *_NETWORK)}


def get_exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[name]
