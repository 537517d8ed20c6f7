"""Catalogue ratios from transit physics, on the real KOI table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exohunt.io import bundled_koi_path, read_dataset
from exohunt.physics import RATIOS, CatalogueRatios


def test_all_ratios_from_the_koi_table_and_their_physics():
    frame = read_dataset(bundled_koi_path()).to_frame()
    ratios = CatalogueRatios().fit(frame)
    assert list(ratios.get_feature_names_out()) == list(RATIOS)
    values = pd.DataFrame(ratios.transform(frame), columns=ratios.get_feature_names_out())
    confirmed = (frame["koi_disposition"] == "CONFIRMED").to_numpy()
    # confirmed planets transit for about as long as their period and star allow
    median = values.loc[confirmed, "duration_over_expected"].median()
    assert 0.5 < median < 1.2
    # the depth agrees with the radius ratio for planets (the archive derives one from the other)
    assert 0.7 < values.loc[confirmed, "depth_over_radius_ratio_squared"].median() < 1.5
    assert np.isfinite(values.to_numpy()[~np.isnan(values.to_numpy())]).all()


def test_ratios_need_their_columns_and_respect_exclusions():
    frame = pd.DataFrame(
        {"orbital_period": [3.0, 5.0], "transit_depth": [500.0, 0.0], "koi_depth_err1": [50, 0]}
    )
    ratios = CatalogueRatios().fit(frame)
    assert ratios.ratios_ == ["depth_snr"]
    assert ratios.input_columns == ("transit_depth", "koi_depth_err1")
    out = ratios.transform(frame)
    assert out[0, 0] == 10.0 and np.isnan(out[1, 0])  # 0 / 0: missing, not infinite
    assert CatalogueRatios(exclude=("*err1",)).fit(frame).ratios_ == []
