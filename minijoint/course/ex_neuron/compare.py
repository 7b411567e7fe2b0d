r"""What the three neuron graders share: the tolerances, checking an output, finding and
showing where it differs, and naming a known mistake only when its variant explains every
result the student's function gave (:class:`_Suspects`)."""
from __future__ import annotations

import numpy as np

from ..core import StudentError, Wrong, for_all

RTOL, ATOL = 1e-9, 1e-12          # student against reference: only rounding may differ
FD_RTOL, FD_ATOL = 1e-5, 1e-7     # against central differences (docs/method.md §11)
# T = 1..5, drawn from a list: hypothesis draws small integers far more often than large
# ones, while most mistakes only show, and only differ from each other, from T = 3 on
_STEPS = (1, 2, 3, 4, 5)


def _array(name: str, out, shape: tuple):
    """``out`` as a float64 array of ``shape``, or Wrong saying what came back instead."""
    try:
        a = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{name} must be an array of shape {shape}; got {type(out).__name__}") from None
    if a.shape != shape:
        raise Wrong(f"{name} has shape {a.shape}; expected {shape}")
    return a


def _close(a, b, rtol=RTOL, atol=ATOL):
    return np.isclose(a, b, rtol=rtol, atol=atol)


def _at(index: tuple) -> str:
    """A neuron's index within (N, ...), as the learner would type it."""
    return str(tuple(int(i) for i in index))


def _row(values) -> str:
    return "  ".join(f"{float(v):8.5g}" for v in np.ravel(values))


class _Suspects:
    """The known-mistake variants that explain every result the student's function gave in
    one grading. Each example drops the variants whose result differs from the student's;
    on a failing example, the first one left that differs from the truth is the mistake."""

    def __init__(self, variants, rtol=RTOL, atol=ATOL):
        self.left, self.rtol, self.atol = list(variants), rtol, atol

    def observe(self, given, truth, compute):
        """Narrow down with ``given`` (``compute(vid)`` is that variant's result on this
        example); return the variant id to name, or None."""
        same = lambda a, b: np.allclose(a, b, rtol=self.rtol, atol=self.atol)   # noqa: E731
        results = {vid: compute(vid) for vid in self.left}
        self.left = [vid for vid in self.left if same(given, results[vid])]
        return next((vid for vid in self.left if not same(results[vid], truth)), None)


def _wrong(message: str, vid, hints: dict) -> Wrong:
    """Wrong with the hint of variant ``vid`` appended (its key is the part before ':')."""
    if vid is None:
        return Wrong(message)
    key = vid.split(":")[0]
    return Wrong(f"{message}\n  Known mistake `{key}`: {hints[vid]}", mistake=key)


def _run(check, witnesses, strategy, examples: int) -> None:
    """``check`` on the fixed ``witnesses``, then on hypothesis's draws (:func:`for_all`).

    The witnesses are larger examples on which the known mistakes all differ: seen first,
    they narrow the suspects (derandomized draws are mostly small). A witness that fails or
    crashes is reported only if no drawn example does: a drawn one is shrunk, so easier to
    read."""
    failed = None
    for example in witnesses:
        try:
            check(example)
        except (Wrong, StudentError) as e:
            failed = failed or e
    for_all(strategy, check, examples=examples)
    if failed is not None:
        raise failed
