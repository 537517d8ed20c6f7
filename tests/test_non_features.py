"""The columns never used as features."""

from __future__ import annotations

from exohunt.non_features import is_non_feature


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
