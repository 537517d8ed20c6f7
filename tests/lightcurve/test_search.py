"""The iterative search on light curves with known answers built in code; real data is in
tests/test_scan_real.py and tests/test_scan_kepler90.py."""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.lightcurve.search import (
    KEPLER_THRESHOLD,
    SearchSettings,
    duration_grid,
    max_duration,
    occultation_albedo,
    period_grid,
    search_star,
)

CADENCE = 29.4244 / 1440


def _curve(days=80.0, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    time = np.arange(0, days, CADENCE)
    return time, 1.0 + noise * rng.standard_normal(time.size)


def _box(time, period, epoch, duration, depth):
    phase = np.mod(time - epoch + 0.5 * period, period) - 0.5 * period
    return np.where(np.abs(phase) < 0.5 * duration, depth, 0.0)


def test_max_duration_is_the_physical_limit():
    # a central transit across the Sun at one year lasts 13 h; a 0.1-density star allows longer
    sun = max_duration(365.25, min_density=1.0, radius_ratio=0.0) * 24
    assert sun == pytest.approx(13.0, rel=0.05)
    assert max_duration(365.25, min_density=0.1) * 24 > 2 * sun
    assert np.all(np.diff(max_duration(np.array([1.0, 10, 100, 1000]))) > 0)
    assert max_duration(0.5) == pytest.approx(0.25)  # a star filling its orbit: half the period
    assert max_duration(0.5) < 0.5


def test_period_grid_follows_the_baseline():
    short = period_grid(27.0, 0.5, 13.5, 0.5, 10**6)
    long = period_grid(1460.0, 0.5, 730.0, 0.5, 10**6)
    assert short[0] == pytest.approx(0.5) and short[-1] == pytest.approx(13.5)
    assert np.all(np.diff(short) > 0)
    assert long.size > 20 * short.size  # finer with a longer baseline
    assert period_grid(1460.0, 0.5, 730.0, 0.5, 5000).size == 5000
    with pytest.raises(ValueError, match="no trial periods"):
        period_grid(0.8, 0.5, 0.4, 0.5, 1000)


def test_durations_start_at_two_cadences():
    assert duration_grid(CADENCE, 0.5, 1.35)[0] == pytest.approx(2 * CADENCE)
    assert duration_grid(2 / 1440, 0.5, 1.35)[0] == pytest.approx(0.5 / 24)


def test_two_planets_are_found_one_after_the_other():
    time, flux = _curve(seed=1)
    flux -= _box(time, 3.7, 1.3, 0.11, 3e-3) + _box(time, 11.2, 5.1, 0.16, 1.5e-3)
    result = search_star(time, flux, SearchSettings(max_planets=5))
    periods = [s.period for s in result.signals]
    assert periods[0] == pytest.approx(3.7, rel=1e-3)
    assert periods[1] == pytest.approx(11.2, rel=1e-3)
    assert len(result.signals) == 2  # then nothing above the threshold
    first = result.signals[0]
    assert abs(np.mod(first.epoch - 1.3 + 1.85, 3.7) - 1.85) < 0.5 * 0.11
    assert first.depth == pytest.approx(3e-3, rel=0.15)
    assert first.n_transits == 22
    assert first.odd_even_sigma < 3 and not first.doubled


def test_pure_noise_gives_nothing():
    time, flux = _curve(seed=2)
    result = search_star(time, flux)
    assert [s.snr for s in result.signals if s.snr < KEPLER_THRESHOLD] == []
    assert result.signals == []


def test_binary_found_at_half_its_period_is_doubled():
    """Equal spacing, unequal depths: a binary with a circular orbit. The search's best fold is
    at half the period; odd and even eclipses differ, so it reports the true period."""
    time, flux = _curve(seed=3)
    flux -= _box(time, 6.0, 2.0, 0.2, 8e-3) + _box(time, 6.0, 5.0, 0.2, 5e-3)
    signal = search_star(time, flux).signals[0]
    assert signal.period == pytest.approx(6.0, rel=1e-3)
    assert signal.doubled
    assert abs(np.mod(signal.epoch - 2.0 + 3.0, 6.0) - 3.0) < 0.1  # the deeper eclipse
    assert signal.secondary_phase == pytest.approx(0.5, abs=0.05)
    assert signal.secondary_snr > 20


@pytest.mark.parametrize("seed", range(4))
def test_gaps_do_not_double_a_planets_period(seed):
    """Gaps take every other transit early on, so folds at twice the period have only full
    boxes and the BLS rates them highest. The transits at half that orbit match the others in
    depth: the search reports the planet's own period, with all four transits, once."""
    time, flux = _curve(days=31.8, seed=seed)
    for start, end in [(0.69, 2.91), (11.07, 12.74), (13.7, 14.2), (27.16, 27.56)]:
        keep = (time < start) | (time > end)
        time, flux = time[keep], flux[keep]
    flux -= _box(time, 5.21, 0.963, 0.122, 3e-3)
    signals = search_star(time, flux).signals
    assert signals[0].period == pytest.approx(5.21, rel=2e-3)
    assert signals[0].n_transits == 4 and not signals[0].doubled
    assert all(abs(s.period / 5.21 - 2) > 0.01 for s in signals[1:])


def test_a_hot_jupiters_occultation_does_not_halve_its_period():
    """A shallow dip at phase 0.5 (an occultation, 4% of the transit's depth) differs from the
    transits: the period stays."""
    time, flux = _curve(seed=6)
    flux -= _box(time, 4.0, 1.0, 0.12, 1e-2) + _box(time, 4.0, 3.0, 0.12, 4e-4)
    signal = search_star(time, flux).signals[0]
    assert signal.period == pytest.approx(4.0, rel=1e-3)
    assert abs(np.mod(signal.epoch - 1.0 + 2.0, 4.0) - 2.0) < 0.05


def test_occultation_albedo_tells_a_planets_reflection_from_a_stars_light():
    from exohunt.lightcurve.simulate import _geometry

    # a hot Jupiter reflecting 30% of the light it intercepts: depth k^2 (R*/a)^2 0.3
    k, hot = 0.1, _geometry(3.0, 1.0, 0.0, 0.1)
    reflected = 0.3 * k**2 / hot["a_rs"] ** 2
    albedo = occultation_albedo(reflected, k**2, hot["duration"], 3.0)
    assert albedo == pytest.approx(0.3, rel=0.1)
    # an M dwarf (0.15 of the star's radius, 2% of its surface brightness) on a 14-day orbit
    k, dwarf = 0.15, _geometry(14.0, 1.0, 0.0, 0.15, mass_ratio=0.2)
    assert occultation_albedo(0.02 * k**2, k**2, dwarf["duration"], 14.0) > 5
    for bad in ((np.nan, 1e-2, 0.1, 3.0), (1e-5, 1e-2, 0.1, np.nan), (1e-5, 0.0, 0.1, 3.0)):
        assert np.isnan(occultation_albedo(*bad))


def test_a_lone_deep_transit_is_a_single_transit():
    time, flux = _curve(days=60, seed=4)
    flux -= _box(time, 1000.0, 41.3, 0.4, 5e-3)
    signal = search_star(time, flux).signals[0]
    assert signal.single and np.isnan(signal.period)
    assert signal.epoch == pytest.approx(41.3, abs=0.1)
    assert signal.period_lower_limit == pytest.approx(41.3, abs=0.2)
    assert signal.duration * 24 == pytest.approx(9.6, rel=0.3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_long_single_transit_the_usual_trend_eats_is_found(seed):
    # 14 hours, 15 sigma: a 0.75-day trend keeps a tenth of its depth, a 3-day one all of it
    time, flux = _curve(days=30, seed=seed)
    sigma = 1e-3 / np.sqrt((14 / 24) / CADENCE)
    flux -= _box(time, 1000.0, 17.2, 14 / 24, 15 * sigma)
    signals = search_star(time, flux).signals
    lone = [s for s in signals if s.single and abs(s.epoch - 17.2) < 0.2]
    assert lone, signals
    assert lone[0].snr > 10 and lone[0].duration * 24 == pytest.approx(14, rel=0.35)
    assert not search_star(time, flux, SearchSettings(single_window_days=0)).signals


def test_centred_flux_is_searched_as_it_is():
    time, flux = _curve(seed=5)
    z = (flux - 1.0) / 1e-3 - 4.0 * _box(time, 5.5, 0.7, 0.12, 1.0)  # z-scores, 4 sigma dips
    result = search_star(time, z)
    assert not result.relative
    assert result.signals[0].period == pytest.approx(5.5, rel=1e-3)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_planets"):
        SearchSettings(max_planets=0).validate()
    with pytest.raises(ValueError, match="max_period"):
        SearchSettings(min_period=2.0, max_period=1.0).validate()
    with pytest.raises(ValueError, match="single_window_days"):
        SearchSettings(single_window_days=-1.0).validate()
    assert SearchSettings().as_params()["max_period"] == "auto"


def test_masks_never_leave_nothing_to_detrend():
    """A long transit at a short period is masked at most half an orbit wide, and a search
    that has masked everything stops instead of failing."""
    time, flux = _curve(days=20, seed=6)
    flux -= _box(time, 0.9, 0.3, 0.3, 5e-3)
    result = search_star(time, flux)
    assert result.signals[0].period == pytest.approx(0.9, rel=2e-3)
    assert np.isfinite(result.flux).all() and result.flux.size > 0.9 * time.size


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_one_event_is_never_given_an_invented_period(seed):
    # a lone 9-sigma dip: paired with a noise dip it made a two-transit signal at a period
    # nothing supports; it is a single transit (if over 10 sigma) or nothing
    time, flux = _curve(days=30, seed=seed)
    box = np.abs(time - 10) < 1.5 / 24
    flux[box] -= 9e-3 / np.sqrt(box.sum())
    signals = search_star(time, flux).signals
    assert all(s.single for s in signals), signals


@pytest.mark.parametrize(
    ("depth", "weak", "times"), [(15.0, 3.5, (1.2, 18.8)), (14.0, 3.0, (3.0, 17.0, 24.0))]
)
def test_weaker_dips_beside_one_transit_give_it_no_period(depth, weak, times):
    # a 14-15 sigma transit and a few 3-3.5 sigma dips that a period lines up with it: together
    # over the threshold, the dips alone under it; the transit is single, its period unknown
    time, flux = _curve(days=30, seed=3)
    sigma = 1e-3 / np.sqrt(0.25 / CADENCE)  # the noise over a 6-hour transit
    for centre, snr in [(10.0, depth), *((c, weak) for c in times)]:
        flux[np.abs(time - centre) < 0.125] -= snr * sigma
    signals = search_star(time, flux).signals
    assert signals and all(s.single for s in signals), signals
    assert signals[0].epoch == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2, 4, 5, 7])
def test_two_low_cadences_in_a_row_are_no_single_transit(seed):
    # 7.5 sigma each: 10.6 sigma over a two-cadence box, under 10 over the three cadences any
    # transit spans
    time, flux = _curve(days=30, seed=seed)
    i = time.size // 3
    flux[i : i + 2] -= 7.5e-3
    signals = search_star(time, flux).signals
    assert not [s for s in signals if s.single and abs(s.epoch - time[i]) < 0.2], signals
