"""Simulated light curves: determinism, realism of signals and noise, files the readers take back."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import ConfigError, MissingDependencyError
from exohunt.io import read_dataset
from exohunt.lightcurve.simulate import TRUTH_COLUMNS, simulate, truth_path, write_simulation

pytest.importorskip("batman")

CADENCE_DAYS = 29.4244 / 1440


@pytest.fixture(scope="module")
def simulated():
    return simulate(n=240, seed=7)


def _stack(rows: pd.DataFrame) -> np.ndarray:
    return np.vstack(rows["flux"].to_list())


def _dip(time, flux, period, centre, duration) -> float:
    """Mean fractional deficit of the central half of each event against its local baseline
    (1-3 durations either side), averaged over events."""
    deficits = []
    for mid in np.arange(centre - period * np.ceil(65 / period), time[-1] + period, period):
        offset = time - mid
        core = np.isfinite(flux) & (np.abs(offset) < duration / 4)
        side = np.isfinite(flux) & (np.abs(offset) > duration) & (np.abs(offset) < 3 * duration)
        if core.any() and side.sum() > 4:
            deficits.append(1 - flux[core].mean() / flux[side].mean())
    return float(np.mean(deficits))


def test_same_seed_gives_the_same_light_curves(simulated):
    rows, truth = simulated
    again_rows, again_truth = simulate(n=240, seed=7)
    np.testing.assert_array_equal(_stack(rows), _stack(again_rows))
    pd.testing.assert_frame_equal(truth, again_truth)
    other_rows, _ = simulate(n=240, seed=8)
    assert not np.allclose(_stack(rows), _stack(other_rows), equal_nan=True)


def test_rows_are_kepler_long_cadence_light_curves(simulated):
    rows, truth = simulated
    assert list(rows.columns) == ["star_id", "label", "time", "flux"]
    assert rows["star_id"].iloc[0] == "sim-000001" and rows["star_id"].is_unique
    flux = _stack(rows)
    time = rows["time"].iloc[0]
    assert flux.shape == (240, 3197)
    assert time[0] == 131.5 and np.allclose(np.diff(time), CADENCE_DAYS)
    assert 65 < time[-1] - time[0] < 66
    median = np.nanmedian(flux, axis=1)
    assert np.all((median > 1e3) & (median < 4e5))  # e-/s
    np.testing.assert_allclose(median, truth["flux_median"], rtol=0.02)
    gaps = np.isnan(flux).mean(axis=1)
    assert np.all(gaps > 0) and np.all(gaps < 0.1)
    assert list(truth.columns) == list(TRUTH_COLUMNS)
    assert (truth["star_id"] == rows["star_id"]).all()


def test_class_counts_follow_the_fractions(simulated):
    rows, truth = simulated
    assert truth["kind"].value_counts().to_dict() == {"planet": 120, "none": 84, "eb": 36}
    assert ((truth["kind"] == "planet") == (rows["label"] == 1)).all()
    _, small = simulate(n=50, seed=1, n_points=600, planet_fraction=0.2, eb_fraction=0.0)
    assert small["kind"].value_counts().to_dict() == {"none": 40, "planet": 10}


def test_planet_snr_spans_the_detection_range_and_follows_its_definition(simulated):
    _, truth = simulated
    planets = truth[truth["kind"] == "planet"]
    assert planets["snr"].between(4, 40.5).all()
    assert planets["snr"].min() < 7 and planets["snr"].max() > 20
    box = planets["box_depth"]
    expected = box / (planets["noise_ppm"] * 1e-6) * np.sqrt(planets["n_in_transit"])
    np.testing.assert_allclose(planets["snr"], expected)
    assert ((box < planets["depth"]) & (box > 0.5 * planets["depth"])).all()
    assert (planets["mes"] <= planets["snr"] * 1.2).all()  # red noise only lowers it
    assert (planets["n_transits"] >= 2).all()
    assert planets["period"].between(0.5, 20).all() and planets["impact"].between(0, 0.9).all()
    assert truth.loc[truth["kind"] == "none", ["period", "depth", "snr"]].isna().all().all()


def test_planet_rows_dip_by_the_injected_depth(simulated):
    rows, truth = simulated
    strong = truth[(truth["kind"] == "planet") & (truth["snr"] > 15)]
    ratios = [
        _dip(rows["time"][i], rows["flux"][i], t.period, t.epoch, t.duration_hours / 24) / t.depth
        for i, t in strong.iterrows()
    ]
    assert len(ratios) > 20
    assert 0.8 < np.median(ratios) < 1.2
    assert np.mean(np.asarray(ratios) > 0.5) > 0.9


def test_eclipsing_binaries_have_deep_primaries_and_secondaries_at_half_phase(simulated):
    rows, truth = simulated
    ebs = truth[truth["kind"] == "eb"]
    assert ebs["label"].eq(0).all() and ebs["depth"].between(1e-3, 0.3).all()
    np.testing.assert_allclose(ebs["eb_odd_even_ratio"], ebs["eb_secondary_depth"] / ebs["depth"])
    assert (ebs["eb_odd_even_ratio"] > 0.3).any() and (ebs["eb_odd_even_ratio"] < 0.3).any()
    checked = {"primary": 0, "secondary": 0}
    for i, t in ebs.iterrows():
        time, flux, duration = rows["time"][i], rows["flux"][i], t.duration_hours / 24
        slack = 5 * t.noise_ppm * 1e-6
        # how far ellipsoidal and spot modulation bend the baseline within 3 durations
        bend = t.eb_ellipsoidal_ppm + t.spot_ppm * (6 * np.pi * duration / t.rotation_period) ** 2
        for part, centre, depth in (
            ("primary", t.epoch, t.depth),
            ("secondary", t.epoch + t.period / 2, t.eb_secondary_depth),
        ):
            if bend * 1e-6 < 0.1 * depth and t.n_flares == 0 and 8 * duration < t.period:
                measured = _dip(time, flux, t.period, centre, duration)
                assert measured == pytest.approx(depth, rel=0.3, abs=slack), (part, t)
                checked[part] += 1
    assert checked["primary"] > 12 and checked["secondary"] > 6


def test_noise_matches_the_truth_table(simulated):
    rows, truth = simulated
    quiet = truth.index[truth["kind"] == "none"]
    flux = _stack(rows)[quiet] / truth.loc[quiet, "flux_median"].to_numpy()[:, None]
    steps = np.diff(flux, axis=1)
    point_to_point = 1.4826 * np.nanmedian(np.abs(steps - np.nanmedian(steps)), axis=1) / np.sqrt(2)
    ratio = point_to_point / (truth.loc[quiet, "white_noise_ppm"].to_numpy() * 1e-6)
    assert 0.85 < np.median(ratio) < 1.2
    spots = truth.loc[quiet, "spot_ppm"].to_numpy() * 1e-6
    loud = spots > 5 * truth.loc[quiet, "noise_ppm"].to_numpy() * 1e-6
    assert loud.sum() > 5
    assert 0.7 < np.median(np.nanstd(flux[loud], axis=1) / spots[loud]) < 1.4


def test_flux_csv_file_reads_back_with_its_truth_sidecar(simulated, tmp_path):
    rows, truth = simulated
    data, truth_file = write_simulation(rows, truth, tmp_path / "sim.csv")
    assert data == tmp_path / "sim.csv" and truth_file == tmp_path / "sim.truth.csv"
    dataset = read_dataset(data)
    assert dataset.format == "flux-csv" and len(dataset) == 240
    np.testing.assert_array_equal(dataset.labels, rows["label"])
    assert list(dataset.groups) == list(rows["star_id"])
    for i in (0, 1, 100, 239):
        observed = np.isfinite(rows["flux"][i])
        assert dataset.flux[i].size == observed.sum()
        np.testing.assert_allclose(dataset.flux[i], rows["flux"][i][observed], rtol=1e-6)
        np.testing.assert_allclose(dataset.time[i], rows["time"][i][observed], atol=1e-5)
    back = pd.read_csv(truth_file)
    assert list(back.columns) == list(TRUTH_COLUMNS)
    assert (back["star_id"] == rows["star_id"]).all() and (back["kind"] == truth["kind"]).all()


def test_kaggle_file_reads_back_with_gaps_filled(simulated, tmp_path):
    rows, truth = simulated
    data, truth_file = write_simulation(rows, truth, tmp_path / "exoTrain.csv", format="kaggle")
    assert truth_file == tmp_path / "exoTrain.truth.csv"
    dataset = read_dataset(data, format="kaggle")
    assert read_dataset(data).format == "kaggle"
    np.testing.assert_array_equal(dataset.labels, rows["label"])
    assert set(dataset.raw_labels) == {1, 2}
    flux = np.vstack(dataset.flux)
    assert flux.shape == (240, 3197) and np.isfinite(flux).all()
    observed = np.isfinite(_stack(rows))
    np.testing.assert_allclose(flux[observed], _stack(rows)[observed], rtol=1e-6)


def test_gzipped_output_and_sidecar_name(tmp_path):
    rows, truth = simulate(n=12, seed=3, n_points=400)
    data, truth_file = write_simulation(rows, truth, tmp_path / "out" / "sim.csv.gz")
    assert truth_file == tmp_path / "out" / "sim.truth.csv"
    assert (
        truth_path("a/b.csv")
        == truth_path("a/b.csv.gz")
        == truth_path("a/b.csv").parent / ("b.truth.csv")
    )
    dataset = read_dataset(data)
    assert len(dataset) == 12 and dataset.format == "flux-csv"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "--n 0 must be"),
        ({"seed": -1}, "--seed -1 must be"),
        ({"planet_fraction": 1.5}, r"--planet-fraction 1.5 is outside \[0, 1\]"),
        ({"eb_fraction": -0.1}, "--eb-fraction -0.1 is outside"),
        ({"planet_fraction": 0.9, "eb_fraction": 0.2}, "exceed 1; lower one of them"),
        ({"n_points": 50}, "--n-points 50 must be at least 100"),
        ({"cadence_minutes": 0}, "--cadence-minutes 0 must be positive"),
        ({"snr_range": (10, 5)}, "--snr-range 10 5"),
        ({"period_range": (1, 40)}, r"--period-range 1 40 .* half the 65.3-d baseline"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message) as caught:
        simulate(**options)
    assert "\n" not in str(caught.value)


def test_unknown_format_names_the_choices(simulated, tmp_path):
    rows, truth = simulated
    with pytest.raises(ConfigError, match="unknown --format 'parquet'.*flux-csv or kaggle"):
        write_simulation(rows, truth, tmp_path / "sim.parquet", format="parquet")
    assert not (tmp_path / "sim.parquet").exists()


def test_missing_batman_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "batman", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'exohunt\[sim\]'"):
        simulate(n=5)
