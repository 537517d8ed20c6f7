"""Star context columns: candidates per star and period commensurability with siblings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exohunt.io import bundled_koi_path, read_dataset
from exohunt.io.context import add_star_context


def test_counts_and_sibling_offsets_from_the_rows_of_each_star():
    frame = pd.DataFrame(
        {
            "kepid": [1, 1, 1, 2, 3, 3],
            "orbital_period": [10.0, 20.02, 3.7, 5.0, 4.0, 4.0],
        }
    )
    out = add_star_context(frame, frame["kepid"])
    assert out["candidates_on_star"].tolist() == [3, 3, 3, 1, 2, 2]
    offsets = out["sibling_period_offset"].to_numpy()
    assert offsets[0] == offsets[1] == np.abs(2.002 - 2) / 2.002  # 10 d and 20.02 d: nearly 2:1
    assert 0.05 < offsets[2] < 0.5  # 3.7 d is commensurate with neither
    assert np.isnan(offsets[3])  # a star's only candidate
    assert offsets[4] == offsets[5] == 0  # the same period twice
    assert "candidates_on_star" not in frame.columns  # the input is not changed


def test_without_stars_each_row_is_its_own_star_and_light_curves_get_nothing():
    out = add_star_context(pd.DataFrame({"orbital_period": [1.0, 2.0]}), None)
    assert out["candidates_on_star"].tolist() == [1, 1]
    assert out["sibling_period_offset"].isna().all()
    assert out["ephemeris_matches"].isna().all()  # no epochs
    curves = pd.DataFrame({"flux": [[1.0, 0.9], [1.0, 1.1]]})
    assert list(add_star_context(curves, ["a", "a"]).columns) == ["flux"]


def test_the_koi_table_gets_its_multiplicity():
    dataset = read_dataset(bundled_koi_path())
    table = dataset.table
    kepler_90 = table["kepid"] == 11442793  # Kepler-90: eight planets
    assert (table.loc[kepler_90, "candidates_on_star"] == kepler_90.sum()).all()
    assert kepler_90.sum() >= 7
    assert table["candidates_on_star"].min() == 1


def test_ephemeris_matches_count_other_stars_with_the_same_period_and_epoch():
    frame = pd.DataFrame(
        {
            "kepid": [1, 2, 3, 4, 1],
            "orbital_period": [10.0, 10.001, 10.0, 30.0, 10.0],
            "transit_epoch": [100.0, 130.005, 105.0, 100.0, 100.0],
        }
    )
    out = add_star_context(frame, frame["kepid"])
    # star 2 transits 3 periods later at the same phase; star 3 half a period off; star 4 and
    # the second row of star 1 (the same star) do not count
    assert out["ephemeris_matches"].tolist() == [1, 2, 0, 0, 1]


def test_the_koi_table_has_ephemeris_matches_mostly_among_false_positives():
    table = read_dataset(bundled_koi_path()).table
    matched = table["ephemeris_matches"] > 0
    dispositions = table.loc[matched, "koi_disposition"].value_counts()
    assert dispositions["FALSE POSITIVE"] > 5 * dispositions.get("CONFIRMED", 0)
