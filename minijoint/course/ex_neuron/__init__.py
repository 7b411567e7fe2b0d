r"""The neuron exercises and their graders: the LIF forward (Eqs. 1–2), the rectangle
surrogate and its primitive (Eq. 5), and BPTT through the LIF by hand (Eq. 4).

Each grader draws small float64 inputs with hypothesis (:func:`~.core.for_all`) and compares
the student's result with minijoint's own (:mod:`minijoint.snn`), or with central
differences. When they differ, it compares the student's result with *variants*: the same
computation with one known mistake planted (``_forward_variant``, ``_RECTANGLE_VARIANTS``,
``_backward_variant``). A mistake is named only when its variant gave the student's result
on every example graded so far and differs from the correct result on the failing one
(:class:`_Suspects`). Fixed larger examples, the *witnesses*, are graded before the drawn
ones, so that mistakes that agree on small inputs are told apart.

Conventions (docs/method.md §1): u⁰ = 0, a neuron fires when u_pre ≥ V_th, hard reset to 0.
Messages count time steps t = 1..T as the equations do (row t − 1 of an array).
"""
from __future__ import annotations

from ..core import Exercise
from .lif_backward import _BACKWARD_MISTAKES, _grade_backward
from .lif_forward import _FORWARD_MISTAKES, _grade_forward
from .surrogate import _SURROGATE_MISTAKES, _grade_surrogate

__all__ = ["EXERCISES"]

EXERCISES = (
    Exercise("lif_forward", "The LIF forward (Eqs. 1–2)", "01_lif_forward.ipynb",
             ("lif_forward",), _grade_forward, _FORWARD_MISTAKES),
    Exercise("surrogate", "The rectangle surrogate and its primitive (Eq. 5)",
             "02_surrogate.ipynb", ("rectangle", "rectangle_primitive"), _grade_surrogate,
             _SURROGATE_MISTAKES),
    Exercise("lif_backward", "BPTT through the LIF by hand (Eq. 4)", "03_lif_backward.ipynb",
             ("lif_backward",), _grade_backward, _BACKWARD_MISTAKES),
)
