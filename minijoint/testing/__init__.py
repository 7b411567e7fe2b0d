"""The checkers a user runs on their own code.

* :func:`gradcheck` (:mod:`.gradcheck`): a backward against central finite differences in
  float64, with a random upstream gradient; also :func:`numerical_grad`, :func:`rel_error`
  and :class:`GradcheckError`.
* :func:`check_surrogate` (:mod:`.surrogates`): every promise a surrogate gradient (Eq. 5)
  makes — P′ = s, s ≥ 0, its peak, area, support and kinks, finite values far from the
  threshold, and the smooth LIF's BPTT through it — in a :class:`SurrogateReport`.
"""
from .gradcheck import GradcheckError, gradcheck, numerical_grad, rel_error
from .surrogates import SurrogateReport, check_surrogate

__all__ = ["gradcheck", "numerical_grad", "rel_error", "GradcheckError", "check_surrogate",
           "SurrogateReport"]
