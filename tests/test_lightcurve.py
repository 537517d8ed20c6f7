"""Light-curve preparation: cleaning, detrending, clipping, folding, binning and AstroNet views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from exohunt import lightcurve as lc

CADENCE = lc.KEPLER_LONG_CADENCE_DAYS


def box_transit(time, period, epoch, duration, depth):
    """Relative flux 1 with box transits (period, epoch, duration in days)."""
    return 1.0 - depth * (np.abs(lc.fold(time, period, epoch)) < duration / 2)


def trapezoid_transit(time, period, epoch, duration, depth, ingress=0.2):
    """Relative flux with trapezoid transits: ingress and egress each ``ingress`` x duration."""
    edge = np.abs(lc.fold(time, period, epoch)) - duration * (0.5 - ingress)
    return 1.0 - depth * np.clip(1 - edge / (ingress * duration), 0, 1)


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
    t, f = lc.clean(time, flux, quality)
    assert t.tolist() == [1.0, 3.0, 4.0]
    assert f.tolist() == [10.0, 30.0, 40.0]
    np.testing.assert_array_equal(time, before[0])  # inputs untouched
    np.testing.assert_array_equal(flux, before[1])
    with pytest.raises(ValueError, match="time has 2 values but flux has 3"):
        lc.clean([1.0, 2.0], [1.0, 2.0, 3.0])


def test_normalize_divides_by_the_median_and_refuses_centred_flux():
    np.testing.assert_allclose(lc.normalize([2.0, 4.0, np.nan, 6.0]), [0.5, 1.0, np.nan, 1.5])
    with pytest.raises(ValueError, match="median -1.*positive level"):
        lc.normalize([-2.0, -1.0, 0.5])


def test_biweight_follows_variability_but_not_transits_or_flares():
    rng = np.random.default_rng(1)
    time = np.arange(3197) * CADENCE
    variability = 1 + 0.002 * np.sin(2 * np.pi * time / 8.0)
    flux = variability * box_transit(time, 3.3, 1.1, 0.125, 0.003)
    flux += rng.normal(0, 2e-4, time.size)
    flux[500] += 0.05  # a flare
    trend = lc.biweight_trend(time, flux)
    inner = (time > 0.5) & (time < time[-1] - 0.5)  # the window is one-sided at the ends
    error = np.abs(trend - variability)[inner]
    assert error.max() < 2e-4 and np.median(error) < 4e-5  # noise: 2e-4 per cadence
    detrended = lc.detrend(time, flux)
    phase = np.abs(lc.fold(time, 3.3, 1.1))
    assert 1 - np.median(detrended[phase < 0.05]) == pytest.approx(0.003, rel=0.05)
    quiet = inner & (phase > 0.1) & (np.arange(time.size) != 500)
    assert np.std(detrended[quiet]) < 2.2e-4


def test_detrending_a_real_kepler_quarter(kepler90):
    time, flux = kepler90
    original = flux.copy()
    detrended = lc.detrend(time, flux)
    assert detrended.shape == flux.shape
    np.testing.assert_array_equal(flux, original)
    assert np.median(detrended) == pytest.approx(1.0, abs=1e-4)
    # Kepler-90 (V = 14) scatters by ~1e-4 per long cadence once stellar trends are removed
    assert lc.robust_std(detrended) < 2e-4 < lc.robust_std(flux)


def test_detrend_needs_sorted_finite_time():
    with pytest.raises(ValueError, match="sorted.*clean"):
        lc.detrend(np.array([2.0, 1.0, 3.0]), np.ones(3))
    with pytest.raises(ValueError, match="finite.*clean"):
        lc.detrend(np.array([1.0, np.nan, 3.0]), np.ones(3))
    with pytest.raises(ValueError, match="window_days must be positive"):
        lc.detrend(np.arange(3.0), np.ones(3), window_days=0)


def test_clip_upper_removes_flares_and_keeps_transits():
    rng = np.random.default_rng(2)
    flux = 1 + rng.normal(0, 1e-3, 1000)
    flux[10], flux[20], flux[30] = 1.05, 0.95, np.nan
    keep = lc.clip_upper(flux)
    assert not keep[10] and keep[20] and not keep[30]
    assert keep.sum() > 985
    assert lc.clip_upper(np.ones(5)).all()


def test_fold_puts_mid_transit_at_zero_within_half_a_period():
    time = np.array([10.0, 11.0, 12.5, 13.9, 14.0])
    phase = lc.fold(time, period=2.0, epoch=10.0)
    np.testing.assert_allclose(phase, [0.0, -1.0, 0.5, -0.1, 0.0], atol=1e-12)
    assert (phase >= -1.0).all() and (phase < 1.0).all()
    with pytest.raises(ValueError, match="period must be a positive"):
        lc.fold(time, 0.0, 10.0)


def test_bin_median_contiguous_overlapping_and_empty_bins():
    x = np.array([0.1, 0.2, 0.3, 1.5, 2.5, 2.6, 2.7])
    y = np.array([1.0, 2.0, 9.0, 4.0, 5.0, 7.0, 6.0])
    np.testing.assert_array_equal(lc.bin_median(x, y, 3, (0.0, 3.0)), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(lc.bin_median(x, y, 6, (0.0, 3.0))[[1, 2, 4]], [np.nan] * 3)
    wide = lc.bin_median(x, y, 3, (0.0, 3.0), width=2.0)  # [0, 2), [0.5, 2.5), [1, 3)
    np.testing.assert_array_equal(wide, [3.0, 4.0, 5.5])


def test_views_follow_the_tess_triage_conventions(shared_data):
    """Our views of a box transit look like the PC views of Astronet-Triage: median 0, minimum
    -1 at the centre, and a transit covering the same share of the local view."""
    triage = np.load(shared_data / "tess_astronet_triage_views.npz")
    pc = triage["Disposition"] == "PC"
    local_pc = triage["local_view"][pc]
    share = (local_pc < -0.5).mean(axis=1)  # fraction of local bins in transit
    for view in (triage["global_view"][pc][:50], local_pc[:50]):
        np.testing.assert_allclose(np.median(view, axis=1), 0, atol=1e-6)
        np.testing.assert_allclose(view.min(axis=1), -1, atol=1e-6)
        np.testing.assert_allclose(lc.normalize_view(view[0]), view[0], atol=1e-6)

    rng = np.random.default_rng(3)
    time = np.arange(3197) * CADENCE
    period, epoch, duration = 4.2, 1.3, 0.15
    flux = trapezoid_transit(time, period, epoch, duration, 0.003)
    flux += rng.normal(0, 2e-4, time.size)
    global_, local = lc.views(time, flux, period, epoch, duration)
    assert global_.shape == (201,) and local.shape == (61,)
    for view, centre in ((global_, 100), (local, 30)):
        assert np.median(view) == pytest.approx(0, abs=1e-12)
        assert view.min() == -1
        assert abs(int(np.argmin(view)) - centre) <= 8
        assert view[centre] < -0.7
    ours = (local < -0.5).mean()
    assert np.quantile(share, 0.1) <= ours <= np.quantile(share, 0.9)


def test_views_of_empty_or_flat_curves_are_nan_or_zero():
    assert np.isnan(lc.global_view(np.array([]), np.array([]), 3.0, 0.0)).all()
    flat = lc.local_view(np.arange(100.0) * 0.02, np.ones(100), 1.0, 0.5, 0.1)
    assert (flat == 0).all()
    with pytest.raises(ValueError, match="duration must be a positive"):
        lc.local_view(np.arange(10.0), np.ones(10), 3.0, 0.0, -1.0)


def test_odd_even_and_secondary_eclipse_of_an_eclipsing_binary():
    rng = np.random.default_rng(4)
    time = np.arange(3197) * CADENCE
    period, epoch, duration = 2.0, 0.7, 0.12
    cycle = np.rint((time - epoch) / period)
    flux = box_transit(time, period, epoch, duration, 0.010)
    flux -= 0.006 * ((np.abs(lc.fold(time, period, epoch)) < duration / 2) & (cycle % 2 == 1))
    flux -= 0.004 * (np.abs(lc.fold(time, period, epoch + period / 2)) < duration / 2)
    flux += rng.normal(0, 5e-4, time.size)
    assert lc.count_transits(time, period, epoch, duration) == 33
    diff, sigma = lc.odd_even_depths(time, flux, period, epoch, duration)
    assert diff == pytest.approx(0.006, rel=0.05) and sigma > 30
    depth, snr = lc.secondary_eclipse(time, flux, period, epoch, duration)
    assert depth == pytest.approx(0.004, rel=0.1) and snr > 20
    # a planet: equal depths, no secondary
    planet = box_transit(time, period, epoch, duration, 0.010) + rng.normal(0, 5e-4, time.size)
    assert lc.odd_even_depths(time, planet, period, epoch, duration)[1] < 4
    assert abs(lc.secondary_eclipse(time, planet, period, epoch, duration)[1]) < 4
    # one transit in the data: no even transits to compare
    single = time[time < 1.5]
    assert np.isnan(lc.odd_even_depths(single, np.ones(single.size), period, epoch, duration)).all()


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
    t, f = lc.clean(time, flux)
    assert np.isfinite(t).all() and np.isfinite(f).all() and (np.diff(t) > 0).all()
    trend = lc.biweight_trend(t, f, 0.5)
    assert trend.shape == f.shape
    keep = lc.clip_upper(f)
    assert keep.shape == f.shape and keep.dtype == bool
    if t.size:
        view = lc.global_view(t, f, 1.7, float(t[0]))
        assert view.shape == (201,)


def test_transit_shape_tells_a_flat_bottom_from_a_v():
    from exohunt.lightcurve import transit_shape

    t = np.arange(0, 60, 0.02)
    period, epoch, duration = 5.0, 1.0, 0.3
    offset = np.abs(np.mod(t - epoch + period / 2, period) - period / 2)
    inside = offset < duration / 2
    box = np.where(inside, 0.99, 1.0)
    vee = np.where(inside, 1 - 0.01 * (1 - 2 * offset / duration), 1.0)
    assert transit_shape(t, box, period, epoch, duration) == pytest.approx(1.0, abs=0.02)
    assert transit_shape(t, vee, period, epoch, duration) == pytest.approx(1 / 3, abs=0.05)
    assert np.isnan(transit_shape(t, np.ones_like(t), period, epoch, duration))  # no dip
