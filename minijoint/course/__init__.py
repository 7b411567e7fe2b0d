r"""A course in a box: exercises students solve, and a grader that explains their mistakes.

* :func:`check` grades one exercise in place, in the student's notebook:
  ``check("lif_forward")`` finds ``lif_forward`` among the notebook's names.
* :data:`EXERCISES` lists every exercise (:mod:`minijoint.course.exercises`); each one's
  grader lives beside its reference in :mod:`~minijoint.course.ex_neuron` (the LIF neuron,
  its surrogate, BPTT) or :mod:`~minijoint.course.ex_network` (convolution, factorized
  layer, joint loss, energy).
* The solved notebooks in ``course/notebooks/`` are the one source of truth; the student
  notebooks are generated from them, never edited by hand.
"""
from __future__ import annotations

import inspect

from .core import Exercise, Verdict, Wrong  # noqa: F401

__all__ = ["check", "Exercise", "Verdict", "Wrong", "EXERCISES"]


def check(name: str, namespace: dict | None = None) -> Verdict:
    """Grade exercise ``name`` with the functions defined where ``check`` is called (or in
    ``namespace``). Returns the :class:`Verdict`; a notebook cell shows it as text, and a
    script prints it with ``print(check(...))``."""
    from .core import grade
    from .exercises import get_exercise
    if namespace is None:
        namespace = inspect.currentframe().f_back.f_globals   # the caller's names
    return grade(get_exercise(name), namespace)


def __getattr__(name):
    if name == "EXERCISES":
        from .exercises import EXERCISES
        return EXERCISES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
