"""The measurements a candidate page draws, on Kepler-90's real quarters: each transit's depth,
the fitted trapezoid, the transits picked to stack; and the pages themselves."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from exohunt.report.pages import (
    PAGE_DPI,
    PAGE_SIZE,
    Reasons,
    RowData,
    draw_candidate,
    draw_row,
    fit_trapezoid,
    system_note,
    transit_table,
    trapezoid,
)


@pytest.fixture(scope="module")
def kepler90(shared_data):
    """Kepler-90 searched as a scan searches it, with what a report keeps."""
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    (star,) = [s for s in iter_stars(shared_data / "lightcurves") if s.star_id == "11442793"]
    scanned = scan_star(star, SearchSettings(), keep_curves=True)
    assert scanned.curves is not None
    return scanned.curves


def test_each_transit_depth_averages_to_the_signal_depth(kepler90):
    d = next(s for s in kepler90.signals if abs(s.period - 59.73) < 0.05)  # Kepler-90 d
    t, y = kepler90.detrended_time, (kepler90.detrended_flux - 1) * 1e6
    cycles, depths, errors = transit_table(t, y, d)
    assert cycles.size == d.n_transits
    assert np.all(np.isfinite(errors)) and np.all(errors > 0)
    assert np.average(depths) == pytest.approx(d.depth * 1e6, rel=0.15)


def test_the_trapezoid_fit_finds_a_known_depth_and_shape():
    hours = np.linspace(-10, 10, 2001)
    rng = np.random.default_rng(0)
    flux = trapezoid(hours, 500.0, 6.0, 0.25) + rng.normal(0, 50, hours.size)
    depth, ingress = fit_trapezoid(hours, flux, 6.0)
    assert depth == pytest.approx(500, rel=0.03)
    assert ingress == 0.25


def test_every_signal_of_kepler90_gets_a_page(kepler90, tmp_path):
    """Single transits and periodic signals alike; a page is the full page size."""
    for signal in kepler90.signals:
        reasons = Reasons(score=0.7, threshold=0.5, model="xgboost · v3",
                          top=[("transit_depth", 412.0, 0.8), ("transit_snr", 18.3, -0.2)],
                          output="log-odds", method="exact TreeSHAP")  # fmt: skip
        page = draw_candidate(kepler90, signal.number, reasons, tmp_path / f"{signal.number}.png")
        with Image.open(page) as image:
            assert image.size == (int(PAGE_SIZE[0] * PAGE_DPI), int(PAGE_SIZE[1] * PAGE_DPI))
            # not a blank page: the light curves and folds put ink on it
            grey = np.asarray(image.convert("L"), dtype=float)
            assert (grey < 128).mean() > 0.01
    assert any(s.single for s in kepler90.signals)


def test_a_row_page_without_reference_says_so(tmp_path):
    page = draw_row(RowData(title="K00752.01", label="planet"), Reasons(score=0.9), None,
                    tmp_path / "row.png")  # fmt: skip
    assert page.is_file()


def test_a_page_says_when_other_candidates_raised_the_score():
    boosted = Reasons(score=0.977, system_score=0.999, star_candidates=2)
    assert system_note(boosted) == "  ·  system 0.999 (2 candidates)"
    assert system_note(Reasons(score=0.977, system_score=0.977, star_candidates=1)) == ""
    assert system_note(Reasons(score=np.nan)) == ""
