"""XGBoostClassifier: learning, class balance, early stopping on a validation set, saving."""

from __future__ import annotations

import pickle
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

xgboost = pytest.importorskip("xgboost")

from exohunt.errors import MissingDependencyError  # noqa: E402
from exohunt.models import make_estimator  # noqa: E402
from exohunt.models.boosting import XGBoostClassifier  # noqa: E402

FAST = {"n_estimators": 30, "n_jobs": 2}


@pytest.fixture(scope="module")
def data():
    """Imbalanced (20% positives) data whose label depends on the first 4 of 10 columns."""
    X, y = make_classification(
        n_samples=900,
        n_features=10,
        n_informative=4,
        n_redundant=0,
        shuffle=False,  # informative columns first
        n_clusters_per_class=1,
        weights=[0.8, 0.2],
        class_sep=1.5,
        random_state=1,
    )
    rows = np.random.default_rng(1).permutation(len(y))  # shuffle=False also sorts the rows
    X, y = X[rows], y[rows]
    return {
        "train": (X[:600], y[:600]),
        "val": (X[600:750], y[600:750]),
        "test": (X[750:], y[750:]),
    }


def test_learns_a_separable_problem(data):
    model = XGBoostClassifier(**FAST).fit(*data["train"])
    X_test, y_test = data["test"]
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.95
    assert set(model.predict(X_test)) <= {0, 1}
    assert model.n_features_in_ == 10


def test_defaults_are_the_original_design():
    params = XGBoostClassifier().get_params()
    assert params == {
        "n_estimators": 200,
        "max_depth": 7,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "scale_pos_weight": "auto",
        "eval_metric": "logloss",
        "early_stopping_rounds": 20,
        "random_state": 42,
        "n_jobs": -1,
        "tree_method": "hist",
    }


def test_any_two_labels_become_classes_in_sorted_order(data):
    X, y = data["train"]
    labels = np.where(y == 1, "planet", "false positive")
    model = XGBoostClassifier(**FAST).fit(X, labels)
    assert model.classes_.tolist() == ["false positive", "planet"]
    assert set(model.predict(data["test"][0])) <= {"false positive", "planet"}
    proba = model.predict_proba(data["test"][0])
    assert roc_auc_score(data["test"][1], proba[:, 1]) > 0.95


def test_scale_pos_weight_auto_is_negatives_over_positives(data):
    X, y = data["train"]
    model = XGBoostClassifier(**FAST).fit(X, y, eval_set=data["val"])
    n_negative, n_positive = np.bincount(y)
    assert model.scale_pos_weight_ == pytest.approx(n_negative / n_positive)
    assert model.model_.get_params()["scale_pos_weight"] == pytest.approx(n_negative / n_positive)


def test_a_number_overrides_scale_pos_weight(data):
    model = XGBoostClassifier(**FAST, scale_pos_weight=1).fit(*data["train"])
    assert model.scale_pos_weight_ == 1.0
    assert model.model_.get_params()["scale_pos_weight"] == 1.0


def test_class_balance_raises_the_positive_probabilities(data):
    X, y = data["train"]
    X_test = data["test"][0]
    balanced = XGBoostClassifier(**FAST).fit(X, y).predict_proba(X_test)[:, 1]
    unbalanced = (
        XGBoostClassifier(**FAST, scale_pos_weight=1.0).fit(X, y).predict_proba(X_test)[:, 1]
    )
    assert balanced.mean() > unbalanced.mean()


def test_without_eval_set_all_rounds_run(data):
    model = XGBoostClassifier(**FAST).fit(*data["train"])
    assert list(model.history_) == ["train_logloss"]
    assert len(model.history_["train_logloss"]) == 30
    assert model.best_iteration_ == 29
    assert model.booster_.num_boosted_rounds() == 30


def test_early_stopping_stops_when_validation_loss_rises_and_predicts_with_the_best_round(data):
    X, y = data["train"]
    X_val, y_val = data["val"]
    # Validation labels flipped: every round that helps the training rows hurts these.
    model = XGBoostClassifier(n_estimators=200, early_stopping_rounds=5, n_jobs=2)
    model.fit(X, y, eval_set=(X_val, 1 - y_val))

    history = model.history_
    rounds_run = len(history["train_logloss"])
    assert len(history["val_logloss"]) == rounds_run < 200
    assert model.best_iteration_ == int(np.argmin(history["val_logloss"]))
    assert rounds_run == model.best_iteration_ + 5 + 1
    # Prediction uses the trees up to the best round only.
    best_trees = xgboost.DMatrix(data["test"][0])
    expected = model.booster_.predict(best_trees, iteration_range=(0, model.best_iteration_ + 1))
    np.testing.assert_allclose(model.predict_proba(data["test"][0])[:, 1], expected, rtol=1e-6)


def test_early_stopping_needs_an_eval_set_and_can_be_switched_off(data):
    model = XGBoostClassifier(**FAST, early_stopping_rounds=None)
    model.fit(*data["train"], eval_set=(data["val"][0], 1 - data["val"][1]))
    assert len(model.history_["val_logloss"]) == 30
    assert model.best_iteration_ == 29


def test_progress_is_called_every_round_and_not_kept(data):
    calls = []
    model = XGBoostClassifier(**FAST).fit(
        *data["train"], eval_set=data["val"], progress=lambda r, logs: calls.append((r, logs))
    )
    assert [r for r, _ in calls] == list(range(len(model.history_["train_logloss"])))
    assert [logs["val_logloss"] for _, logs in calls] == pytest.approx(
        model.history_["val_logloss"]
    )
    assert model.model_.get_params()["callbacks"] is None
    pickle.dumps(model)


def test_feature_importances_are_gain_based_and_find_the_informative_columns(data):
    model = XGBoostClassifier(**FAST).fit(*data["train"])
    importances = model.feature_importances_
    assert importances.shape == (10,)
    assert importances.sum() == pytest.approx(1.0)
    assert importances[:4].sum() > 0.6
    gain = model.booster_.get_score(importance_type="gain")
    assert importances[0] == pytest.approx(
        gain["f0"] / sum(gain.get(f"f{i}", 0) for i in range(10))
    )


def test_missing_values_are_accepted(data):
    X, y = data["train"]
    X = X.copy()
    X[::7, 0] = np.nan
    model = XGBoostClassifier(**FAST).fit(X, y)
    assert np.isfinite(model.predict_proba(X)).all()


def test_same_seed_gives_identical_probabilities(data):
    X_test = data["test"][0]
    first = XGBoostClassifier(**FAST).fit(*data["train"], eval_set=data["val"])
    second = XGBoostClassifier(**FAST).fit(*data["train"], eval_set=data["val"])
    np.testing.assert_array_equal(first.predict_proba(X_test), second.predict_proba(X_test))
    other = XGBoostClassifier(**FAST, random_state=7).fit(*data["train"], eval_set=data["val"])
    assert not np.array_equal(first.predict_proba(X_test), other.predict_proba(X_test))


def test_clone_and_params_round_trip():
    model = XGBoostClassifier(max_depth=3, scale_pos_weight=2.5, early_stopping_rounds=None)
    params = model.get_params()
    copy = clone(model)
    assert copy.get_params() == params
    copy.set_params(n_estimators=5)
    assert (copy.n_estimators, model.n_estimators) == (5, 200)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_saved_model_predicts_identically(data, dump, tmp_path):
    model = XGBoostClassifier(**FAST).fit(*data["train"], eval_set=data["val"])
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    X_test = data["test"][0]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    assert loaded.best_iteration_ == model.best_iteration_


def test_bad_settings_and_targets_are_explained(data):
    X, y = data["train"]
    with pytest.raises(ValueError, match="scale_pos_weight must be 'auto' or a positive number"):
        XGBoostClassifier(scale_pos_weight="balanced").fit(X, y)
    with pytest.raises(ValueError, match="early_stopping_rounds must be a positive integer"):
        XGBoostClassifier(early_stopping_rounds=0).fit(X, y)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        XGBoostClassifier(**FAST).fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="X has 3 features"):
        XGBoostClassifier(**FAST).fit(X, y, eval_set=(X[:, :3], y))


def test_missing_xgboost_names_the_install_command(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'exohunt\[xgboost\]'"):
        XGBoostClassifier().fit(*data["train"])


def test_registry_builds_xgboost(data):
    model = make_estimator("xgb")
    assert isinstance(model, XGBoostClassifier)
    assert (model.n_estimators, model.random_state, model.n_jobs) == (200, 42, -1)
    assert isinstance(make_estimator("xgboost", random_state=1, n_jobs=2), XGBoostClassifier)
    model.fit(*data["train"], eval_set=data["val"])
    assert model.best_iteration_ < 200


@parametrize_with_checks([XGBoostClassifier(n_estimators=10, n_jobs=1)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
