r"""The network exercises of the course: conv2d's backward through col2im (4), the factorized
layer's gradients (5, Eq. 13), the joint loss with its stop-gradient (6, Eqs. 7–10) and one
energy count (7, Table 5).

Every grader works the same way. hypothesis draws small float64 inputs
(:func:`.core.for_all`), minijoint's own implementation gives the expected result, and
:func:`_compare` checks the student's outputs one by one. When an output is off on the
smallest failing input (hypothesis shrinks it), the grader plants each known mistake of that
output in the reference (the ``_*_planted`` functions and lists of each exercise's module,
independent of the student's code) and names the one that the student's output equals, in
the message with a hint and in ``Wrong.mistake``. Two rules keep the names honest: a mistake
is looked for only where the output differs from the reference (a mistake that changes
nothing on an input is never blamed for it), and it must also explain the student's result
on a *companion* input, the same shapes and settings with other numbers (a coincidence of
numbers is never named).
"""
from __future__ import annotations

from ..core import Exercise
from .conv2d_backward import CONV_MISTAKES, _grade_conv2d_backward
from .energy_count import ENERGY_MISTAKES, _grade_energy_count
from .factorized import FACTORIZED_MISTAKES, _grade_factorized
from .joint_loss import JOINT_LOSS_MISTAKES, _grade_joint_loss

__all__ = ["EXERCISES"]

EXERCISES = (
    Exercise("conv2d_backward", "conv2d's backward through col2im", "04_conv2d_backward.ipynb",
             ("col2im", "conv2d_backward"), _grade_conv2d_backward, CONV_MISTAKES),
    Exercise("factorized", "The factorized layer's gradients (Eq. 13)", "05_factorized.ipynb",
             ("factorized_backward",), _grade_factorized, FACTORIZED_MISTAKES),
    Exercise("joint_loss", "The joint loss and its stop-gradient (Eqs. 7–10)",
             "06_joint_loss.ipynb", ("joint_loss",), _grade_joint_loss, JOINT_LOSS_MISTAKES),
    Exercise("energy_count", "One energy count (Table 5)", "07_energy_count.ipynb",
             ("energy_count",), _grade_energy_count, ENERGY_MISTAKES),
)
