"""Folding, binning and AstroNet views."""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.lightcurve.clean import KEPLER_LONG_CADENCE_DAYS
from exohunt.lightcurve.views import (
    bin_median,
    fold,
    global_view,
    local_view,
    normalize_view,
    views,
)
from tests.lightcurve.signals import trapezoid_transit

CADENCE = KEPLER_LONG_CADENCE_DAYS


def test_fold_puts_mid_transit_at_zero_within_half_a_period():
    time = np.array([10.0, 11.0, 12.5, 13.9, 14.0])
    phase = fold(time, period=2.0, epoch=10.0)
    np.testing.assert_allclose(phase, [0.0, -1.0, 0.5, -0.1, 0.0], atol=1e-12)
    assert (phase >= -1.0).all() and (phase < 1.0).all()
    with pytest.raises(ValueError, match="period must be a positive"):
        fold(time, 0.0, 10.0)


def test_bin_median_contiguous_overlapping_and_empty_bins():
    x = np.array([0.1, 0.2, 0.3, 1.5, 2.5, 2.6, 2.7])
    y = np.array([1.0, 2.0, 9.0, 4.0, 5.0, 7.0, 6.0])
    np.testing.assert_array_equal(bin_median(x, y, 3, (0.0, 3.0)), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(bin_median(x, y, 6, (0.0, 3.0))[[1, 2, 4]], [np.nan] * 3)
    wide = bin_median(x, y, 3, (0.0, 3.0), width=2.0)  # [0, 2), [0.5, 2.5), [1, 3)
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
        np.testing.assert_allclose(normalize_view(view[0]), view[0], atol=1e-6)

    rng = np.random.default_rng(3)
    time = np.arange(3197) * CADENCE
    period, epoch, duration = 4.2, 1.3, 0.15
    flux = trapezoid_transit(time, period, epoch, duration, 0.003)
    flux += rng.normal(0, 2e-4, time.size)
    global_, local = views(time, flux, period, epoch, duration)
    assert global_.shape == (201,) and local.shape == (61,)
    for view, centre in ((global_, 100), (local, 30)):
        assert np.median(view) == pytest.approx(0, abs=1e-12)
        assert view.min() == -1
        assert abs(int(np.argmin(view)) - centre) <= 8
        assert view[centre] < -0.7
    ours = (local < -0.5).mean()
    assert np.quantile(share, 0.1) <= ours <= np.quantile(share, 0.9)


def test_views_of_empty_or_flat_curves_are_nan_or_zero():
    assert np.isnan(global_view(np.array([]), np.array([]), 3.0, 0.0)).all()
    flat = local_view(np.arange(100.0) * 0.02, np.ones(100), 1.0, 0.5, 0.1)
    assert (flat == 0).all()
    with pytest.raises(ValueError, match="duration must be a positive"):
        local_view(np.arange(10.0), np.ones(10), 3.0, 0.0, -1.0)
