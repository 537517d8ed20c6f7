"""The original design's ten statistics of one light curve."""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.lightcurve.features import FLUX_STATISTICS, flux_statistics


def test_flux_statistics_of_a_known_curve():
    flux = 1000.0 * np.array([1.0, 1.0, 1.0, 0.99, 1.0, 1.0, 1.0, 1.01])
    stats = dict(zip(FLUX_STATISTICS, flux_statistics(flux), strict=True))
    assert stats["flux_median"] == pytest.approx(0.0)
    assert stats["flux_min"] == pytest.approx(-0.01)
    assert stats["flux_range"] == pytest.approx(0.02)
    assert stats["flux_mean"] == pytest.approx(0.0)


def test_flux_statistics_find_the_dominant_frequency():
    t = np.arange(1000)
    flux = 1 + 0.01 * np.sin(2 * np.pi * t / 50)
    stats = dict(zip(FLUX_STATISTICS, flux_statistics(flux), strict=True))
    assert stats["flux_dominant_frequency"] == pytest.approx(1 / 50, rel=0.01)
    assert stats["flux_dominant_power"] > 0.9


def test_flux_statistics_of_hostile_curves_are_nan_not_errors():
    assert np.isnan(flux_statistics(np.full(10, np.nan))).all()
    constant = flux_statistics(np.ones(20))
    assert constant[FLUX_STATISTICS.index("flux_std")] == 0


def test_flux_statistics_skew_and_kurtosis_match_scipy():
    from scipy import stats

    flux = 1000 + np.random.default_rng(0).normal(0, 1, 500) ** 3
    values = dict(zip(FLUX_STATISTICS, flux_statistics(flux), strict=True))
    rel = flux / np.median(flux) - 1
    assert values["flux_skew"] == pytest.approx(stats.skew(rel), rel=1e-9)
    assert values["flux_kurtosis"] == pytest.approx(stats.kurtosis(rel), rel=1e-9)
