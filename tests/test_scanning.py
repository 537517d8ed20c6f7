"""``exohunt scan`` and ``exohunt.scan``: sources, models, outputs, resume, bad input, tracking.

Real files from ../shared/data: Kepler-90's three FITS quarters, TOI-114's sector-1 FITS, the
Q17 JSON Lines sample; small models trained here on real data (KOI rows, TESS Triage views) and
on exohunt's simulations. The search's known answers are in test_scan_kepler90.py and
test_scan_real.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import exohunt
from exohunt.cli import main
from exohunt.errors import ModelError
from exohunt.lightcurve.search import SearchSettings
from exohunt.scanning import CANDIDATE_COLUMNS, STAR_COLUMNS, ScanWriter, scan
from tests.support import run

TOI114 = "real_lightcurves/fits/hlsp_tess-data-alerts_tess_phot_00025155310-s01_tess_v1_lc.fits"


@pytest.fixture(scope="module")
def views_model(shared_data, tmp_path_factory):
    """A small CNN trained on 1,500 real TESS Triage views (PC against the rest)."""
    folder = tmp_path_factory.mktemp("views")
    archive = np.load(shared_data / "tess_astronet_triage_views.npz")
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(archive["tic_id"]), 1500, replace=False))
    np.savez(folder / "views.npz", **{k: archive[k][keep] for k in archive.files})
    out = folder / "cnn"
    code = main(["-q", "train", str(folder / "views.npz"), "--model", "cnn", "--epochs", "2",
                 "--no-mlflow", "--output", str(out)])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def flux_model(tmp_path_factory):
    """XGBoost on 240 simulated light curves (BLS features of the flux)."""
    folder = tmp_path_factory.mktemp("flux")
    assert main(["-q", "simulate", "--n", "240", "--out", str(folder / "sim.csv")]) == 0
    out = folder / "xgb"
    code = main(["-q", "train", str(folder / "sim.csv"), "--model", "xgboost", "--no-mlflow",
                 "--output", str(out)])  # fmt: skip
    assert code == 0
    return out


# --------------------------------------------------------------------------- the command
def test_scan_writes_a_ranked_candidate_table_and_a_star_table(capsys, kepler90, tmp_path):
    out = tmp_path / "candidates.csv"
    code, stdout, err = run(capsys, "scan", str(kepler90), "--no-mlflow", "--output", str(out))
    assert code == 0, err
    table = pd.read_csv(out)
    assert tuple(table.columns) == CANDIDATE_COLUMNS
    assert (table["star_id"] == 11442793).all() and len(table) == 4
    assert table["snr"].is_monotonic_decreasing  # no model: ranked by SNR
    stars = pd.read_csv(tmp_path / "candidates_stars.csv")
    assert tuple(stars.columns) == STAR_COLUMNS
    assert stars.loc[0, "status"] == "scanned" and stars.loc[0, "signals"] == 4
    assert "scanned 1 stars, skipped 0, found 4 signals" in stdout
    assert "59.7" in stdout and "91.9" in stdout  # d and e in the printed list
    assert not list(tmp_path.glob("*.partial"))


def test_parquet_output(capsys, kepler90, tmp_path):
    out = tmp_path / "candidates.parquet"
    code, _, err = run(capsys, "scan", str(kepler90), "--no-mlflow", "--output", str(out),
                       "--max-planets", "2")  # fmt: skip
    assert code == 0, err
    table = pd.read_parquet(out)
    assert len(table) == 2 and tuple(table.columns) == CANDIDATE_COLUMNS


def test_a_light_curve_model_scores_every_signal(capsys, kepler90, flux_model, tmp_path):
    out = tmp_path / "c.csv"
    code, stdout, err = run(capsys, "scan", str(kepler90), "--model", str(flux_model),
                            "--no-mlflow", "--output", str(out))  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(out)
    assert len(table) == 4
    assert table["score"].between(0, 1).all()
    # ranked by the system score: the model's, boosted on a star with two or more candidates
    assert table["system_score"].is_monotonic_decreasing
    assert (table["system_score"] >= table["score"]).all()
    boosted = table["system_score"] > table["score"]
    assert (table.loc[boosted, "star_candidates"] >= 2).all()
    assert (table.loc[boosted, "score"] >= 0.5).all()
    assert f"model: {flux_model.resolve()}" in stdout


def _signal(star, period, score, single=False):
    return {"star_id": star, "period": np.nan if single else period, "score": score,
            "single_transit": single}  # fmt: skip


def _odds(p):
    return p / (1 - p)


def test_two_planet_candidates_on_a_star_boost_each_other():
    """Lissauer et al. 2012: a candidate on a star with another at an unrelated period is far
    likelier a planet (binaries fall on stars at random): its odds x MULTI_BOOST."""
    from exohunt.scanning import MULTI_BOOST, system_scores

    rows = system_scores([
        _signal("A", 3.69, 0.90), _signal("A", 7.45, 0.60), _signal("A", 0.52, 0.20),
        _signal("A", np.nan, 0.70, single=True), _signal("B", 14.0, 0.95),
    ])  # fmt: skip
    boosted = [r["system_score"] for r in rows]
    for r in rows[:2] + rows[3:4]:  # the two periodic candidates and the single transit
        assert _odds(r["system_score"]) == pytest.approx(MULTI_BOOST * _odds(r["score"]))
        assert r["star_candidates"] == 2
    assert boosted[2] == 0.20  # under 0.5: no candidate, no boost
    assert boosted[4] == 0.95 and rows[4]["star_candidates"] == 1  # a star alone


@pytest.mark.parametrize(
    ("second", "why"),
    [(14.02 * 1.005, "the same period: a binary's secondary eclipse"),
     (14.02 * 2.001, "a whole multiple: an alias of the same signal"),
     (np.nan, "a single transit does not make a system")],
)  # fmt: skip
def test_one_signal_seen_twice_is_no_system(second, why):
    from exohunt.scanning import system_scores

    rows = system_scores([_signal("A", 14.02, 0.95), _signal("A", second, 0.9, np.isnan(second))])
    assert [r["system_score"] for r in rows] == [0.95, 0.9], why
    assert rows[0]["star_candidates"] == 1


def test_without_a_model_there_is_no_system_score():
    from exohunt.scanning import system_scores

    (row,) = system_scores([_signal("A", 3.0, np.nan)])
    assert np.isnan(row["system_score"]) and np.isnan(row["star_candidates"])


def test_a_views_model_scores_views_scan_builds(capsys, shared_data, views_model, tmp_path):
    """The CNN trained on real Triage views scores TOI-114 b, and the views scan builds from
    its light curve go through the same network."""
    out = tmp_path / "c.csv"
    code, _, err = run(capsys, "scan", str(shared_data / TOI114), "--model", str(views_model),
                       "--no-mlflow", "--output", str(out))  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(out)
    assert table["score"].between(0, 1).all() and table["score"].notna().all()
    first = table.sort_values("snr", ascending=False).iloc[0]
    assert first["period"] == pytest.approx(3.2888, rel=0.005)


def test_a_catalogue_model_is_refused(capsys, kepler90, koi_model, tmp_path):
    code, _, err = run(capsys, "scan", str(kepler90), "--model", str(koi_model),
                       "--no-mlflow", "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 2
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "reads only catalogue columns" in line and "light curves or AstroNet views" in line


def test_predict_on_light_curves_still_scores_each_star(capsys, kepler90, flux_model, tmp_path):
    out = tmp_path / "p.csv"
    code, _, err = run(capsys, "predict", str(flux_model), str(kepler90), "--output", str(out))
    assert code == 0, err
    table = pd.read_csv(out)
    assert len(table) == 1 and table["planet_probability"].between(0, 1).all()


# --------------------------------------------------------------------------- sources
def test_every_light_curve_source(shared_data, tmp_path):
    """JSON Lines, a flux CSV, a Kaggle-wide CSV and Parquet give the same search."""
    lines = [
        json.loads(x) for x in open(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl")
    ]
    (record,) = [x for x in lines if x["name"].startswith("kplr001026032")]  # a binary
    flux = np.array([np.nan if v is None else v for v in record["flux"]], dtype=float)
    time = np.array(record["time"], dtype=float)
    ok = np.isfinite(flux)
    frame = pd.DataFrame({"kepid": [1026032], "time": [time[ok]], "flux": [flux[ok]]})
    frame.to_parquet(tmp_path / "curves.parquet")
    pd.DataFrame(
        {"kepid": [1026032], "time": [json.dumps(list(time[ok]))],
         "flux": [json.dumps(list(flux[ok]))], "label": [0]}
    ).to_csv(tmp_path / "curves.csv", index=False)  # fmt: skip
    kaggle = pd.DataFrame(
        [[1, *flux[ok]]], columns=["LABEL"] + [f"FLUX.{i + 1}" for i in range(ok.sum())]
    )
    kaggle.to_csv(tmp_path / "kaggle.csv", index=False)
    settings = SearchSettings(max_planets=1)
    jsonl = scan(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl", settings=settings)
    reference = jsonl.candidates.set_index("star_id").loc["1026032"]
    for source in ("curves.parquet", "curves.csv"):
        found = scan(tmp_path / source, settings=settings).candidates
        assert found.loc[0, "star_id"] == "1026032"
        assert found.loc[0, "period"] == pytest.approx(reference["period"], rel=1e-3)
        assert found.loc[0, "time_system"] == "BKJD"
    wide = scan(tmp_path / "kaggle.csv", settings=settings).candidates  # no times: cadences
    assert wide.loc[0, "period"] == pytest.approx(reference["period"], rel=0.02)
    assert wide.loc[0, "time_system"] == "days from the first cadence"


def test_lightkurve_objects(shared_data):
    lk = pytest.importorskip("lightkurve")
    files = sorted((shared_data / "lightcurves").glob("*.fits"))
    collection = lk.LightCurveCollection([lk.read(p) for p in files])
    result = exohunt.scan(collection, settings=SearchSettings(max_planets=3))
    assert result.scanned == 1
    assert result.stars.loc[0, "source"] == "lightkurve (3 light curves)"
    table = result.candidates
    assert (table["star_id"] == "11442793").all() and (table["time_system"] == "BKJD").all()
    assert any(abs(p / 59.737 - 1) < 0.005 for p in table["period"].dropna())
    single = exohunt.scan(collection[0], settings=SearchSettings(max_planets=1))
    assert single.stars.loc[0, "source"] == "lightkurve (1 light curve)"


# --------------------------------------------------------------------------- bad input
def _jsonl(path, curves):
    with open(path, "w") as handle:
        for name, time, flux in curves:
            handle.write(json.dumps({"name": name, "time": list(time), "flux": list(flux)}) + "\n")


def test_stars_that_cannot_be_scanned_are_skipped_with_a_reason(capsys, shared_data, tmp_path):
    rng = np.random.default_rng(0)
    time = np.arange(0, 30, 0.02)
    flux = 1 + 1e-3 * rng.standard_normal(time.size)
    unsorted = time.copy()
    unsorted[[10, 11]] = unsorted[[11, 10]]
    repeated = time.copy()
    repeated[5] = repeated[4]
    folder = tmp_path / "mixed"
    folder.mkdir()
    _jsonl(folder / "curves.jsonl", [
        ("kplr000000001", time, np.full(time.size, np.nan)),
        ("kplr000000002", time[:200] / 100, flux[:200]),
        ("kplr000000003", unsorted, flux),
        ("kplr000000004", repeated, flux),
        ("kplr000000005", time, flux),
    ])  # fmt: skip
    # two missions for one star: Kepler-90's quarter 3 and a copy that says TESS
    from astropy.io import fits

    source = shared_data / "lightcurves" / "kplr011442793-2009350155506_llc.fits"
    shutil.copy(source, folder / source.name)
    with fits.open(source) as hdul:
        hdul[0].header["MISSION"] = "TESS"
        hdul[0].header["TELESCOP"] = "TESS"
        hdul[1].header["BJDREFI"] = 2457000
        hdul.writeto(folder / "kplr011442793-2010174085026_llc.fits")
    out = tmp_path / "c.csv"
    code, stdout, err = run(capsys, "scan", str(folder), "--no-mlflow", "--output", str(out))
    assert code == 0, err  # one star was scanned
    assert "Traceback" not in err
    stars = pd.read_csv(tmp_path / "c_stars.csv", dtype={"star_id": str}).set_index("star_id")
    reasons = stars["reason"].fillna("")
    assert stars.loc["5", "status"] == "scanned"
    assert "no finite flux" in reasons["1"]
    assert "shorter than two minimum periods" in reasons["2"]
    assert "not sorted" in reasons["3"] and "sort the cadences" in reasons["3"]
    assert "duplicate cadences" in reasons["4"]
    assert "2 missions (Kepler, TESS)" in reasons["11442793"]
    assert "scan each mission's files separately" in reasons["11442793"]
    assert "skipped 5, found" in stdout
    assert sum(line.startswith("  skipped ") for line in stdout.splitlines()) == 5


def test_no_star_scanned_is_exit_code_2(capsys, tmp_path):
    _jsonl(tmp_path / "bad.jsonl", [("kplr000000001", np.arange(50.0), np.full(50, np.nan))])
    code, _, err = run(capsys, "scan", str(tmp_path / "bad.jsonl"), "--no-mlflow",
                       "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "no star could be scanned" in line and "Traceback" not in err
    assert pd.read_csv(tmp_path / "c_stars.csv")["reason"][0] == "no finite flux values"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-planets", "0"], "max_planets must be at least 1"),
        (["--output", "c.txt"], "must end in .csv or .parquet"),
    ],
)
def test_bad_options_are_one_line(capsys, kepler90, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "scan", str(kepler90), "--no-mlflow", *argv)
    assert code == 2 and message in err and "Traceback" not in err


# --------------------------------------------------------------------------- chunks and resume
@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl"


def test_an_interrupted_scan_resumes_without_redoing_stars(sample, tmp_path):
    out = tmp_path / "c.csv"
    settings = SearchSettings(max_planets=2)
    writer = ScanWriter(out)
    seen = []

    def stop_after_two(candidates, stars):
        writer.write(candidates, stars)
        seen.append(len(stars))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan(sample, settings=settings, chunk_size=3, n_jobs=1, on_chunk=stop_after_two)
    assert not out.exists()  # the partial files hold what was done
    resumed = ScanWriter(out, resume=True)
    assert len(resumed.done) == 6
    rest = scan(sample, settings=settings, chunk_size=3, n_jobs=1, done=resumed.done,
                on_chunk=resumed.write)  # fmt: skip
    # the other lines, not the first 6 again; line 10 repeats line 2's star, which is done
    assert len(rest.stars) == 5
    candidates, stars = resumed.close()
    whole = scan(sample, settings=settings, n_jobs=1)
    assert sorted(stars["star_id"]) == sorted(set(whole.stars["star_id"]))  # 11 stars
    pd.testing.assert_series_equal(
        candidates["period"].reset_index(drop=True), whole.candidates["period"], rtol=1e-9
    )


def test_resume_of_a_complete_scan_does_nothing(capsys, sample, tmp_path):
    out = tmp_path / "c.csv"
    assert run(capsys, "scan", str(sample), "--no-mlflow", "--output", str(out))[0] == 0
    before = pd.read_csv(out)
    code, stdout, _ = run(capsys, "scan", str(sample), "--no-mlflow", "--output", str(out),
                          "--resume")  # fmt: skip
    assert code == 0 and "resuming: 11 stars already" in stdout  # 12 lines, 11 stars
    assert "0 stars this run" in stdout
    pd.testing.assert_frame_equal(pd.read_csv(out), before)


def test_progress_counts_stars_and_signals(sample):
    calls = []
    result = scan(sample, chunk_size=4, n_jobs=1, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [4, 8, 12]
    assert {c[1] for c in calls} == {12}
    assert calls[-1][2] == len(result.candidates)


def test_a_local_dask_cluster_gives_the_local_result(sample):
    distributed = pytest.importorskip("distributed")
    settings = SearchSettings(max_planets=2)
    local = scan(sample, settings=settings, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        remote = scan(sample, settings=settings, chunk_size=4, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(remote.candidates, local.candidates)


# --------------------------------------------------------------------------- tracking
def test_a_scan_is_an_mlflow_run_scored_by_a_logged_model(
    capsys, kepler90, flux_model, store, tmp_path
):
    """A light-curve model logged by 'exohunt train' scores the scan through its MLflow URI;
    the scan is a run with its settings, the model's URI and run, its counts and its tables."""
    import mlflow

    sim = flux_model.parent / "sim.csv"
    train = ["-q", "train", str(sim), "--model", "xgboost", "--experiment-name", "lc",
             "--output", str(tmp_path / "m")]  # fmt: skip
    assert main(train) == 0
    client = mlflow.tracking.MlflowClient(store)
    (trained,) = client.search_runs([client.get_experiment_by_name("lc").experiment_id])
    # the MLflow UI shows the command that made a run as its source (not the worker's "-c")
    assert trained.data.tags["mlflow.source.name"] == "exohunt " + " ".join(train)
    uri = f"runs:/{trained.info.run_id}/exohunt_model"
    code, stdout, err = run(capsys, "scan", str(kepler90), "--model", uri,
                            "--experiment-name", "scans", "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 0, err
    assert "the scan is an MLflow run" in stdout
    assert pd.read_csv(tmp_path / "c.csv")["score"].between(0, 1).all()
    (run_,) = client.search_runs([client.get_experiment_by_name("scans").experiment_id])
    assert run_.info.status == "FINISHED"
    assert run_.data.tags["mlflow.source.name"].startswith(f"exohunt scan {kepler90} --model")
    params, metrics = run_.data.params, run_.data.metrics
    assert params["model_uri"] == uri and params["model_run_id"] == trained.info.run_id
    assert params["search_min_snr"] == "7.1" and params["search_max_period"] == "auto"
    assert params["multi_boost"] == "25.0" and params["candidate_score"] == "0.5"
    assert metrics["stars_scanned"] == 1 and metrics["signals_found"] == 4
    assert metrics["stars_per_second"] > 0
    artifacts = {a.path for a in client.list_artifacts(run_.info.run_id, "scan")}
    assert artifacts == {"scan/c.csv", "scan/c_stars.csv"}


def test_a_scan_that_scans_nothing_is_a_failed_run(capsys, store, tmp_path):
    import mlflow

    _jsonl(tmp_path / "bad.jsonl", [("kplr000000001", np.arange(50.0), np.full(50, np.nan))])
    code, _, _ = run(capsys, "scan", str(tmp_path / "bad.jsonl"), "--experiment-name", "scans",
                     "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 2
    client = mlflow.tracking.MlflowClient(store)
    (run_,) = client.search_runs([client.get_experiment_by_name("scans").experiment_id])
    assert run_.info.status == "FAILED"
    assert (tmp_path / "c_stars.csv").is_file()  # what it wrote stays


def test_model_errors_name_the_model(kepler90, koi_model):
    with pytest.raises(ModelError, match="reads only catalogue columns"):
        scan(kepler90, koi_model)


def test_a_fault_in_one_star_costs_only_that_star(monkeypatch, sample):
    """An unexpected error while searching one star skips it, with the error as its reason;
    every other star keeps its result."""
    import exohunt.scanning as scanning

    real = scanning.search_star

    def faulty(time, flux, settings):
        if abs(float(np.nanmedian(flux)) - faulty.level) < 1e-9:
            raise IndexError("index 3 is out of bounds")
        return real(time, flux, settings)

    stars = list(scanning.iter_stars(sample))
    faulty.level = float(np.nanmedian(stars[0].flux))
    monkeypatch.setattr(scanning, "search_star", faulty)
    result = scan(sample, n_jobs=1)
    skipped = result.skipped
    assert list(skipped["star_id"]) == [stars[0].star_id, "1026957"]  # the fault, the repeat
    assert "the search failed (IndexError: index 3 is out of bounds)" in skipped["reason"].iloc[0]
    assert result.scanned == 10


def test_a_standardised_curve_gives_a_model_no_depth_in_ppm(shared_data):
    # Kepler-264 comes standardised (z-scores): its depth is in sigma, and read as ppm it would
    # be a 100%-deep eclipse. Kepler-1 (relative flux) keeps its depth.
    from exohunt.io.stars import iter_stars
    from exohunt.scanning import scan_star

    stars = {s.star_id: s for s in iter_stars(shared_data / "real_lightcurves")}
    settings = SearchSettings(max_planets=1)
    for star_id, relative in (("1871056", False), ("11446443", True)):
        found = scan_star(stars[star_id], settings, ("views",))
        assert found.rows and found.rows[0]["snr"] > 20, star_id
        model_input = found.inputs[0]
        assert np.isfinite(model_input["Transit_Depth"]) == relative, star_id
        assert np.isfinite(model_input["transit_depth"]) == relative, star_id
        if relative:  # Kepler-1 b: 1.4% deep
            assert 1e4 < model_input["Transit_Depth"] < 2e4
