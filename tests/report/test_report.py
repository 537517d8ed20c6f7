"""``exohunt report``, ``exohunt scan --report`` and the review pages of a training run, on real
data: Kepler-90's FITS quarters, the bundled KOI table, the real TESS Triage views."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from exohunt.cli import main
from exohunt.report.pages import PAGE_DPI, PAGE_SIZE, THUMB_WIDTH
from tests.support import run

PAGE_PIXELS = (int(PAGE_SIZE[0] * PAGE_DPI), int(PAGE_SIZE[1] * PAGE_DPI))


@pytest.fixture(scope="module")
def views_model(shared_data, tmp_path_factory):
    """A small CNN trained on 1,000 real TESS Triage views."""
    folder = tmp_path_factory.mktemp("views")
    archive = np.load(shared_data / "tess_astronet_triage_views.npz")
    keep = np.sort(np.random.default_rng(1).choice(len(archive["tic_id"]), 1000, replace=False))
    np.savez(folder / "views.npz", **{k: archive[k][keep] for k in archive.files})
    out = folder / "cnn"
    code = main(["-q", "train", str(folder / "views.npz"), "--model", "cnn", "--epochs", "2",
                 "--no-mlflow", "--output", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_a_scan_report_has_a_page_per_candidate_and_an_index(
    capsys, kepler90, views_model, tmp_path
):
    out = tmp_path / "report"
    code, stdout, err = run(capsys, "scan", str(kepler90), "--model", str(views_model),
                            "--report", str(out), "--no-mlflow",
                            "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 0, err
    candidates = pd.read_csv(tmp_path / "c.csv", dtype={"star_id": str})
    pages = sorted((out / "pages").glob("*.png"))
    assert len(pages) == len(candidates) == 4
    assert {p.stem for p in pages} == {f"11442793_{n}" for n in candidates["signal"]}
    for page in pages:
        with Image.open(page) as image:
            assert image.size == PAGE_PIXELS
        with Image.open(out / "thumbs" / page.name) as thumb:
            assert thumb.width == THUMB_WIDTH
    index = (out / "index.html").read_text()
    assert index.count("pages/11442793_") >= 4
    assert f"report: 4 pages; open {(out / 'index.html').resolve()}" in stdout


def test_top_n_draws_the_best_scored_only(capsys, kepler90, views_model, tmp_path):
    out = tmp_path / "report"
    code, _, err = run(capsys, "scan", str(kepler90), "--model", str(views_model), "--report",
                       str(out), "--top", "2", "--no-mlflow", "--output", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 0, err
    best = pd.read_csv(tmp_path / "c.csv").head(2)  # ranked best first
    drawn = {p.stem for p in (out / "pages").glob("*.png")}
    assert drawn == {f"11442793_{n}" for n in best["signal"]}


def test_the_cnn_reasons_are_occlusion_maps_over_the_views_scan_built(kepler90, views_model):
    from exohunt.predict import load_model
    from exohunt.report import ScanReport
    from exohunt.scanning import scan

    loaded = load_model(views_model)
    seen = []

    class Keep(ScanReport):
        def add(self, scans, rows, explanation=None, inputs=None):
            seen.append((rows, explanation, inputs))

    scan(kepler90, loaded, n_jobs=1, report=Keep(kepler90.parent / "unused", loaded))
    ((rows, explanation, inputs),) = seen
    assert np.allclose(explanation.proba, [r["score"] for r in rows])
    for name, length in (("global_view", 201), ("local_view", 61)):
        assert explanation.view_maps[name].shape == (len(rows), length)
        assert all(np.shape(i[name]) == (length,) for i in inputs)


def test_a_catalogue_report_sets_rows_against_the_training_classes(
    capsys, koi_model, koi_subset, tmp_path
):
    metadata = json.loads((koi_model / "model_metadata.json").read_text())
    reference = metadata["reference"]
    period = reference["orbital_period"]
    assert period["log"] and len(period["edges"]) == len(period["planet"]) + 1
    assert sum(period["planet"]) + sum(period["not_planet"]) == metadata["n_train_samples"]
    out = tmp_path / "koi-report"
    code, stdout, err = run(capsys, "report", str(koi_subset), "--model", str(koi_model),
                            "--output", str(out), "--top", "3", "--no-mlflow")  # fmt: skip
    assert code == 0, err
    assert len(list((out / "pages").glob("*.png"))) == 3
    assert "report: 3 pages" in stdout
    index = (out / "index.html").read_text()
    assert "K0" in index  # rows are named by their KOI names


def test_a_report_is_an_mlflow_run_with_its_pages(capsys, koi_model, koi_subset, store, tmp_path):
    import mlflow

    out = tmp_path / "r"
    code, _, err = run(capsys, "report", str(koi_subset), "--model", str(koi_model), "--output",
                       str(out), "--top", "2", "--experiment-name", "reports")  # fmt: skip
    assert code == 0, err
    client = mlflow.tracking.MlflowClient(store)
    (run_,) = client.search_runs([client.get_experiment_by_name("reports").experiment_id])
    assert run_.info.status == "FINISHED"
    assert run_.data.tags["exohunt_command"] == "report"
    assert run_.data.metrics["report_pages"] == 2
    files = {a.path for a in client.list_artifacts(run_.info.run_id, "report")}
    assert {"report/index.html", "report/pages", "report/thumbs"} <= files
    assert len(client.list_artifacts(run_.info.run_id, "report/pages")) == 2
    # the index links its pages through the run's artifacts when MLflow shows it
    assert run_.info.run_id in (out / "index.html").read_text()


def test_training_logs_pages_for_the_test_rows_to_review(capsys, koi_subset, store, tmp_path):
    import mlflow

    code, _, err = run(capsys, "train", str(koi_subset), "--model", "xgboost", "--review-pages",
                       "1", "--experiment-name", "t", "--output", str(tmp_path / "m"))  # fmt: skip
    assert code == 0, err
    pages = sorted((tmp_path / "m" / "review" / "pages").glob("*.png"))
    assert 1 <= len(pages) <= 4
    index = (tmp_path / "m" / "review" / "index.html").read_text()
    for group in ("confident planet", "confident non-planet"):
        assert group in index
    client = mlflow.tracking.MlflowClient(store)
    (run_,) = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    logged = client.list_artifacts(run_.info.run_id, "review/pages")
    assert len(logged) == len(pages)


def test_review_rows_pick_the_confident_and_the_worst():
    from exohunt.report import review_rows

    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.1, 0.8, 0.6, 0.3])
    groups = review_rows(y, p, threshold=0.5, per_group=1)
    assert groups == {
        "confident planet": [0],
        "confident non-planet": [2],
        "false positive": [3],
        "missed planet": [1],
    }


def test_bad_report_options_are_one_line(capsys, koi_model, tmp_path):
    code, _, err = run(capsys, "report", str(tmp_path / "missing.csv"), "--model",
                       str(koi_model), "--output", str(tmp_path / "r"), "--no-mlflow")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "no such file" in err
    code, _, err = run(capsys, "report", str(tmp_path), "--model", str(koi_model), "--top", "0",
                       "--no-mlflow")  # fmt: skip
    assert code == 2 and "--top 0 must be at least 1" in err
