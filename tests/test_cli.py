"""The command line: what a user types, what they read, and the exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.support import run


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_train_with_no_dataset_uses_the_bundled_table(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "train", "--no-mlflow", "--output", str(tmp_path / "m"))
    assert code == 0
    assert "bundled Kepler KOI cumulative table" in out
    assert "2,187 planet, 3,847 not planet, 1,605 unresolved (left out)" in out
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "mcc"):
        assert metric in out
    assert f"saved: {tmp_path / 'm'}" in out


def test_a_missing_file_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "train", "/no/such/file.csv", "--no-mlflow"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert one_line_error(done.stderr) == (
        "error: no such file: /no/such/file.csv (check the path, or give an absolute path)"
    )


def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _catalogue(n=40, seed=0, label=None):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"period": rng.uniform(1, 50, n), "pl_rade": rng.uniform(0.5, 10, n)})
    frame["label"] = rng.integers(0, 2, n) if label is None else label
    return frame


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "empty.csv").write_text("") or d / "empty.csv",
            r"file is empty: .*empty\.csv",
        ),
        (
            lambda d: _write(d, "odd.csv", pd.DataFrame({"alpha": [1, 2], "beta": [3, 4]})),
            r"columns.*alpha, beta.*--label-column",
        ),
        (
            lambda d: _write(d, "one.csv", _catalogue(label=1)),
            r"every labelled row .* is 'planet'; a classifier needs both classes",
        ),
        (
            lambda d: _write(d, "few.csv", _catalogue(n=8)),
            r"has 8 labelled rows; training needs at least 10",
        ),
        (
            lambda d: _write(
                d,
                "flux.csv",
                pd.DataFrame(
                    {"flux": ["[1, 2, 3]", "[1, 2, 3]", "[1, 2, oops]"], "label": [0, 1, 0]}
                ),
            ),
            r"'flux' cell of data row 3",
        ),
    ],
    ids=["empty", "unknown-format", "single-class", "too-few-rows", "bad-flux-cell"],
)
def test_bad_data_is_one_line_exit_2(capsys, tmp_path, make, message):
    path = make(tmp_path)
    code, _, err = run(capsys, "train", str(path), "--no-mlflow", "--output", str(tmp_path / "o"))
    assert code == 2
    assert re.search(message, one_line_error(err)), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "svm"],
            r"unknown model 'svm'; choices are: random_forest \(rf\), xgboost \(xgb\), nn",
        ),
        (["--test-size", "1.5"], r"--test-size 1.5 is outside \(0, 1\)"),
        (["--test-size", "0"], r"--test-size 0.0 is outside \(0, 1\)"),
        (["--test-size", "abc"], r"invalid float value: 'abc'"),
    ],
)
def test_bad_options_print_one_line(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "train", "--no-mlflow", *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert re.search(message, one_line_error(done.stderr))


def test_an_all_nan_column_is_dropped_with_a_warning(capsys, tmp_path):
    frame = _catalogue(n=60)
    frame["st_teff"] = np.nan
    path = _write(tmp_path, "nan.csv", frame)
    code, out, err = run(capsys, "train", str(path), "--no-mlflow", "--output", str(tmp_path / "o"))
    assert code == 0, err
    assert "warning: feature column 'stellar_temp' is empty in the training rows; dropped" in err
    meta = json.loads((tmp_path / "o" / "model_metadata.json").read_text())
    # and the star context: candidates per star (no star has two, so no sibling offsets)
    assert meta["feature_names"] == ["orbital_period", "planet_radius", "candidates_on_star"]
    assert "sibling_period_offset" not in err


def test_predict_writes_ids_probability_and_label(capsys, tmp_path, koi_model, shared_data):
    # a KOI file the model never saw: rows past the subset, from the real table
    from exohunt.io import bundled_koi_path

    unseen = pd.read_csv(bundled_koi_path(), comment="#").iloc[3000:3400]
    unseen = unseen.drop(columns=["koi_disposition"])  # unlabelled, as new data would be
    path = _write(tmp_path, "unseen.csv", unseen.rename(columns={"kepid": "star_id"}))
    out_csv = tmp_path / "preds.csv"
    code, out, err = run(capsys, "predict", str(koi_model), str(path), "--output", str(out_csv))
    assert code == 0, err
    preds = pd.read_csv(out_csv)
    assert len(preds) == 400
    assert {"star_id", "planet_probability", "predicted_label"} <= set(preds.columns)
    threshold = json.loads((koi_model / "model_metadata.json").read_text())["threshold"]
    assert ((preds["planet_probability"] >= threshold) == preds["predicted_label"]).all()
    assert f"wrote {out_csv}" in out
    assert f"model: {koi_model.resolve()}" in out


def test_evaluate_prints_metrics_and_confusion_matrix(capsys, koi_model, shared_data):
    from exohunt.io import bundled_koi_path

    code, out, _ = run(capsys, "evaluate", str(koi_model), str(bundled_koi_path()))
    assert code == 0
    assert "average_precision" in out and "confusion matrix" in out
    assert f"model: {koi_model.resolve()}" in out
    code, out, _ = run(capsys, "evaluate", str(koi_model), str(bundled_koi_path()), "--json")
    metrics = json.loads(out)
    cm = metrics["confusion_matrix"]
    assert cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"] == 6034
    assert 0.9 < metrics["roc_auc"] <= 1.0


def test_model_errors_are_one_line(capsys, tmp_path, koi_model, koi_subset):
    code, _, err = run(capsys, "predict", str(tmp_path / "nope"), str(koi_subset))
    assert code == 2 and "the directory does not exist" in one_line_error(err)
    (tmp_path / "empty_dir").mkdir()
    code, _, err = run(capsys, "predict", str(tmp_path / "empty_dir"), str(koi_subset))
    assert code == 2 and "is not an exohunt model: it has no model.joblib" in one_line_error(err)

    lacking = _write(tmp_path, "lacking.csv", _catalogue(n=20))
    code, _, err = run(capsys, "predict", str(koi_model), str(lacking))
    line = one_line_error(err)
    assert code == 2
    assert "the data lacks" in line and "transit_duration" in line and "koi_model_snr" in line


def test_features_of_light_curve_files_name_each_star(capsys, tmp_path, shared_data):
    jsonl = shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl"
    out_csv = tmp_path / "f" / "features.csv"
    code, out, _ = run(
        capsys, "-q", "features", str(jsonl), "--chunk-size", "5", "--output", str(out_csv)
    )
    assert code == 0
    table = pd.read_csv(out_csv)
    assert len(table) == 12 and table.columns[0] == "star_id"
    assert {"bls_period", "bls_depth_snr", "transit_shape"} <= set(table.columns)
    assert table["bls_period"].between(0.5, 30).all()
    assert "computed" in out and "for 12 light curves" in out
    assert not list(out_csv.parent.glob(".*partial*"))


def test_features_of_a_parquet_file_keep_its_other_columns_in_order(capsys, tmp_path, shared_data):
    from exohunt.features import TransitFeatures
    from exohunt.io import read_dataset

    dataset = read_dataset(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl")
    curves = pd.DataFrame(
        {
            "star_id": [f"s{i}" for i in range(12)],
            "label": [i % 2 for i in range(12)],
            "time": [list(t) for t in dataset.time],
            "flux": [list(f) for f in dataset.flux],
            "flux_err": [list(np.full(len(f), 1e-4)) for f in dataset.flux],
        }
    )
    source = tmp_path / "curves.parquet"
    curves.to_parquet(source, row_group_size=4)
    out = tmp_path / "features.parquet"
    code, _, _ = run(
        capsys, "-q", "features", str(source), "--chunk-size", "5", "--output", str(out)
    )
    assert code == 0
    table = pd.read_parquet(out)
    assert table["star_id"].tolist() == curves["star_id"].tolist()
    assert table["label"].tolist() == curves["label"].tolist()
    assert not {"flux", "time", "flux_err"} & set(table.columns)  # arrays stay behind
    step = TransitFeatures().fit(pd.DataFrame({"flux": [], "time": []}))
    frame = pd.DataFrame(
        {
            "time": [np.asarray(t, float) for t in curves["time"]],
            "flux": [np.asarray(f, float) for f in curves["flux"]],
        }
    )
    expected = step.transform(frame)
    names = list(step.get_feature_names_out())
    np.testing.assert_allclose(table[names].to_numpy(), expected, equal_nan=True)


def test_features_refuse_a_bad_chunk_size_and_data_without_light_curves(
    capsys, koi_subset, tmp_path
):
    code, _, err = run(capsys, "features", str(koi_subset), "--chunk-size", "0")
    assert code == 2 and "--chunk-size 0 must be at least 1" in one_line_error(err)
    code, _, err = run(capsys, "features", str(koi_subset), "--output", str(tmp_path / "f.csv"))
    assert code == 2 and "has no light curves" in one_line_error(err)
    assert not (tmp_path / "f.csv").exists()


def test_train_refuses_to_overwrite_a_model_unless_asked(capsys, koi_subset, koi_model, tmp_path):
    import shutil

    out = tmp_path / "rf"
    shutil.copytree(koi_model, out)
    before = (out / "model_metadata.json").read_text()
    code, _, err = run(capsys, "train", str(koi_subset), "--no-mlflow", "--output", str(out))
    assert code == 2
    assert "already holds a model (model.joblib)" in one_line_error(err)
    assert "--overwrite" in one_line_error(err)
    assert (out / "model_metadata.json").read_text() == before
    code, _, err = run(capsys, "train", str(koi_subset), "--no-mlflow", "--output", str(out),
                       "--overwrite", "--model", "xgboost")  # fmt: skip
    assert code == 0, err
    assert json.loads((out / "model_metadata.json").read_text())["model_type"] == "xgboost"
    assert not list(tmp_path.glob("rf.*"))  # no staging or old copy left behind


def test_an_interrupted_training_leaves_the_earlier_model_whole(
    capsys, koi_subset, koi_model, tmp_path, monkeypatch
):
    import shutil

    import exohunt.train

    out = tmp_path / "rf"
    shutil.copytree(koi_model, out)
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exohunt.train, "save_plots", interrupted)
    code, _, _ = run(capsys, "train", str(koi_subset), "--no-mlflow", "--output", str(out),
                     "--overwrite")  # fmt: skip
    assert code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files


def test_a_warning_repeated_by_every_fold_is_said_once(capsys, koi_subset, tmp_path):
    code, _, err = run(capsys, "train", str(koi_subset), "--no-mlflow", "--cv", "3",
                       "--output", str(tmp_path / "m"))  # fmt: skip
    assert code == 0
    warning = "warning: feature column 'koi_teq_err1' is empty in the training rows; dropped"
    assert err.count(warning) == 1


@pytest.mark.parametrize("command", ["train", "experiments", "sweep"])
def test_every_training_command_takes_the_dataset_either_way(command):
    from exohunt.cli import _resolve_dataset, build_parser

    for argv in ([command, "data.csv"], [command, "--dataset", "data.csv"]):
        args = build_parser().parse_args(argv)
        _resolve_dataset(args)
        assert args.dataset == "data.csv"
    args = build_parser().parse_args([command])
    _resolve_dataset(args)
    assert args.dataset is None  # the bundled table


def test_two_different_datasets_are_refused(capsys):
    code, _, err = run(capsys, "train", "a.csv", "--dataset", "b.csv", "--no-mlflow")
    assert code == 2
    assert "two datasets given: a.csv and --dataset b.csv" in one_line_error(err)
