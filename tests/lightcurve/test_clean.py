"""Light-curve preparation: cleaning, normalising, detrending and clipping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from exohunt.lightcurve.clean import (
    KEPLER_LONG_CADENCE_DAYS,
    biweight_trend,
    clean,
    clip_upper,
    detrend,
    normalize,
    robust_std,
)
from exohunt.lightcurve.views import fold, global_view
from tests.lightcurve.signals import box_transit

CADENCE = KEPLER_LONG_CADENCE_DAYS


@pytest.fixture(scope="module")
def kepler90(shared_data):
    """Kepler-90 quarter 3: real PDCSAP long-cadence flux (relative), time in BKJD."""
    from exohunt.io import read_dataset

    data = read_dataset(shared_data / "lightcurves" / "kplr011442793-2009350155506_llc.fits")
    return data.time[0], data.flux[0]


def test_clean_drops_bad_cadences_sorts_and_keeps_the_first_duplicate():
    time = np.array([3.0, 1.0, np.nan, 2.0, 1.0, 4.0, 5.0])
    flux = np.array([30.0, 10.0, 99.0, np.inf, 11.0, 40.0, 50.0])
    quality = np.array([0, 0, 0, 0, 0, 0, 8])
    before = (time.copy(), flux.copy())
    t, f = clean(time, flux, quality)
    assert t.tolist() == [1.0, 3.0, 4.0]
    assert f.tolist() == [10.0, 30.0, 40.0]
    np.testing.assert_array_equal(time, before[0])  # inputs untouched
    np.testing.assert_array_equal(flux, before[1])
    with pytest.raises(ValueError, match="time has 2 values but flux has 3"):
        clean([1.0, 2.0], [1.0, 2.0, 3.0])


def test_normalize_divides_by_the_median_and_refuses_centred_flux():
    np.testing.assert_allclose(normalize([2.0, 4.0, np.nan, 6.0]), [0.5, 1.0, np.nan, 1.5])
    with pytest.raises(ValueError, match="median -1.*positive level"):
        normalize([-2.0, -1.0, 0.5])


def test_biweight_follows_variability_but_not_transits_or_flares():
    rng = np.random.default_rng(1)
    time = np.arange(3197) * CADENCE
    variability = 1 + 0.002 * np.sin(2 * np.pi * time / 8.0)
    flux = variability * box_transit(time, 3.3, 1.1, 0.125, 0.003)
    flux += rng.normal(0, 2e-4, time.size)
    flux[500] += 0.05  # a flare
    trend = biweight_trend(time, flux)
    inner = (time > 0.5) & (time < time[-1] - 0.5)  # the window is one-sided at the ends
    error = np.abs(trend - variability)[inner]
    assert error.max() < 2e-4 and np.median(error) < 4e-5  # noise: 2e-4 per cadence
    detrended = detrend(time, flux)
    phase = np.abs(fold(time, 3.3, 1.1))
    assert 1 - np.median(detrended[phase < 0.05]) == pytest.approx(0.003, rel=0.05)
    quiet = inner & (phase > 0.1) & (np.arange(time.size) != 500)
    assert np.std(detrended[quiet]) < 2.2e-4


def test_detrending_a_real_kepler_quarter(kepler90):
    time, flux = kepler90
    original = flux.copy()
    detrended = detrend(time, flux)
    assert detrended.shape == flux.shape
    np.testing.assert_array_equal(flux, original)
    assert np.median(detrended) == pytest.approx(1.0, abs=1e-4)
    # Kepler-90 (V = 14) scatters by ~1e-4 per long cadence once stellar trends are removed
    assert robust_std(detrended) < 2e-4 < robust_std(flux)


def test_detrend_needs_sorted_finite_time():
    with pytest.raises(ValueError, match="sorted.*clean"):
        detrend(np.array([2.0, 1.0, 3.0]), np.ones(3))
    with pytest.raises(ValueError, match="finite.*clean"):
        detrend(np.array([1.0, np.nan, 3.0]), np.ones(3))
    with pytest.raises(ValueError, match="window_days must be positive"):
        detrend(np.arange(3.0), np.ones(3), window_days=0)


def test_clip_upper_removes_flares_and_keeps_transits():
    rng = np.random.default_rng(2)
    flux = 1 + rng.normal(0, 1e-3, 1000)
    flux[10], flux[20], flux[30] = 1.05, 0.95, np.nan
    keep = clip_upper(flux)
    assert not keep[10] and keep[20] and not keep[30]
    assert keep.sum() > 985
    assert clip_upper(np.ones(5)).all()


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-1e6, 1e6),
)


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    time=arrays(np.float64, st.integers(0, 300), elements=values),
    scale=st.floats(-1e3, 1e3),
)
def test_preparation_never_crashes_on_random_arrays(time, scale):
    flux = scale * np.cos(np.arange(time.size)) + scale
    t, f = clean(time, flux)
    assert np.isfinite(t).all() and np.isfinite(f).all() and (np.diff(t) > 0).all()
    trend = biweight_trend(t, f, 0.5)
    assert trend.shape == f.shape
    keep = clip_upper(f)
    assert keep.shape == f.shape and keep.dtype == bool
    if t.size:
        view = global_view(t, f, 1.7, float(t[0]))
        assert view.shape == (201,)
