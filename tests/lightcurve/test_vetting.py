"""Vetting statistics of a transit signal: odd-even depths, secondary eclipse, shape."""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.lightcurve.clean import KEPLER_LONG_CADENCE_DAYS
from exohunt.lightcurve.vetting import (
    count_transits,
    odd_even_depths,
    secondary_eclipse,
    transit_shape,
)
from exohunt.lightcurve.views import fold
from tests.lightcurve.signals import box_transit

CADENCE = KEPLER_LONG_CADENCE_DAYS


def test_odd_even_and_secondary_eclipse_of_an_eclipsing_binary():
    rng = np.random.default_rng(4)
    time = np.arange(3197) * CADENCE
    period, epoch, duration = 2.0, 0.7, 0.12
    cycle = np.rint((time - epoch) / period)
    flux = box_transit(time, period, epoch, duration, 0.010)
    flux -= 0.006 * ((np.abs(fold(time, period, epoch)) < duration / 2) & (cycle % 2 == 1))
    flux -= 0.004 * (np.abs(fold(time, period, epoch + period / 2)) < duration / 2)
    flux += rng.normal(0, 5e-4, time.size)
    assert count_transits(time, period, epoch, duration) == 33
    diff, sigma = odd_even_depths(time, flux, period, epoch, duration)
    assert diff == pytest.approx(0.006, rel=0.05) and sigma > 30
    depth, snr = secondary_eclipse(time, flux, period, epoch, duration)
    assert depth == pytest.approx(0.004, rel=0.1) and snr > 20
    # a planet: equal depths, no secondary
    planet = box_transit(time, period, epoch, duration, 0.010) + rng.normal(0, 5e-4, time.size)
    assert odd_even_depths(time, planet, period, epoch, duration)[1] < 4
    assert abs(secondary_eclipse(time, planet, period, epoch, duration)[1]) < 4
    # one transit in the data: no even transits to compare
    single = time[time < 1.5]
    assert np.isnan(odd_even_depths(single, np.ones(single.size), period, epoch, duration)).all()


def test_transit_shape_tells_a_flat_bottom_from_a_v():
    t = np.arange(0, 60, 0.02)
    period, epoch, duration = 5.0, 1.0, 0.3
    offset = np.abs(np.mod(t - epoch + period / 2, period) - period / 2)
    inside = offset < duration / 2
    box = np.where(inside, 0.99, 1.0)
    vee = np.where(inside, 1 - 0.01 * (1 - 2 * offset / duration), 1.0)
    assert transit_shape(t, box, period, epoch, duration) == pytest.approx(1.0, abs=0.02)
    assert transit_shape(t, vee, period, epoch, duration) == pytest.approx(1 / 3, abs=0.05)
    assert np.isnan(transit_shape(t, np.ones_like(t), period, epoch, duration))  # no dip
