"""Surrogate derivatives (Eq. 5): s = P', peak, area, support, kinks, stability, validation."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.integrate import quad

from minijoint.snn import ATan, Rectangle, Sigmoid, Surrogate, Triangle, get_surrogate

from domains import away_from


surrogates = st.one_of(
    st.floats(0.2, 2.0).map(Rectangle),
    st.floats(0.5, 3.0).map(Triangle),
    st.floats(0.5, 8.0).map(Sigmoid),
    st.floats(0.5, 8.0).map(ATan),
)
v_ths = st.floats(0.1, 2.0)
fracs = arrays(np.float64, st.integers(1, 40), elements=st.floats(0.0, 1.0))


@given(fracs, st.lists(st.floats(-2.0, 2.0), max_size=4), st.floats(1e-3, 0.3))
def test_away_from_keeps_every_value_in_range_and_off_the_points(frac, points, margin):
    """The input builder the tests below rely on: values in [lo, hi], none within
    ``margin`` of a point (up to rounding), and order kept."""
    u = away_from(frac, points, -3.0, 3.0, margin)
    assert np.all((u >= -3.0) & (u <= 3.0))
    for p in points:
        assert np.all(np.abs(u - p) >= margin * (1 - 1e-9))
    order = np.argsort(frac, kind="stable")
    assert np.all(np.diff(u[order]) >= 0)


@given(surrogates, v_ths, fracs)
def test_grad_is_derivative_of_primitive(sg, v_th, frac):
    u = away_from(frac, sg.kinks(v_th), v_th - 3.0, v_th + 3.0, margin=1e-4)
    h = 1e-6
    numeric = (sg.primitive(u + h, v_th) - sg.primitive(u - h, v_th)) / (2 * h)
    np.testing.assert_allclose(sg.grad(u, v_th), numeric, rtol=1e-5, atol=1e-6)


@given(surrogates, v_ths)
def test_peak_at_threshold_and_nowhere_higher(sg, v_th):
    u = np.linspace(v_th - 5.0, v_th + 5.0, 2001)  # contains v_th exactly (odd count)
    s = sg.grad(u, v_th)
    assert np.max(s) == pytest.approx(sg.peak(v_th), rel=1e-12)
    assert sg.grad(np.array([v_th]), v_th)[0] == pytest.approx(sg.peak(v_th), rel=1e-12)


@given(surrogates, v_ths)
def test_area_by_numerical_integration(sg, v_th):
    lo, hi = sg.support(v_th)
    area, _ = quad(lambda x: float(sg.grad(np.array([x]), v_th)[0]), lo, hi,
                   points=None if np.isinf(lo) else sg.kinks(v_th), limit=200)
    assert area == pytest.approx(sg.area(v_th), rel=1e-6)
    # the primitive is a step from 0 to the area
    far = np.array([v_th - 1e4, v_th + 1e4])
    np.testing.assert_allclose(sg.primitive(far, v_th), [0.0, sg.area(v_th)], atol=1e-4)


@given(surrogates, v_ths, fracs)
def test_primitive_is_non_decreasing(sg, v_th, frac):
    u = np.sort(v_th - 4.0 + 8.0 * frac)
    assert np.all(np.diff(sg.primitive(u, v_th)) >= 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(sg=surrogates, v_th=v_ths,
       u=arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e4, 1e4)))
def test_stable_and_dtype_preserving_for_large_inputs(dtype, sg, v_th, u):
    u = np.concatenate([u, [-1e4, 1e4, v_th]]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, p = sg.grad(u, v_th), sg.primitive(u, v_th)
    for a in (s, p):
        assert a.dtype == dtype and np.all(np.isfinite(a))
    tol = 1e-6 * (dtype == np.float32)
    assert np.all(s >= 0) and np.all(s <= sg.peak(v_th) * (1 + tol))
    assert np.all(p >= 0) and np.all(p <= sg.area(v_th) * (1 + tol))


@pytest.mark.parametrize("make", [Rectangle, Triangle])
@given(param=st.floats(0.2, 2.0), v_th=v_ths, frac=fracs)
def test_finite_support(make, param, v_th, frac):
    sg = make(param)
    lo, hi = sg.support(v_th)
    margin = 1e-3
    inside = lo + margin + (hi - lo - 2 * margin) * frac
    outside = np.concatenate([lo - margin - 5 * frac, hi + margin + 5 * frac])
    assert np.all(sg.grad(inside, v_th) > 0)
    assert np.all(sg.grad(outside, v_th) == 0)


def test_unbounded_support_and_no_kinks_for_smooth_surrogates():
    for sg in (Sigmoid(), ATan()):
        assert sg.support(0.5) == (-np.inf, np.inf) and sg.kinks(0.5) == ()
        assert np.all(sg.grad(np.array([-50.0, 50.0]), 0.5) > 0)


@given(param=st.floats(0.2, 2.0), v_th=v_ths)
def test_kinks_are_real(param, v_th):
    """At Rectangle's kinks s jumps by 1/a; at Triangle's, s's slope changes by >= γ/V_th."""
    d = 1e-7
    rect = Rectangle(param)
    for k in rect.kinks(v_th):
        s = rect.grad(np.array([k - d, k + d]), v_th)
        assert abs(s[1] - s[0]) == pytest.approx(1 / param)
    tri = Triangle(param)
    for k in tri.kinks(v_th):
        s = tri.grad(np.array([k - d, k, k + d]), v_th)
        left, right = (s[1] - s[0]) / d, (s[2] - s[1]) / d
        assert abs(right - left) >= 0.99 * param / v_th


def test_documented_table_values():
    assert (Rectangle().peak(0.5), Rectangle().area(0.5), Rectangle().support(0.5)) == (1.0, 1.0, (0.0, 1.0))
    assert (Triangle(2.0).peak(0.5), Triangle(2.0).area(0.5), Triangle().support(0.5)) == (2.0, 1.0, (0.0, 1.0))
    assert (Sigmoid(4.0).peak(0.5), ATan(2.0).peak(0.5)) == (1.0, 1.0)
    assert Triangle().kinks(0.5) == (0.0, 0.5, 1.0)
    for sg in (Rectangle(), Triangle(), Sigmoid(), ATan()):
        assert sg.__doc__ and "peak" in sg.__doc__ and "area" in sg.__doc__


def test_grad_writes_into_out_and_keeps_input():
    u = np.linspace(-1.0, 2.0, 7)
    u0 = u.copy()
    for sg in (Rectangle(0.5), Triangle(), Sigmoid(), ATan()):
        out = np.empty_like(u)
        r = sg.grad(u, 0.5, out=out)
        assert r is out
        np.testing.assert_array_equal(out, sg.grad(u, 0.5))
        np.testing.assert_array_equal(u, u0)


@pytest.mark.parametrize("make, name", [(Rectangle, "a"), (Triangle, "gamma"),
                                        (Sigmoid, "alpha"), (ATan, "alpha")])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_parameters_raise(make, name, bad):
    with pytest.raises(ValueError, match=name):
        make(bad)


def test_non_number_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="alpha"):
        Sigmoid("4")


def test_get_surrogate_by_name():
    assert get_surrogate("rectangle") == Rectangle()
    assert get_surrogate("Triangle", gamma=2.0) == Triangle(2.0)
    assert get_surrogate("sigmoid", alpha=3.0) == Sigmoid(3.0)
    assert get_surrogate("atan") == ATan()
    assert get_surrogate("atan") != Sigmoid()
    assert isinstance(get_surrogate("atan"), Surrogate)
    sg = Sigmoid()
    assert get_surrogate(sg) is sg
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*rectangle"):
        get_surrogate("relu")
