"""The one training path, end to end on real Kepler data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exohunt.config import DataConfig, TrainConfig
from exohunt.errors import ConfigError
from exohunt.evaluate import METRICS, split_by_star
from exohunt.io import bundled_koi_path, read_dataset
from exohunt.non_features import NON_FEATURE_COLUMNS, is_non_feature
from exohunt.predict import load_model
from exohunt.train import fit_model, labelled_rows, train

LEAKY = ("koi_score", "koi_pdisposition", "koi_disposition", "kepler_name", "kepoi_name", "kepid")


@pytest.fixture(scope="module")
def bundled_rf(tmp_path_factory):
    """The default command: Random Forest on the bundled KOI table."""
    out = tmp_path_factory.mktemp("rf") / "model"
    return train(TrainConfig(output=str(out)))


def test_default_training_on_the_bundled_table(bundled_rf):
    meta = bundled_rf.metadata
    assert meta["input_csv"] == str(bundled_koi_path())
    assert meta["model_type"] == "random_forest"
    assert meta["row_counts"] == {
        "total": 7639,
        "planet": 2187,
        "not_planet": 3847,
        "unresolved": 1605,
    }
    # candidates are left out: train + validation + test = the labelled rows
    assert meta["n_train_samples"] + meta["n_val_samples"] + meta["n_test_samples"] == 6034
    test = bundled_rf.metrics["test"]
    assert set(METRICS) <= set(test)
    # a real model on real data, without leaking columns: good, but not suspiciously perfect
    assert 0.9 < test["average_precision"] < 0.995
    assert 0.9 < test["roc_auc"] < 0.995
    out = bundled_rf.output_dir
    assert (out / "model.joblib").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["average_precision"] == test["average_precision"]


def test_metadata_has_every_field_of_the_original_design(bundled_rf):
    meta = json.loads((bundled_rf.output_dir / "model_metadata.json").read_text())
    for key in (
        "model_type",
        "input_csv",
        "output_path",
        "test_size",
        "random_state",
        "n_features",
        "n_train_samples",
        "n_test_samples",
        "flux_features_extracted",
        "trained_at",
        "feature_names",
        "label_mapping",
    ):
        assert key in meta, key
    assert meta["label_mapping"]["positive"] == ["CONFIRMED"]
    assert meta["n_features"] == len(meta["feature_names"])
    assert meta["model_params"]["n_estimators"] == 200
    assert meta["model_params"]["max_depth"] == 20
    assert meta["model_params"]["class_weight"] == "balanced"


def test_no_leaking_column_becomes_a_feature_on_the_real_koi_table(bundled_rf):
    names = bundled_rf.fitted.feature_names
    koi = read_dataset(bundled_koi_path())
    leaky_present = [c for c in koi.table.columns if is_non_feature(c) or c in LEAKY]
    assert {
        "koi_score",
        "koi_fpflag_nt",
        "koi_fpflag_ss",
        "koi_fpflag_co",
        "koi_fpflag_ec",
        "koi_pdisposition",
        "kepler_name",
        "kepoi_name",
        "kepid",
    } <= set(leaky_present)
    assert not set(names) & set(leaky_present)
    assert not any(n.startswith("koi_fpflag") for n in names)
    assert "orbital_period" in names and "planet_radius" in names
    assert "koi_fpflag_*" in NON_FEATURE_COLUMNS


def test_the_test_stars_never_appear_in_training(bundled_rf):
    rows = labelled_rows(read_dataset(bundled_koi_path()))
    y = rows.labels.astype(int)
    train_idx, test_idx = split_by_star(y, rows.groups, 0.2, 42)
    assert set(rows.groups[train_idx]).isdisjoint(rows.groups[test_idx])
    assert len(test_idx) == bundled_rf.metadata["n_test_samples"]


def test_imputation_and_scaling_are_fitted_on_training_rows_only(koi_subset):
    rows = labelled_rows(read_dataset(koi_subset))
    config = TrainConfig()
    fitted = fit_model(rows, config)
    pipeline = fitted.pipeline
    # fit_model holds validation stars out; the imputer saw exactly the other rows
    y = rows.labels.astype(int)
    fit_idx, _ = split_by_star(y, rows.groups, config.val_size, config.random_state)
    X_fit = pipeline.named_steps["features"].transform(rows.take(fit_idx).to_frame())
    assert np.allclose(pipeline.named_steps["impute"].statistics_, np.nanmedian(X_fit, axis=0))
    assert fitted.n_train == len(fit_idx)


def test_threshold_is_chosen_on_validation_and_saved(tmp_path, koi_subset):
    result = train(TrainConfig(data=DataConfig(dataset=str(koi_subset)), output=str(tmp_path)))
    loaded = load_model(tmp_path)
    assert loaded.threshold == pytest.approx(result.fitted.threshold)
    assert result.metrics["validation"]["threshold"] == result.fitted.threshold
    frame = read_dataset(koi_subset).labelled().to_frame()
    proba = loaded.model.predict_proba(frame)[:, 1]
    assert np.array_equal(loaded.model.predict(frame), (proba >= loaded.threshold).astype(int))


@pytest.mark.parametrize("model", ["random_forest", "xgboost", "nn"])
def test_same_seed_and_data_give_identical_metrics(tmp_path, koi_subset, model):
    def run(name):
        config = TrainConfig(
            data=DataConfig(dataset=str(koi_subset)),
            model=model,
            epochs=8,
            output=str(tmp_path / name),
        )
        train(config)
        return (tmp_path / name / "metrics.json").read_text()

    first, second = run("a"), run("b")
    assert first == second
    assert json.loads(first)["test"]["n_samples"] > 0


@pytest.mark.parametrize("model", ["xgboost", "nn"])
def test_each_model_trains_and_predicts_on_the_bundled_data(tmp_path, model):
    from exohunt.predict import predict

    result = train(TrainConfig(model=model, epochs=15, output=str(tmp_path)))
    assert result.metrics["test"]["roc_auc"] > 0.9
    assert result.fitted.history  # early stopping on validation recorded its curve
    preds = predict(load_model(tmp_path), read_dataset(bundled_koi_path()))
    assert len(preds) == 7639
    assert {"kepid", "kepoi_name", "planet_probability", "predicted_label"} <= set(preds.columns)
    assert preds["planet_probability"].between(0, 1).all()


def test_cross_validation_reports_mean_and_std(tmp_path, koi_subset):
    result = train(
        TrainConfig(data=DataConfig(dataset=str(koi_subset)), cv=3, output=str(tmp_path))
    )
    cv = json.loads((tmp_path / "metrics.json").read_text())["cv"]
    assert set(METRICS) <= set(cv)
    for summary in cv.values():
        assert len(summary["folds"]) == 3
        assert summary["mean"] == pytest.approx(np.mean(summary["folds"]))
        assert summary["std"] == pytest.approx(np.std(summary["folds"]))
    assert result.cv == cv


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"test_size": 1.5}, r"--test-size 1.5 is outside \(0, 1\)"),
        ({"test_size": 0.0}, r"--test-size 0.0 is outside"),
        ({"model": "svm"}, r"unknown model 'svm'; choices are: random_forest"),
        ({"cv": 1}, r"--cv 1 must be at least 2"),
        ({"epochs": 0}, r"--epochs must be a positive"),
    ],
)
def test_bad_settings_are_refused_before_any_work(changes, message):
    config = TrainConfig(**changes)
    with pytest.raises(ConfigError, match=message):
        config.validate()
