"""Views built by exohunt from real light curves follow the conventions of the shared TESS
Triage views: the same stars' sector-1 light curves, folded on the Triage ephemeris, give views
that match the shared ones, bin for bin."""

from __future__ import annotations

import numpy as np
import pytest

from exohunt.io.stars import iter_stars
from exohunt.lightcurve.search import search_star
from exohunt.lightcurve.views import GLOBAL_BINS, LOCAL_BINS, global_view, local_view

#: star -> (lowest correlation of the global view, of the local view) with the shared one.
#: TOI-114 and TOI-106 have 0.7% deep transits; pi Men's 300 ppm transit leaves mostly noise.
STARS = {"25155310": (0.97, 0.99), "38846515": (0.97, 0.99), "261136679": (0.8, 0.95)}


@pytest.fixture(scope="module")
def triage(shared_data):
    return np.load(shared_data / "tess_astronet_triage_views.npz")


@pytest.fixture(scope="module")
def detrended(shared_data):
    """Each star's light curve as scan detrends it, and scan's own first signal."""
    out = {}
    for star in iter_stars(shared_data / "real_lightcurves"):
        if star.star_id in STARS:
            ok = np.isfinite(star.flux)
            out[star.star_id] = search_star(star.time[ok], star.flux[ok])
    return out


def _row(triage, star: str) -> int:
    (row,) = np.flatnonzero((triage["tic_id"] == int(star)) & (triage["Sectors"] == 1))
    return int(row)


@pytest.mark.parametrize("star", sorted(STARS))
def test_views_match_the_shared_views_of_the_same_star(triage, detrended, star):
    row = _row(triage, star)
    period, epoch, duration = (float(triage[k][row]) for k in ("Period", "Epoc", "Duration"))
    result = detrended[star]
    ours = (
        global_view(result.time, result.flux, period, epoch),
        local_view(result.time, result.flux, period, epoch, duration),
    )
    theirs = (triage["global_view"][row], triage["local_view"][row])
    for view, shared, lowest, bins in zip(
        ours, theirs, STARS[star], (GLOBAL_BINS, LOCAL_BINS), strict=True
    ):
        assert view.shape == shared.shape == (bins,)
        assert np.corrcoef(view, shared)[0, 1] > lowest
        # the normalisation: median 0, minimum -1 (the transit), at the centre
        assert np.median(view) == pytest.approx(0.0, abs=1e-9)
        assert view.min() == pytest.approx(-1.0)
        assert abs(int(np.argmin(view)) - bins // 2) <= 3
        # out of transit, the same scatter to within a factor of 2
        quiet = slice(0, bins // 4)
        assert 0.5 < np.std(view[quiet]) / np.std(shared[quiet]) < 2.0


@pytest.mark.parametrize("star", ["25155310", "38846515"])
def test_views_on_scans_own_ephemeris_match_too(triage, detrended, star):
    row = _row(triage, star)
    signal = detrended[star].signals[0]
    result = detrended[star]
    local = local_view(result.time, result.flux, signal.period, signal.epoch, signal.duration)
    assert np.corrcoef(local, triage["local_view"][row])[0, 1] > 0.9
