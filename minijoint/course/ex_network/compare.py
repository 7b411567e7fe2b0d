r"""What the four network graders share: comparing one output with the reference
(:func:`_compare`), naming a known mistake only when it also explains the companion input
(:func:`_grade`), and the seeds the inputs are drawn from."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...tensor import Tensor
from ..core import StudentError, Wrong, for_all


def _array(value, what: str, inputs: str) -> np.ndarray:
    try:
        return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{what} must be an array of numbers, got {type(value).__name__}\n"
                    f"on {inputs}") from None


def _unpack(out, names: str, n: int, inputs: str) -> tuple:
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        raise Wrong(f"return the {n} values {names}, got {got}\non {inputs}")
    return tuple(out)


class _Off(Wrong):
    """An output is off. Which known mistake it is, if any, is worked out only by
    :func:`_grade`, on the smallest failing input: while shrinking, hypothesis runs many
    failing inputs, and planting every mistake in each of them would cost most of the time."""

    def __init__(self, message, mistakes, planted, same):
        super().__init__(message)
        self.mistakes, self.planted, self.same, self.example = mistakes, planted, same, None

    def planted_match(self):
        """The key of the first planted mistake that the student's output equals, or None."""
        for key, value in (self.planted() if self.planted else ()):
            if self.same(np.asarray(value, dtype=np.float64)):
                return key
        return None


def _compare(what, expected, given, inputs, mistakes, planted=None, axes="", rtol=1e-6,
             atol=1e-9) -> None:
    r"""Raise :class:`_Off` unless ``given`` has ``expected``'s shape and values.

    ``what`` names the output ("gx"), ``axes`` its axes ("N, C, H, W"), ``inputs`` the input
    that was drawn; the message shows the first entry that differs. ``planted`` returns
    [(mistake key, the reference with that mistake planted), ...]; ``mistakes`` maps each
    key to its hint."""
    given = _array(given, what, inputs)

    def same(a):
        return a.shape == given.shape and np.allclose(a, given, rtol=rtol, atol=atol)

    if same(expected):
        return
    if given.shape != expected.shape:
        msg = f"{what} has shape {given.shape}, expected {expected.shape}"
    else:
        off = ~np.isclose(given, expected, rtol=rtol, atol=atol)
        at = np.unravel_index(np.argmax(off), off.shape)
        where = f" at [{', '.join(map(str, at))}]" + (f" (axes {axes})" if axes else "")
        msg = (f"{what} is off{where if given.ndim else ''}: expected {expected[at]:.6g}, "
               f"got {given[at]:.6g}" + (f" ({off.sum()} of {off.size} values differ)"
                                          if off.size > 1 else ""))
    raise _Off(f"{msg}\non {inputs}", mistakes, planted, same)


def _grade(strategy, check, companion) -> None:
    """:func:`~.core.for_all` of ``check``. On a failure, the smallest failing input's
    mistake is named when it is also the mistake on ``companion(input)``."""
    def run(example):
        try:
            check(example)
        except _Off as off:
            off.example = example
            raise

    try:
        for_all(strategy, run)
    except _Off as off:
        key = again = off.planted_match()
        if key is not None:
            try:
                check(companion(off.example))
                again = None           # right on the companion: the mistake does not explain it
            except _Off as other:
                again = other.planted_match()
            except (Wrong, StudentError):
                again = None
        if key is None or again != key:
            raise Wrong(off.message) from None
        raise Wrong(f"{off.message}\nKnown mistake `{key}`: {off.mistakes[key]}", key) from None


def _seed(draw) -> int:
    return draw(st.integers(0, 255))   # a few bits: a 32-bit seed takes long to shrink


def _other_seed(spec: dict) -> dict:
    """The companion of an input of arrays: the same shapes and settings, other values
    (the mistakes here show through the shapes and settings, never through the values)."""
    return {**spec, "seed": spec["seed"] + 1}
