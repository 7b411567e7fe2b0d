"""check_surrogate (#15): the shipped surrogates and a user's own pass; each planted flaw
fails the check that owns it, and the report's line names the point where it shows."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import erf

from minijoint.snn import ATan, Rectangle, Sigmoid, Surrogate, Triangle
from minijoint.testing import SurrogateReport, check_surrogate

NAMES = ["primitive", "nonnegative", "claims", "finite", "lif_gradcheck"]


class SuperSpike(Surrogate):
    r"""SuperSpike's fast sigmoid (Zenke & Ganguli 2018), written as a user would.

    s(u) = 1/(1 + β|x|)²,  x = u − V_th          peak 1 at V_th, area 2/β, support ℝ
    P(u) = 1/(β(1 + β|x|)) for x ≤ 0, 2/β − 1/(β(1 + β|x|)) for x > 0;  kink at V_th
    """

    def __init__(self, beta=10.0):
        self.beta = float(beta)

    def grad(self, u, v_th, out=None):
        return 1.0 / (1.0 + self.beta * np.abs(u - v_th)) ** 2

    def primitive(self, u, v_th):
        left = 1.0 / (self.beta * (1.0 + self.beta * np.abs(u - v_th)))
        return np.where(u <= v_th, left, 2.0 / self.beta - left)

    def peak(self, v_th):
        return 1.0

    def area(self, v_th):
        return 2.0 / self.beta

    def kinks(self, v_th):
        return (float(v_th),)


# ---- planted flaws, one per check -----------------------------------------------------------
class WrongPrimitive(Sigmoid):
    """P = σ(α'x) with α' ≠ α: P′ ≠ s."""

    def __init__(self, alpha=4.0, alpha_p=4.4):
        super().__init__(alpha)
        self.alpha_p = alpha_p

    def primitive(self, u, v_th):
        return Sigmoid(self.alpha_p).primitive(u, v_th)


class WrongArea(ATan):
    def __init__(self, alpha=2.0, claimed=1.2):
        super().__init__(alpha)
        self.claimed = claimed

    def area(self, v_th):
        return self.claimed


class NegativeLobe(Surrogate):
    """s = exp(−x²) − ¼·exp(−x²/4): a bump with negative side lobes, lowest at
    x² = (4/3)·ln 16 (where s′ = 0), s = −0.0744 there; area √π/2, peak ¾."""

    def grad(self, u, v_th, out=None):
        x = u - v_th
        return np.exp(-x * x) - 0.25 * np.exp(-x * x / 4)

    def primitive(self, u, v_th):
        x = u - v_th
        return math.sqrt(math.pi) * (0.5 * (1 + erf(x)) - 0.25 * (1 + erf(x / 2)))

    def peak(self, v_th):
        return 0.75

    def area(self, v_th):
        return math.sqrt(math.pi) / 2


class NaNTails(Sigmoid):
    """The naive sigmoid: exp(−αx) overflows below the threshold, and inf/inf is NaN."""

    def grad(self, u, v_th, out=None):
        e = np.exp(-self.alpha * (u - v_th))
        return self.alpha * e / (1 + e) ** 2


class Float32Overflow(Sigmoid):
    """s = α/(e^{αx/2} + e^{−αx/2})²: right, and finite (1/inf = 0), but for α = 0.05 the
    square overflows float32 from |x| ≈ 1800 on; float64 holds out past 1e4."""

    def grad(self, u, v_th, out=None):
        h = np.exp(0.5 * self.alpha * (u - v_th))
        return self.alpha / (h + 1 / h) ** 2


def line(report, name):
    (found,) = [text for n, _, text in report.checks if n == name]
    return found


def worst_x(text):
    """The x = u − V_th a report line names first."""
    return float(re.search(r"u − V_th = (\S+?)[:,; )]", text + " ")[1])


surrogates = st.one_of(st.floats(0.2, 3.0).map(Rectangle), st.floats(0.3, 4.0).map(Triangle),
                       st.floats(0.5, 10.0).map(Sigmoid), st.floats(0.3, 10.0).map(ATan),
                       st.floats(0.5, 50.0).map(SuperSpike))
v_ths = st.floats(0.1, 3.0)


# ---- what passes ----------------------------------------------------------------------------
@pytest.mark.parametrize("sg", [Rectangle(), Triangle(), Sigmoid(), ATan(), SuperSpike()],
                         ids=lambda sg: type(sg).__name__)
def test_the_shipped_surrogates_and_superspike_pass_with_their_defaults(sg):
    report = check_surrogate(sg)
    assert isinstance(report, SurrogateReport)
    assert report.ok and report.failed == [], str(report)
    assert [name for name, _, _ in report.checks] == NAMES
    assert report.raise_if_failed() is report


@settings(max_examples=20)
@given(surrogates, v_ths)
def test_every_surrogate_passes_with_drawn_parameters(sg, v_th):
    check_surrogate(sg, v_th).raise_if_failed()


def test_the_report_reads_one_line_per_check():
    report = check_surrogate(SuperSpike(4.0), 0.7)
    lines = str(report).splitlines()
    assert lines[0] == "check_surrogate(SuperSpike(beta=4.0), v_th=0.7): all checks pass"
    assert lines[1:] == [text for _, _, text in report.checks]
    for name, text in zip(NAMES, lines[1:]):
        assert text.startswith(f"{name:<13} ok    "), text
    assert "area 0.5" in line(report, "claims") and "kinks at u = 0.7" in line(report, "claims")


def test_the_report_is_reproducible_and_the_seed_draws_the_lif_cases():
    a, b = check_surrogate(Sigmoid(), seed=3), check_surrogate(Sigmoid(), seed=3)
    assert str(a) == str(b)
    assert line(check_surrogate(Sigmoid(), seed=4), "lif_gradcheck") != line(a, "lif_gradcheck")


# ---- what fails, and which check says so ----------------------------------------------------
@settings(max_examples=10)
@given(alpha=st.floats(1.0, 8.0), change=st.sampled_from([0.9, 0.97, 1.03, 1.2]))
def test_a_wrong_primitive_fails_primitive(alpha, change):
    report = check_surrogate(WrongPrimitive(alpha, alpha * change))
    assert "primitive" in report.failed and "claims" not in report.failed, str(report)
    assert "by finite differences" in line(report, "primitive")
    with pytest.raises(AssertionError, match=r"(?s)FAILED: primitive.*primitive     FAIL"):
        report.raise_if_failed()


@settings(max_examples=10)
@given(claimed=st.sampled_from([0.5, 0.99, 1.01, 2.0]))
def test_a_wrong_area_fails_claims_and_nothing_else(claimed):
    report = check_surrogate(WrongArea(2.0, claimed))
    assert report.failed == ["claims"], str(report)
    assert line(report, "claims").startswith(f"claims        FAIL  area {claimed:.6g}: "
                                             f"P(+∞) − P(−∞) = 1, ∫s = 1")


def test_a_negative_lobe_fails_nonnegative_at_its_lowest_point():
    report = check_surrogate(NegativeLobe())
    assert "nonnegative" in report.failed, str(report)
    assert "primitive" not in report.failed      # P is right; s itself is the flaw
    text = line(report, "nonnegative")
    assert re.search(r"min s = -0\.074", text), text
    assert abs(abs(worst_x(text)) - math.sqrt(4 / 3 * math.log(16))) < 0.02, text


def test_nan_in_the_far_tails_fails_finite():
    report = check_surrogate(NaNTails(4.0))
    assert "finite" in report.failed, str(report)
    text = line(report, "finite")
    assert "grad is nan" in text and worst_x(text) < -10, text


def test_an_overflow_in_float32_fails_finite_alone():
    report = check_surrogate(Float32Overflow(0.05))
    assert report.failed == ["finite"], str(report)
    text = line(report, "finite")
    assert "float32" in text and "overflow" in text and abs(worst_x(text)) > 1000, text


# ---- the claims, one by one -----------------------------------------------------------------
class NoKinkSuperSpike(SuperSpike):
    def kinks(self, v_th):
        return ()


class NoKinkRectangle(Rectangle):
    def kinks(self, v_th):
        return ()


class KinkedATan(ATan):
    """ATan listing a kink at u = V_th + offset, where it has none."""

    def __init__(self, offset):
        super().__init__(2.0)
        self.offset = offset

    def kinks(self, v_th):
        return (v_th + self.offset,)


@pytest.mark.parametrize("sg, where", [(NoKinkSuperSpike(), 0.0), (NoKinkRectangle(0.6), 0.3)])
def test_an_unlisted_kink_fails_claims_where_it_is(sg, where):
    report = check_surrogate(sg)
    text = line(report, "claims")
    assert "claims" in report.failed and "which kinks() does not list" in text, str(report)
    found = worst_x(text.split("no kinks: ")[1])
    assert abs(abs(found) - where) < 1e-3, text


@pytest.mark.parametrize("offset", [0.0, 0.3, -2.0])
def test_a_listed_kink_where_s_is_smooth_fails_claims(offset):
    report = check_surrogate(KinkedATan(offset))
    assert report.failed == ["claims"], str(report)
    assert f"s is smooth at the listed kink u − V_th = {offset:.4g}" in line(report, "claims")


class Claims(Sigmoid):
    """Sigmoid(4) with one claim overridden."""

    def __init__(self, **claims):
        super().__init__(4.0)
        self.claims = claims

    def peak(self, v_th):
        return self.claims.get("peak", super().peak(v_th))

    def support(self, v_th):
        return self.claims.get("support", super().support(v_th))

    def peak_at(self, v_th):
        return self.claims.get("peak_at", v_th)


@pytest.mark.parametrize("claims, says", [
    (dict(peak=1.01), "peak 1.01: max of s 1 at u − V_th = 0"),
    (dict(peak_at=0.7), "s = 0.855639 at the claimed u − V_th = 0.2"),  # 4·σ(0.8)·σ(−0.8)
    (dict(support=(-0.5, 1.5)), "support (-0.5, 1.5): s = "),
], ids=["peak", "peak_at", "support"])
def test_each_wrong_claim_fails_claims_and_is_named(claims, says):
    report = check_surrogate(Claims(**claims))
    assert report.failed == ["claims"], str(report)
    assert says in line(report, "claims"), line(report, "claims")


def test_a_finite_support_that_is_claimed_infinite_fails_inside():
    class Wide(Triangle):
        def support(self, v_th):
            return (-math.inf, math.inf)

    text = line(check_surrogate(Wide()), "claims")
    assert "support (-inf, inf): s = 0 at" in text and text.endswith("inside"), text


def test_underflow_in_an_infinite_support_is_not_a_zero_inside():
    # Sigmoid(50): exp(−50·|x|) is 0 in float64 beyond |x| ≈ 15, yet its support is ℝ
    report = check_surrogate(Sigmoid(50.0))
    assert report.ok, str(report)
    assert Sigmoid(50.0).grad(np.array([20.5]), 0.5)[0] == 0.0


def test_a_missing_method_fails_its_check_with_the_exception():
    class Bare(Surrogate):       # grad and primitive only: peak and area raise
        def grad(self, u, v_th, out=None):
            return ATan().grad(u, v_th)

        def primitive(self, u, v_th):
            return ATan().primitive(u, v_th)

    report = check_surrogate(Bare())
    assert report.failed == ["claims"], str(report)
    assert "peak: raised NotImplementedError" in line(report, "claims")


def test_a_wrong_dtype_fails_finite():
    class Upcasts(ATan):
        def grad(self, u, v_th, out=None):
            return super().grad(u.astype(np.float64), v_th)

    text = line(check_surrogate(Upcasts()), "finite")
    assert "grad of a float32 array of shape (67,) returned float64" in text, text


def test_a_grad_that_writes_into_its_input_fails_finite_and_the_lif_check():
    class InPlace(Sigmoid):
        def grad(self, u, v_th, out=None):
            u -= v_th                      # the LIF's backward reads u_pre after this
            return super().grad(u, 0.0)

    report = check_surrogate(InPlace())
    assert report.failed == ["finite", "lif_gradcheck"], str(report)
    assert "grad wrote into its input u" in line(report, "finite")


# ---- bad input ------------------------------------------------------------------------------
def test_a_class_instead_of_an_instance_is_a_type_error():
    with pytest.raises(TypeError, match=r"got the class Sigmoid; pass an instance.*Sigmoid\(\)"):
        check_surrogate(Sigmoid)


@pytest.mark.parametrize("bad", ["sigmoid", 4.0, None, np.zeros(3)])
def test_anything_else_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError, match=rf"expected a Surrogate instance.*{type(bad).__name__}"):
        check_surrogate(bad)


@pytest.mark.parametrize("v_th", [0.0, -1.0, math.inf, math.nan, "0.5", True])
def test_a_bad_threshold_is_a_value_error(v_th):
    with pytest.raises(ValueError, match=r"v_th must be a finite number > 0, got v_th="):
        check_surrogate(Sigmoid(), v_th)

