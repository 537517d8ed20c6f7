"""Known answers on real data: every planet of ../shared/data/real_lightcurves with at least two
transits in the data is found at its period, and the binaries' eclipses at their true period.

The folder is scanned once for the module (the three four-year Kepler curves take ~15 s each).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exohunt.io.stars import iter_stars
from exohunt.lightcurve.search import SearchSettings
from exohunt.scanning import scan_star

#: The two exceptions: TOI-216.02's transit times wander by hours (TTVs), and K01198.04 does not
#: fold in these data (the README's fold check finds no dip).
KNOWN_MISSES = {"TOI-216.02", "K01198.04"}
#: Period match, as a fraction of the true period.
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def truth(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "real_lightcurves" / "truth.csv")


@pytest.fixture(scope="module")
def found(shared_data) -> dict[str, list[dict]]:
    """Every star of the folder scanned: star id -> its candidate rows, strongest first."""
    out = {}
    for star in iter_stars(shared_data / "real_lightcurves"):
        result = scan_star(star, SearchSettings())
        assert result.star["status"] == "scanned", (star.star_id, result.star["reason"])
        out[star.star_id] = result.rows
    return out


def _matches(rows, period):
    return [
        r for r in rows if np.isfinite(r["period"]) and abs(r["period"] / period - 1) < TOLERANCE
    ]


def test_every_star_of_the_folder_is_scanned(found, truth):
    assert set(found) == set(truth["star_id"].astype(str))


def test_every_planet_with_two_transits_is_found_at_its_period(found, truth):
    planets = truth[(truth["label"] == "planet") & (truth["transits_in_data"] >= 2)]
    missed = [
        name
        for name, star, period in zip(
            planets["name"], planets["star_id"], planets["period_days"], strict=True
        )
        if not _matches(found[str(star)], period)
    ]
    # the test says which are missed: exactly the two known exceptions
    assert sorted(missed) == sorted(KNOWN_MISSES), f"missed: {missed}"
    assert len(planets) - len(missed) == 16


@pytest.mark.parametrize("star, period", [(2438502, 8.3606162), (12644769, 41.0775903)])
def test_binaries_are_found_at_their_true_period_not_half(found, star, period):
    rows = found[str(star)]
    assert rows[0]["period"] == pytest.approx(period, rel=TOLERANCE)  # the eclipses come first
    assert not _matches(rows, period / 2)


def test_binaries_statistics_show_them_as_binaries(found, truth):
    """Kepler-16's secondary eclipse is found at phase 0.49 (an eccentric orbit) at over 1,000
    sigma, and its eclipse depths alternate; KOI-1003 shows a secondary eclipse. No planet's
    first signal has a secondary eclipse a tenth as strong as Kepler-16's."""
    kepler16 = found["12644769"][0]
    assert kepler16["secondary_snr"] > 500
    assert kepler16["secondary_phase"] == pytest.approx(0.49, abs=0.02)
    assert kepler16["odd_even_mismatch"] > 5
    koi1003 = found["2438502"][0]
    assert koi1003["secondary_snr"] > 3
    for star in truth.loc[truth["label"] == "planet", "star_id"].astype(str).unique():
        first = found[star][0]
        assert not first["secondary_snr"] > 50, (star, first["secondary_snr"])


def test_a_transit_seen_once_is_a_single_transit_at_its_time(found):
    """TOI-216 b shows one transit in sector 1, at BTJD 1331.28 (the README's fold check; its
    linear ephemeris is 0.2 d off): reported as a single transit where it is seen."""
    singles = [r for r in found["55652896"] if r["single_transit"]]
    assert singles, found["55652896"]
    assert singles[0]["transit_time"] == pytest.approx(1331.28, abs=0.1)
    assert np.isnan(singles[0]["period"]) and singles[0]["period_lower_limit"] > 10
