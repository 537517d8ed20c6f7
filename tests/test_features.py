import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from exohunt.errors import ModelError
from exohunt.features import (
    CatalogueFeatures,
    FluxStatistics,
    TransitFeatures,
    make_features,
)
from exohunt.lightcurve.clean import KEPLER_LONG_CADENCE_DAYS
from exohunt.lightcurve.features import FLUX_STATISTICS, TRANSIT_FEATURES, flux_statistics
from exohunt.lightcurve.views import fold


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


def test_make_features_joins_catalogue_and_transit_columns(caplog):
    frame = pd.DataFrame({"orbital_period": [1.0, 2.0], "kepid": [1, 2]})
    frame["flux"] = [np.linspace(1, 2, 50), np.linspace(2, 1, 50)]
    union = make_features(frame, exclude=("kepid",)).fit(frame)
    names = list(union.get_feature_names_out())
    assert names == ["orbital_period", *TRANSIT_FEATURES, *FLUX_STATISTICS]
    with caplog.at_level(logging.WARNING):
        X = union.transform(frame)
    assert X.shape == (2, 1 + len(TRANSIT_FEATURES) + len(FLUX_STATISTICS))
    assert np.isnan(X[:, 1 : 1 + len(TRANSIT_FEATURES)]).all()  # 50 cadences: too short
    assert np.isfinite(X[:, -len(FLUX_STATISTICS) :]).all()
    assert "2 of 2 light curves" in caplog.text and "fewer than 100 usable cadences" in caplog.text
    assert "flux" not in [n for n, _ in make_features(frame, flux_features=False).transformer_list]


def test_flux_step_needs_the_flux_column():
    step = FluxStatistics().fit(pd.DataFrame({"flux": [np.ones(5)]}))
    with pytest.raises(ModelError, match="flux"):
        step.transform(pd.DataFrame({"a": [1.0]}))


# --- TransitFeatures -------------------------------------------------------------------------

CADENCE = KEPLER_LONG_CADENCE_DAYS
FAST = {"n_jobs": 1, "n_periods": 800}  # a coarser period grid keeps these tests quick


def planet(period=3.3, epoch=1.1, duration=0.125, depth=2e-3, n=3197, seed=0, level=1000.0):
    """A transit in white noise on a slow trend, in e-/s, with Kepler long-cadence times."""
    rng = np.random.default_rng(seed)
    time = np.arange(n) * CADENCE
    flux = 1 + 1e-3 * np.sin(time / 4) + rng.normal(0, 4e-4, n)
    flux -= depth * (np.abs(fold(time, period, epoch)) < duration / 2)
    return time, level * flux


def features(X, **params) -> pd.DataFrame:
    step = TransitFeatures(**{**FAST, **params}).fit(X)
    return pd.DataFrame(step.transform(X), columns=step.get_feature_names_out())


def test_transit_features_find_an_injected_planet():
    time, flux = planet()
    row = features(pd.DataFrame({"flux": [flux]}), n_periods=5000).iloc[0]  # no time: 29.4 min
    assert row["bls_period"] == pytest.approx(3.3, rel=2e-3)
    assert abs(fold(row["bls_epoch"], 3.3, 1.1)) < 0.03
    assert row["bls_duration_hours"] == pytest.approx(3.0, abs=1.1)
    assert row["bls_depth"] == pytest.approx(2e-3, rel=0.15)
    assert row["bls_depth_snr"] > 20 and row["bls_sde"] > 8
    assert row["bls_searched"] == 1 and row["n_transits"] == 20
    assert row["odd_even_significance"] < 4 and abs(row["secondary_snr"]) < 4
    np.testing.assert_allclose(row[list(FLUX_STATISTICS)], flux_statistics(flux))


def test_eclipsing_binary_shows_odd_even_and_secondary_eclipses():
    time, flux = planet(period=1.6, epoch=0.5, duration=0.1, depth=0.01)
    cycle = np.rint((time - 0.5) / 1.6)
    inside = np.abs(fold(time, 1.6, 0.5)) < 0.05
    flux[inside & (cycle % 2 == 1)] *= 0.995
    flux[np.abs(fold(time, 1.6, 0.5 + 0.8)) < 0.05] *= 0.997
    row = features(pd.DataFrame({"time": [time], "flux": [flux]})).iloc[0]
    assert row["bls_period"] == pytest.approx(1.6, rel=2e-3)
    assert row["odd_even_depth_diff"] == pytest.approx(0.005, rel=0.2)
    assert row["odd_even_significance"] > 10
    # the secondary is averaged over the primary's fitted duration: diluted if that is longer
    assert 0.0015 < row["secondary_depth"] < 0.0033 and row["secondary_snr"] > 10


def test_catalogue_period_epoch_and_duration_replace_the_search():
    time, flux = planet()
    frame = pd.DataFrame(
        {
            "time": [time, time, None],  # no times: the epoch cannot be used
            "flux": [flux, flux, flux],
            "orbital_period": [3.3, np.nan, 3.3],
            "transit_epoch": [1.1 + 3 * 3.3, 1.1, 1.1],
            "transit_duration": [3.0, 3.0, 3.0],  # hours
        }
    )
    rows = features(frame)
    known, searched = rows.iloc[0], rows.iloc[1]
    assert known["bls_searched"] == 0 and searched["bls_searched"] == 1
    assert rows.iloc[2]["bls_searched"] == 1
    assert known["bls_period"] == 3.3 and known["bls_duration_hours"] == 3.0
    assert known["bls_depth"] == pytest.approx(2e-3, rel=0.1)
    assert np.isnan(known["bls_sde"])
    assert searched["bls_period"] == pytest.approx(3.3, rel=2e-3)


def hostile_curves() -> dict:
    rng = np.random.default_rng(1)
    time, flux = planet(n=1500)
    shuffled = rng.permutation(time.size)
    single = planet(period=50.0, epoch=20.0, duration=0.3, depth=5e-3, n=1500)[1]
    return {
        "all NaN": (time, np.full(1500, np.nan)),
        "constant": (time, np.full(1500, 7.0)),
        "short": (time[:60], flux[:60]),
        "unsorted, duplicated": (
            np.r_[time[shuffled], time[:100]],
            np.r_[flux[shuffled], flux[:100] * 1.5],
        ),
        "zero": (time, np.zeros(1500)),
        "negative": (time, flux - 1000.0),  # centred on zero: no relative depth
        "single transit": (time, single),
        "some NaN": (time, np.where(rng.random(1500) < 0.3, np.nan, flux)),
    }


def test_hostile_light_curves_give_nan_rows_and_one_warning(caplog):
    curves = hostile_curves()
    frame = pd.DataFrame(
        {"time": [t for t, _ in curves.values()], "flux": [f for _, f in curves.values()]}
    )
    with caplog.at_level(logging.WARNING, logger="exohunt.features"):
        rows = features(frame)
    rows.index = list(curves)
    transit = list(TRANSIT_FEATURES)
    for name in ("all NaN", "constant", "short", "zero"):
        assert rows.loc[name, transit].isna().all(), name
    assert rows.loc["all NaN", list(FLUX_STATISTICS)].isna().all()
    ordered = features(pd.DataFrame({"time": [planet(n=1500)[0]], "flux": [planet(n=1500)[1]]}))
    assert rows.loc["unsorted, duplicated", "bls_period"] == ordered.loc[0, "bls_period"]
    assert rows.loc["negative", "bls_period"] == pytest.approx(3.3, rel=2e-3)
    assert (
        rows.loc["negative", ["bls_depth", "odd_even_depth_diff", "secondary_depth"]].isna().all()
    )
    assert rows.loc["negative", "bls_depth_snr"] > 10
    assert rows.loc["single transit", "bls_depth"] > 0  # a (weak) detection, not an error
    assert rows.loc["some NaN", "bls_period"] == pytest.approx(3.3, rel=2e-3)
    assert not np.isinf(rows.to_numpy()).any()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "5 of 8 light curves" in message
    assert "2 with fewer than 100 usable cadences" in message  # all NaN, short
    assert "2 with constant flux" in message and "centred on zero" in message


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    flux=st.one_of(
        arrays(np.float64, st.integers(0, 400), elements=st.floats(-1e6, 1e6)),
        arrays(np.float64, st.integers(0, 400), elements=st.floats(allow_infinity=True)),
        arrays(np.float64, st.integers(100, 400), elements=st.sampled_from([1.0, 1.0, np.nan])),
        st.integers(0, 400).map(lambda n: 1000 + np.random.default_rng(n).normal(0, 1, n)),
    )
)
def test_transit_features_never_raise_on_random_arrays(flux):
    X = pd.DataFrame({"flux": [flux]})
    out = TransitFeatures(n_jobs=1, n_periods=50).fit(X).transform(X)
    assert out.shape == (1, len(TRANSIT_FEATURES) + len(FLUX_STATISTICS))
    assert not np.isinf(out[:, : len(TRANSIT_FEATURES)]).any()


def test_transit_features_are_deterministic_parallel_and_picklable():
    import pickle

    curves = [planet(seed=s, n=1200)[1] for s in range(8)]
    X = pd.DataFrame({"flux": curves})
    calls = []
    step = TransitFeatures(n_jobs=2, n_periods=300).fit(X)
    step.set_progress(lambda stage, done, total: calls.append((stage, done, total)))
    parallel = step.transform(X)
    serial = TransitFeatures(n_jobs=1, n_periods=300).fit(X).transform(X)
    np.testing.assert_array_equal(parallel, serial)
    assert calls[-1] == ("transit features", 8, 8)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert "progress" not in step.get_params()
    restored = pickle.loads(pickle.dumps(step))
    assert not hasattr(restored, "_progress")
    np.testing.assert_array_equal(restored.transform(X.iloc[:2]), serial[:2])


def test_transit_features_reject_durations_longer_than_the_shortest_period():
    X = pd.DataFrame({"flux": [np.ones(10)]})
    with pytest.raises(ModelError, match="durations_hours .* shorter than min_period 0.3 d"):
        TransitFeatures(min_period=0.3).fit(X)
