import logging

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import ModelError
from exohunt.features import (
    FLUX_STATISTICS,
    CatalogueFeatures,
    FluxStatistics,
    flux_statistics,
    is_non_feature,
    make_features,
)


def test_leaky_and_id_columns_are_never_features():
    for column in (
        "koi_score",
        "koi_fpflag_nt",
        "koi_pdisposition",
        "kepler_name",
        "kepoi_name",
        "kepid",
        "koi_disposition",
        "tfopwg_disp",
        "av_training_set",
        "toi_id",
        "pl_bmasse",
        "transit_epoch",
        "koi_time0bk",
    ):
        assert is_non_feature(column), column
    for column in ("orbital_period", "planet_radius", "koi_model_snr", "ra", "stellar_temp"):
        assert not is_non_feature(column), column


def test_catalogue_features_keep_numeric_non_leaky_columns(caplog):
    frame = pd.DataFrame(
        {
            "orbital_period": [1.0, 2.0, 3.0],
            "koi_score": [0.9, 0.1, 0.5],
            "my_label": [1, 0, 1],
            "kepler_name": ["Kepler-1 b", None, None],
            "empty": [np.nan, np.nan, np.nan],
            "flux": [np.ones(3)] * 3,
        }
    )
    with caplog.at_level(logging.WARNING):
        step = CatalogueFeatures(exclude=("my_label",)).fit(frame)
    assert step.columns_ == ["orbital_period"]
    assert "empty" in caplog.text
    assert step.transform(frame).shape == (3, 1)


def test_catalogue_features_name_missing_columns():
    step = CatalogueFeatures().fit(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(ModelError, match="lacks 1 column.*: b"):
        step.transform(pd.DataFrame({"a": [1.0]}))


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


def test_make_features_joins_catalogue_and_flux_columns():
    frame = pd.DataFrame({"orbital_period": [1.0, 2.0], "kepid": [1, 2]})
    frame["flux"] = [np.linspace(1, 2, 50), np.linspace(2, 1, 50)]
    union = make_features(frame, exclude=("kepid",)).fit(frame)
    names = list(union.get_feature_names_out())
    assert names == ["orbital_period", *FLUX_STATISTICS]
    assert union.transform(frame).shape == (2, 11)
    assert "flux" not in [n for n, _ in make_features(frame, flux_features=False).transformer_list]


def test_flux_step_needs_the_flux_column():
    step = FluxStatistics().fit(pd.DataFrame({"flux": [np.ones(5)]}))
    with pytest.raises(ModelError, match="flux"):
        step.transform(pd.DataFrame({"a": [1.0]}))
