"""Injections into real light curves: known signals removed, signals of the SNR asked for, the
search's view of each, files the readers and the training split take back."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import ConfigError, DataError
from exohunt.evaluate import split_by_star
from exohunt.io import read_dataset
from exohunt.lightcurve.inject import (
    SIGNAL_COLUMNS,
    TRUTH_COLUMNS,
    inject,
    load_hosts,
    split_hosts,
    transit_snr,
    write_injection,
)
from exohunt.lightcurve.search import Signal
from tests.support import run

pytest.importorskip("batman")

#: Two TESS sectors with a known planet each, and a quiet K2 star.
HOST_FILES = (
    "hlsp_tess-data-alerts_tess_phot_00025155310-s01_tess_v1_lc.fits",  # TOI-114, P = 3.29 d
    "tess2018206045859-s0001-0000000038846515-0120-s_lc.fits",  # TOI-106, P = 2.85 d
    "ktwo211117077-c04_llc.fits",
)


@pytest.fixture(scope="module")
def host_dir(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hosts")
    for name in HOST_FILES:
        shutil.copy(shared_data / "real_lightcurves" / "fits" / name, folder / name)
    shutil.copy(shared_data / "real_lightcurves" / "truth.csv", folder / "truth.csv")
    return folder


@pytest.fixture(scope="module")
def hosts(host_dir):
    return load_hosts(host_dir)


@pytest.fixture(scope="module")
def injected(hosts):
    return inject(hosts, n=40, seed=3, n_jobs=1)


def test_hosts_keep_their_cadence_and_lose_their_known_transits(hosts, shared_data):
    truth = pd.read_csv(shared_data / "real_lightcurves" / "truth.csv", dtype={"star_id": str})
    assert sorted(h.star_id for h in hosts) == ["211117077", "25155310", "38846515"]
    for host in hosts:
        step = np.median(np.diff(host.time)) * 1440
        # TESS 2-minute cadences are binned to 10 minutes; K2 keeps its 29.4 minutes
        assert step == pytest.approx(29.4 if host.mission == "K2" else 10.0, rel=0.02)
        assert np.median(host.flux) == pytest.approx(1.0, abs=0.01)
        known = truth[(truth["star_id"] == host.star_id) & truth["period_days"].notna()]
        for row in known.itertuples():
            phase = (host.time - row.epoch + row.period_days / 2) % row.period_days
            assert np.abs(phase - row.period_days / 2).min() > row.duration_hours / 48
    tess = next(h for h in hosts if h.star_id == "25155310")
    assert tess.removed > 0 and len(tess.known) == 1


def test_z_scored_curves_are_not_hosts(shared_data, tmp_path):
    # KOI-1001 and KOI-1198 are z-scores in this file: a depth in them has no meaning
    lines = (shared_data / "real_lightcurves" / "lightcurves.jsonl").read_text().splitlines()
    keep = [line for line in lines if '"star_id":1871056,' in line or '"star_id":2438502,' in line]
    assert len(keep) == 2
    (tmp_path / "lightcurves.jsonl").write_text("\n".join(keep) + "\n")
    shutil.copy(shared_data / "real_lightcurves" / "truth.csv", tmp_path / "truth.csv")
    hosts = load_hosts(tmp_path / "lightcurves.jsonl")
    assert [h.star_id for h in hosts] == ["2438502"]  # KOI-1003, relative flux
    # its three primary eclipses are gone, and with them every other signal over the threshold
    koi_1003 = hosts[0]
    phase = (koi_1003.time - 172.264978 + 8.3606162 / 2) % 8.3606162
    assert np.abs(phase - 8.3606162 / 2).min() > 7.538 / 48
    assert koi_1003.removed > 0


def test_injected_planets_have_the_snr_asked_for_in_their_host(injected, hosts):
    rows, truth = injected
    assert list(truth.columns) == list(TRUTH_COLUMNS)
    assert (rows["star_id"] == truth["host"]).all()
    assert truth["kind"].value_counts().to_dict() == {
        "planet": 16,
        "eb": 8,
        "artefact": 8,
        "none": 8,
    }
    assert (rows["label"] == (truth["kind"] == "planet")).all()
    by_id = {h.star_id: h for h in hosts}
    planets = truth[(truth["kind"] == "planet") & (truth["n_transits"] >= 2)]
    assert len(planets) >= 10
    for i, record in planets.iterrows():
        t, flux = rows.loc[i, "time"], rows.loc[i, "flux"]
        host = by_id[record["host"]]
        assert np.isin(t, host.time).all()  # the host's own cadences, nothing made up
        base = host.flux[np.isin(host.time, t)]
        # the injected deficit, measured in the host's own noise, gives the SNR recorded
        y = flux / base
        sigma, count = transit_snr(
            t, y, record["period"], record["epoch"], record["duration_hours"] / 24
        )
        inside = (
            np.abs(
                (t - record["epoch"] + record["period"] / 2) % record["period"]
                - record["period"] / 2
            )
            < record["duration_hours"] / 48
        )
        assert 1 - y[inside].mean() == pytest.approx(record["depth"], rel=0.05)
        assert record["snr"] >= 5.0 * 0.8 or record["rp_rs"] >= 0.05  # tuned SNR, or a giant


def test_binaries_have_secondaries_and_artefacts_fool_nothing_into_planets(injected):
    rows, truth = injected
    binaries = truth[truth["kind"] == "eb"]
    low_mass = binaries["eb_low_mass"].astype(bool)
    assert binaries.loc[~low_mass, "eb_secondary_ratio"].between(0.01, 1.0).all()
    # M dwarfs across Sun-like stars: a giant planet's size, a faint secondary eclipse
    assert low_mass.any() and (~low_mass).any()
    assert binaries.loc[low_mass, "rp_rs"].between(0.08, 0.25).all()
    assert binaries.loc[low_mass, "eb_secondary_ratio"].between(0.002, 0.05).all()
    # short-period binaries are circular; longer ones may put the secondary off phase 0.5
    phase = binaries["eb_secondary_phase"]
    assert (phase[binaries["period"] <= 3.0] == 0.5).all()
    assert phase.between(0.5 - 1 / np.pi, 0.5 + 1 / np.pi).all()
    assert (binaries["eb_dilution"] <= 1).all()
    artefacts = truth[truth["kind"] == "artefact"]
    assert artefacts["artefacts"].str.len().gt(0).all()
    assert (rows.loc[artefacts.index, "label"] == 0).all()


def test_each_row_carries_the_signal_the_search_gives_a_model(injected):
    rows, truth = injected
    assert set(SIGNAL_COLUMNS) <= set(rows.columns)
    assert tuple(Signal(0, 1.0, 0.0, 0.1, 1e-3, 10.0).model_inputs()) == SIGNAL_COLUMNS
    found = truth[truth["signal_found"].astype(bool)]
    assert len(found) >= 8
    single = rows.loc[found.index, "transit_single"].to_numpy() == 1
    periodic = found[~single]
    ratio = rows.loc[periodic.index, "orbital_period"] / periodic["period"]
    near = np.min(np.abs(ratio.to_numpy()[:, None] / np.array([0.5, 1.0, 2.0]) - 1), axis=1)
    assert (near < 5e-3).all()
    # a single transit found is the injected one: its time, not a period
    singles = found[single]
    offset = (rows.loc[singles.index, "transit_epoch"] - singles["epoch"]).abs()
    assert (offset < singles["duration_hours"] / 24).all()
    # strong planets are found: the search is what a scan runs
    strong = truth[(truth["kind"] == "planet") & (truth["snr"] > 15) & (truth["n_transits"] >= 3)]
    assert strong["signal_found"].astype(bool).mean() >= 0.8


def test_the_same_seed_gives_the_same_rows_whatever_the_processes(hosts):
    one, truth_one = inject(hosts, n=8, seed=11, n_jobs=1)
    two, truth_two = inject(hosts, n=8, seed=11, n_jobs=2)
    pd.testing.assert_frame_equal(truth_one, truth_two)
    for a, b in zip(one["flux"], two["flux"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_files_read_back_and_split_by_host(injected, tmp_path):
    rows, truth = injected
    data, truth_file = write_injection(rows, truth, tmp_path / "inj.csv.gz", reported_only=False)
    dataset = read_dataset(data)
    assert dataset.has_lightcurves and len(dataset.labels) == len(rows)
    assert set(SIGNAL_COLUMNS) - {"transit_epoch"} <= set(dataset.table.columns)
    assert "candidates_on_star" not in dataset.table.columns  # light curves: no star context
    train, test = split_by_star(dataset.labels.astype(int), dataset.groups, 0.3, 0)
    assert not set(dataset.groups[train]) & set(dataset.groups[test])
    assert len(np.unique(dataset.labels[test])) == 2
    assert pd.read_csv(truth_file).shape == (len(truth), len(truth.columns) + 1)  # and written


def test_by_default_only_the_signals_a_scan_reports_are_written(injected, tmp_path):
    rows, truth = injected
    data, truth_file = write_injection(rows, truth, tmp_path / "reported.csv")
    written = pd.read_csv(truth_file)
    reported = truth["signal_reported"].astype(bool)
    assert written["written"].tolist() == reported.tolist()
    frame = pd.read_csv(data)
    assert len(frame) == reported.sum()
    # a scan reports signals over 7.1 sigma (10 for single transits), and so do these rows
    single = frame["transit_single"] == 1
    assert (frame.loc[~single, "transit_snr"] >= 7.1).all()
    assert (frame.loc[single, "transit_snr"] >= 10).all()
    planets = truth[reported & (truth["kind"] == "planet")]
    assert planets["signal_found"].astype(bool).all()


def test_split_hosts_keeps_each_star_on_one_side(hosts):
    train, test = split_hosts(hosts, 0.3, seed=0)
    assert {h.star_id for h in train}.isdisjoint(h.star_id for h in test)
    assert len(train) + len(test) == len(hosts)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        split_hosts(hosts, 1.5, seed=0)


def test_bad_input_is_one_line(hosts, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--n 0"):
        inject(hosts, n=0)
    with pytest.raises(DataError, match="no usable host light curves"):
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "x.jsonl").write_text('{"name": "a", "time": [1, 2, 3], "flux": [1, 1, 1]}\n')
        load_hosts(empty)
    code, out, err = run(
        capsys, "simulate", "--into", str(empty), "--n", "5", "--out", str(tmp_path / "s.csv")
    )
    assert code == 2 and err.count("\n") == 1 and "no usable host light curves" in err


def test_cli_injects_into_real_curves(host_dir, tmp_path, capsys):
    out = tmp_path / "inj.csv"
    code, stdout, err = run(
        capsys, "simulate", "--into", str(host_dir), "--n", "12", "--seed", "1",
        "--out", str(out), "--n-jobs", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "injected into 12 windows of 3 real light curves" in stdout
    assert "whose signal a scan reports" in stdout
    frame = pd.read_csv(out)
    assert frame["star_id"].astype(str).isin(["211117077", "25155310", "38846515"]).all()
    assert (tmp_path / "inj.truth.csv").is_file()


def test_the_light_curve_recipe_registers_a_champion_that_scans_real_curves(
    host_dir, shared_data, fresh_store, tmp_path, capsys
):
    """As make demo does: inject into real curves, train side by side, register the best as
    exohunt-lightcurves@champion, and scan a real star that was no host with it."""
    import mlflow

    data = tmp_path / "lc.csv.gz"
    code, _, err = run(capsys, "simulate", "--into", str(host_dir), "--n", "45", "--seed", "2",
                       "--out", str(data))  # fmt: skip
    assert code == 0, err
    code, stdout, err = run(capsys, "experiments", str(data), "--models", "xgboost",
                            "random_forest", "--experiment-name", "lightcurves")  # fmt: skip
    assert code == 0, err
    assert "models:/exohunt-lightcurves@champion" in stdout
    client = mlflow.tracking.MlflowClient(fresh_store)
    champion = client.get_model_version_by_alias("exohunt-lightcurves", "champion")
    assert str(champion.version) == "1"
    toi_101 = shared_data / "real_lightcurves" / "fits"
    toi_101 = toi_101 / "tess2018206045859-s0001-0000000231663901-0120-s_lc.fits"
    out = tmp_path / "candidates.csv"
    code, _, err = run(capsys, "scan", str(toi_101), "--model",
                       "models:/exohunt-lightcurves@champion", "--output", str(out))  # fmt: skip
    assert code == 0, err
    candidates = pd.read_csv(out)
    top = candidates.iloc[0]
    assert top["period"] == pytest.approx(1.4303699, rel=1e-3)  # TOI-101 b, a hot Jupiter
    assert 0 <= top["score"] <= 1


def test_rows_can_carry_the_views_a_scan_builds_for_their_signal(hosts):
    from exohunt.io.stars import StarCurve
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    fractions = {"planet": 1.0, "eb": 0.0, "artefact": 0.0, "none": 0.0}
    rows, truth = inject(hosts, n=4, seed=5, fractions=fractions, snr_range=(20, 40), n_jobs=1,
                         views=True)  # fmt: skip
    found = truth.index[truth["signal_found"].astype(bool)]
    assert len(found) >= 2
    for i in found:
        row = rows.loc[i]
        assert row["global_view"].shape == (201,) and row["local_view"].shape == (61,)
        star = StarCurve(str(row["star_id"]), row["time"], row["flux"], mission="TESS")
        scanned = scan_star(star, SearchSettings(), inputs=("views",))
        same = [x for x in scanned.inputs if x["orbital_period"] == row["orbital_period"]]
        assert len(same) == 1, (
            row["orbital_period"],
            [x["orbital_period"] for x in scanned.inputs],
        )
        for key in ("global_view", "local_view"):
            np.testing.assert_allclose(row[key], same[0][key], rtol=1e-6)
        for key in ("Period", "Duration", "Transit_Depth", "SN"):
            assert row[key] == pytest.approx(same[0][key])
        # the injected transit is at the centre of the local view, about -1 deep
        assert np.nanmin(row["local_view"][25:36]) < -0.5
