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


def _fold_measures(shared_data, star_ids: set[str]) -> dict[str, dict[str, float]]:
    """The ``fold_*`` transit features of real curves folded on their truth.csv ephemeris."""
    import pandas as pd

    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.features import TRANSIT_FEATURES, transit_features

    folder = shared_data / "real_lightcurves"
    truth = pd.read_csv(folder / "truth.csv", dtype={"star_id": str}).drop_duplicates("star_id")
    truth = truth.set_index("star_id")
    out = {}
    for star in iter_stars(folder):
        if star.star_id in star_ids:
            r = truth.loc[star.star_id]
            values, problem = transit_features(
                star.flux, star.time, r.period_days, r.epoch, r.duration_hours
            )
            assert problem is None
            out[star.star_id] = dict(zip(TRANSIT_FEATURES, values, strict=False))
    assert set(out) == star_ids
    return out


def test_the_fold_measures_see_a_real_binarys_second_eclipse_and_none_on_real_planets(
    shared_data,
):
    # KOI-1611 (a Kepler eclipsing binary: its eccentric secondary falls at phase ~0.49), against
    # Kepler-1 b, TOI-114.01 and TOI-101.01, folded on their catalogue ephemerides.
    binary, planets = "12644769", ("11446443", "25155310", "231663901")
    measures = _fold_measures(shared_data, {binary, *planets})
    eb = measures[binary]
    assert eb["fold_deepest_other_dip_snr"] > 100
    assert eb["fold_other_dip_phase"] == pytest.approx(0.5, abs=0.02)
    for star in planets:
        planet = measures[star]
        assert planet["fold_deepest_other_dip_snr"] < 5
        assert planet["fold_secondary_snr"] < 3
        assert planet["fold_depth_local"] == pytest.approx(1.0)  # views are normalised to -1
        assert planet["fold_snr_local"] > 50  # deep, well sampled transits
        assert planet["fold_flatness_local"] > 0.6  # U-shaped: not a point
