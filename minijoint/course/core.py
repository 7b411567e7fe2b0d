r"""What an exercise is, and how its grader speaks to the learner.

An exercise is a function the student writes from the paper's equations (``lif_forward``,
``lif_backward``, ...). Its grader calls that function on inputs drawn by hypothesis and
compares the result with minijoint's own implementation (the reference) or with finite
differences. When the two disagree, the grader does not stop at "wrong": it compares the
student's result with each *known mistake* (the reference with the mistake planted, e.g.
the LIF backward without its reset term) and, when one matches, names it.

A grader is a function ``grade(funcs)`` that receives the student's functions by name and
either returns (the exercise passes) or raises:

* :class:`Wrong` — a result disagrees; its message names where (time step, term, input
  shape), the values expected and given, and the mistake when it is a known one;
* ``NotImplementedError`` — the student's stub was reached (the exercise is not done yet).

Any other exception raised by the student's code is reported with the input that raised it
(see :func:`call`). :func:`grade` turns all of this into a :class:`Verdict`.
"""
from __future__ import annotations

import dataclasses
import traceback
from typing import Callable

PASS, FAIL, NOT_IMPLEMENTED, MISSING, ERROR = "pass", "fail", "not implemented", "missing", "error"


class Wrong(AssertionError):
    """The student's result disagrees with the reference.

    ``message`` speaks to the learner; ``mistake`` is the key of a recognised common
    mistake (e.g. ``"missing_reset"``) or None when the error matches none of them."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.message, self.mistake = message, mistake


class StudentError(Exception):
    """The student's code raised; ``message`` says on which input (see :func:`call`)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: ``name`` is its key (``check("lif_forward")``, the CSV, the CLI)."""
    name: str
    title: str                       # "The LIF forward (Eqs. 1-2)"
    notebook: str                    # the solved notebook's file name in course/notebooks/
    functions: tuple                 # the names the student defines, e.g. ("lif_forward",)
    grade: Callable[[dict], None]    # raises Wrong / NotImplementedError, or returns
    mistakes: dict = dataclasses.field(default_factory=dict)  # key -> how the learner reads it


@dataclasses.dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str                      # PASS, FAIL, NOT_IMPLEMENTED, MISSING or ERROR
    message: str = ""
    mistake: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == PASS

    @property
    def score(self) -> float:
        return 1.0 if self.ok else 0.0

    def __str__(self) -> str:
        head = f"{self.exercise}: {self.status}"
        return head if not self.message else f"{head}\n  " + self.message.replace("\n", "\n  ")

    def _repr_pretty_(self, p, cycle):   # a notebook cell ending in check(...) shows the text
        p.text(str(self))


def call(fn, *args, inputs: str = "", **kwargs):
    """``fn(*args, **kwargs)`` for a student's function; an exception other than
    NotImplementedError becomes :class:`StudentError` naming ``inputs`` (e.g.
    ``"c of shape (3, 2, 4)"``) and the last line of the student's traceback."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:   # the student's bug, reported with the input that triggered it
        frames = traceback.extract_tb(e.__traceback__)
        where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
        on = f" on {inputs}" if inputs else ""
        raise StudentError(f"{getattr(fn, '__name__', 'your function')} raised "
                           f"{type(e).__name__}: {e}{on}{where}") from e


def for_all(strategy, check: Callable, *, examples: int = 30) -> None:
    """Run ``check(example)`` on examples drawn by hypothesis (derandomized: the same draws
    every time, so a grade is repeatable); when one fails, hypothesis shrinks it and the
    smallest failing example's exception propagates (a Wrong names its shape)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
              report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck),
              # no "explain" phase: it re-runs the failing example under a line tracer
              # (seconds per wrong answer) for notes the learner never sees
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
    @given(strategy)
    def run(example):
        check(example)

    run()


def grade(exercise: Exercise, namespace: dict) -> Verdict:
    """Grade ``exercise`` with the student's functions looked up in ``namespace``."""
    missing = [f for f in exercise.functions if not callable(namespace.get(f))]
    if missing:
        return Verdict(exercise.name, MISSING,
                       f"define {', '.join(missing)} (the exercise's function"
                       f"{'s' if len(missing) > 1 else ''}) before grading it")
    funcs = {f: namespace[f] for f in exercise.functions}
    try:
        exercise.grade(funcs)
    except NotImplementedError:
        return Verdict(exercise.name, NOT_IMPLEMENTED,
                       "not implemented yet: replace the `raise NotImplementedError` stub "
                       "with your code")
    except Wrong as w:
        return Verdict(exercise.name, FAIL, w.message, w.mistake)
    except StudentError as e:
        return Verdict(exercise.name, ERROR, e.message)
    except Exception as e:   # a crash outside call(): still a verdict, never a traceback
        return Verdict(exercise.name, ERROR, f"{type(e).__name__}: {e}")
    return Verdict(exercise.name, PASS)
