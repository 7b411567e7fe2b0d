"""The checkers a user runs on their own code: :func:`gradcheck` (:mod:`.gradcheck`), a
backward against central finite differences in float64 with a random upstream gradient;
also :func:`numerical_grad`, :func:`rel_error` and :class:`GradcheckError`."""
from .gradcheck import GradcheckError, gradcheck, numerical_grad, rel_error

__all__ = ["gradcheck", "numerical_grad", "rel_error", "GradcheckError"]
