"""Hand-written science against the libraries astronomers use, on real light curves:

- the biweight detrending against wotan's ``flatten(method="biweight")``: the same trend to 0.05
  sigma in the median and 1 sigma at the 99th percentile (measured: 0.004-0.025 sigma and
  0.02-0.9 sigma; the largest differences are at gap edges, where wotan splits segments);
- the search against transitleastsquares (TLS) on a real TESS planet: the same period.

Search speed against astropy and TLS is measured by bench/scan.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.io.stars import iter_stars
from exohunt.lightcurve.clean import biweight_trend, robust_std
from exohunt.lightcurve.search import search_star

STARS = {"25155310": "TOI-114", "206103150": "WASP-47", "2438502": "KOI-1003",
         "307210830": "L 98-59", "10002792": "flare star"}  # fmt: skip


@pytest.fixture(scope="module")
def curves(shared_data):
    return {
        s.star_id: s for s in iter_stars(shared_data / "real_lightcurves") if s.star_id in STARS
    }


@pytest.mark.parametrize("star", sorted(STARS))
@pytest.mark.parametrize("window", [0.75, 1.5])
def test_biweight_trend_matches_wotan(curves, star, window):
    import wotan

    curve = curves[star]
    ok = np.isfinite(curve.flux)
    time, flux = curve.time[ok], curve.flux[ok] / np.median(curve.flux[ok])
    ours = biweight_trend(time, flux, window)
    _, theirs = wotan.flatten(
        time, flux, method="biweight", window_length=window, return_trend=True,
        edge_cutoff=0, break_tolerance=0.5,
    )  # fmt: skip
    sigma = robust_std(flux - ours)
    difference = np.abs(ours - theirs) / sigma
    assert np.isfinite(theirs).all()
    assert np.median(difference) < 0.05
    assert np.percentile(difference, 99) < 1.0


def test_search_finds_the_period_tls_finds(curves):
    import transitleastsquares as tls

    curve = curves["25155310"]  # TOI-114.01, P = 3.2888 d
    keep = slice(None, None, 5)  # 10-minute bins keep TLS to a few seconds
    time, flux = curve.time[keep], curve.flux[keep] / np.median(curve.flux)
    ours = search_star(time, flux).signals[0]
    model = tls.transitleastsquares(time, flux / biweight_trend(time, flux, 0.75), verbose=False)
    theirs = model.power(use_threads=1, show_progress_bar=False, period_max=13.0)
    assert ours.period == pytest.approx(theirs.period, rel=0.002)
    assert ours.period == pytest.approx(3.2887898, rel=0.002)
