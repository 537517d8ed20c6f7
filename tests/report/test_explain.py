"""Per-row explanations of every kind of exohunt model, on the real KOI table and TESS views."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from exohunt.config import TrainConfig
from exohunt.errors import ConfigError, DataError, ModelError
from exohunt.io import read_dataset
from exohunt.report.explain import (
    Explanation,
    ShapMissingError,
    _windows,
    background_sample,
    explain,
    pipeline_of,
)
from exohunt.train import fit_model, labelled_rows

torch = pytest.importorskip("torch")
pytest.importorskip("xgboost")
pytest.importorskip("shap")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the networks are small, and test workers share the CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def koi(koi_subset):
    """The labelled rows of the first 1,500 KOIs."""
    return labelled_rows(read_dataset(koi_subset))


@pytest.fixture(scope="module")
def rows(koi):
    """40 rows to explain, both classes, some with missing values."""
    frame = koi.to_frame()
    return frame.iloc[np.linspace(0, len(frame) - 1, 40).astype(int)]


def fit(dataset, model: str, **settings):
    return fit_model(dataset, TrainConfig(model=model, n_jobs=1, **settings)).model


@pytest.fixture(scope="module")
def xgb(koi):
    # a high learning rate and short patience, so early stopping cuts the trees used
    params = {"n_estimators": 80, "learning_rate": 0.5, "early_stopping_rounds": 3}
    return fit(koi, "xgboost", model_params=params)


@pytest.fixture(scope="module")
def forest(koi):
    return fit(koi, "random_forest", model_params={"n_estimators": 30})


@pytest.fixture(scope="module")
def mlp(koi):
    return fit(koi, "nn", epochs=5)


def test_xgboost_contributions_add_up_to_the_margin(xgb, rows):
    estimator = pipeline_of(xgb)[-1]
    assert estimator.best_iteration_ < estimator.booster_.num_boosted_rounds() - 1  # stopped early
    explanation = explain(xgb, rows)
    assert explanation.output == "log-odds"
    assert explanation.method == "exact TreeSHAP (XGBoost pred_contribs)"
    X = pipeline_of(xgb)[:-1].transform(rows)
    margin = estimator.model_.predict(X, output_margin=True)
    total = explanation.values.sum(axis=1) + explanation.base_value
    np.testing.assert_allclose(total, margin, rtol=1e-5, atol=1e-5)
    proba = xgb.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(explanation.proba, proba)
    np.testing.assert_allclose(1 / (1 + np.exp(-total)), proba, rtol=1e-5, atol=1e-6)


def test_forest_contributions_add_up_to_the_probability(forest, rows):
    explanation = explain(forest, rows)
    assert (explanation.output, explanation.method) == (
        "probability",
        "TreeSHAP (shap TreeExplainer)",
    )
    proba = forest.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(explanation.proba, proba)
    total = explanation.values.sum(axis=1) + explanation.base_value
    np.testing.assert_allclose(total, proba, rtol=0, atol=1e-6)
    assert np.ptp(explanation.base_value) == 0  # the forest's mean vote, the same for every row


def test_mlp_permutation_shap_against_the_imputer_medians(mlp, rows):
    explanation = explain(mlp, rows)
    n_features = len(explanation.feature_names)
    assert explanation.values.shape == explanation.data.shape == (len(rows), n_features)
    assert explanation.method == "SHAP PermutationExplainer on 1 background rows"
    assert explanation.output == "probability"
    proba = mlp.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(explanation.proba, proba)
    # the base is the score of the typical (median) KOI; the contributions carry the rest
    median_row = pipeline_of(mlp).named_steps["impute"].statistics_[None, :]
    pipeline = pipeline_of(mlp)
    median_score = pipeline[-1].predict_proba(pipeline.named_steps["scale"].transform(median_row))
    np.testing.assert_allclose(explanation.base_value, median_score[0, 1], atol=1e-6)
    total = explanation.values.sum(axis=1) + explanation.base_value
    np.testing.assert_allclose(total, proba, atol=1e-4)
    high, low = np.argmax(proba), np.argmin(proba)
    assert proba[high] > median_score[0, 1] > proba[low]
    assert explanation.values[high].sum() > 0 > explanation.values[low].sum()


def test_mlp_with_background_rows_is_seeded_and_leaves_numpy_alone(mlp, koi, rows):
    background = background_sample(mlp, koi.to_frame(), n=16, random_state=1)
    assert background.shape == (16, len(pipeline_of(mlp)[:-1].get_feature_names_out()))
    state = np.random.get_state()
    first = explain(mlp, rows.iloc[:5], background=background, random_state=3)
    assert np.array_equal(np.random.get_state()[1], state[1])
    again = explain(mlp, rows.iloc[:5], background=background, random_state=3)
    np.testing.assert_array_equal(first.values, again.values)
    assert first.method == "SHAP PermutationExplainer on 16 background rows"
    # the base is the mean score of the background rows
    pipeline = pipeline_of(mlp)
    X_background = pipeline.named_steps["scale"].transform(background)
    mean_score = pipeline[-1].predict_proba(X_background)[:, 1].mean()
    np.testing.assert_allclose(first.base_value, mean_score, atol=1e-6)
    total = first.values.sum(axis=1) + first.base_value
    np.testing.assert_allclose(total, first.proba, atol=1e-4)


def test_background_of_the_wrong_width_is_refused(mlp, rows):
    with pytest.raises(DataError, match=r"background has shape \(3, 2\); expected \(rows, \d+\)"):
        explain(mlp, rows, background=np.zeros((3, 2)))


def test_top_lists_the_largest_contributions_with_unscaled_values(xgb, rows):
    explanation = explain(xgb, rows)
    row = 7
    top = explanation.top(row, k=5)
    assert len(top) == 5
    contributions = [c for _, _, c in top]
    assert np.abs(contributions).tolist() == sorted(np.abs(contributions), reverse=True)
    assert abs(contributions[-1]) >= np.sort(np.abs(explanation.values[row]))[-5]
    for name, value, contribution in top:
        j = explanation.feature_names.index(name)
        assert value == explanation.data[row, j] and contribution == explanation.values[row, j]
    # values as the catalogue gives them: periods in days, not z-scores
    everything = {name: value for name, value, _ in explanation.top(row, k=1000)}
    period = rows["orbital_period"].iloc[row]
    assert everything["orbital_period"] == pytest.approx(period) and period > 0.2
    assert len(everything) == len(explanation.feature_names)
    with pytest.raises(IndexError, match="row 40 is out of range"):
        explanation.top(40)


def test_an_unknown_kind_of_model_is_explained_by_occlusion(forest, koi, rows):
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier
    from sklearn.pipeline import Pipeline

    fitted_steps = pipeline_of(forest).steps[:-1]
    frame = koi.to_frame()
    X = Pipeline(fitted_steps).transform(frame)
    logistic = LogisticRegression(max_iter=500).fit(X, koi.labels.astype(int))
    pipeline = Pipeline([*fitted_steps, ("model", logistic)])
    model = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=0.5)
    model.fit(frame.iloc[:2], koi.labels[:2].astype(int))

    explanation = explain(model, rows)
    assert (explanation.method, explanation.output) == ("occlusion", "probability")
    assert explanation.view_maps == {}
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_value, explanation.proba, atol=1e-12
    )
    # a contribution is the drop in P(planet) when that feature is set to its training median
    medians = pipeline.named_steps["impute"].statistics_
    j = explanation.feature_names.index("planet_radius")
    occluded = explanation.data.copy()
    occluded[:, j] = medians[j]
    score = logistic.predict_proba(pipeline.named_steps["scale"].transform(occluded))[:, 1]
    np.testing.assert_allclose(explanation.values[:, j], explanation.proba - score, atol=1e-12)


def test_pipeline_of_finds_the_pipeline_or_says_what_it_needs(forest):
    from sklearn.linear_model import LogisticRegression

    pipeline = pipeline_of(forest)
    assert pipeline.steps[-1][0] == "model"
    assert pipeline_of(pipeline) is pipeline
    with pytest.raises(ModelError, match="LogisticRegression holds no scikit-learn Pipeline"):
        pipeline_of(LogisticRegression())


def test_empty_frame_is_refused(forest, rows):
    with pytest.raises(DataError, match="no rows"):
        explain(forest, rows.iloc[:0])


def test_without_shap_the_install_command_is_named(forest, rows, monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(ConfigError, match=r"pip install 'exohunt\[explain\]'") as caught:
        explain(forest, rows)
    assert isinstance(caught.value, ShapMissingError)


# --- the CNN, on real TESS AstroNet views ---------------------------------------------------


@pytest.fixture(scope="module")
def views(shared_data, tmp_path_factory):
    """400 real TESS views (100 PC, 300 EB or J) with every metadata array, read as a dataset."""
    from tests.support import triage_subset

    path = triage_subset(shared_data, tmp_path_factory.mktemp("views"), 100, 300)
    return labelled_rows(read_dataset(path))


@pytest.fixture(scope="module")
def cnn(views):
    return fit(views, "cnn", epochs=3, random_state=0)


@pytest.fixture(scope="module")
def cnn_explained(cnn, views) -> tuple[Explanation, object]:
    """The explanation of the 12 highest-scoring planets."""
    frame = views.to_frame()
    planets = frame[views.labels.astype(int) == 1]
    proba = cnn.predict_proba(planets)[:, 1]
    best = planets.iloc[np.argsort(-proba)[:12]]
    return explain(cnn, best), best


def transit_bins(view: np.ndarray) -> np.ndarray:
    """The bins of a normalised view (median 0, depth -1) more than half the depth down."""
    return np.flatnonzero(view < -0.5)


def test_cnn_occlusion_maps_have_the_views_shapes(cnn_explained):
    explanation, best = cnn_explained
    assert explanation.method.startswith("occlusion (not additive)")
    assert explanation.output == "probability"
    assert explanation.view_maps["global_view"].shape == (len(best), 201)
    assert explanation.view_maps["local_view"].shape == (len(best), 61)
    names = explanation.feature_names
    assert [names[j] for j in explanation.view_columns["global_view"][[0, -1]]] == [
        "global_000",
        "global_200",
    ]
    assert [names[j] for j in explanation.view_columns["local_view"][[0, -1]]] == [
        "local_00",
        "local_60",
    ]
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_value, explanation.proba, atol=1e-12
    )
    # top() lists scalar features only; the views are in the maps
    top = explanation.top(0, k=8)
    assert len(top) == 8
    assert not any(name.startswith(("global_", "local_")) for name, _, _ in top)


def test_cnn_reads_the_transit_where_it_is(cnn_explained):
    """For the highest-scoring planet, flattening the transit changes the score most.

    In the local view (transit at the centre) the largest drop is in the transit. In the global
    view (transit at phase 0, the centre bin) the largest change is there too, but a briefly
    trained network may take the global dip as evidence either way, so the test takes the size.
    """
    explanation, best = cnn_explained
    row = int(np.argmax(explanation.proba))
    for name, signed in (("local_view", True), ("global_view", False)):
        view = np.asarray(best.iloc[row][name], dtype=float)
        transit = transit_bins(view)
        assert len(transit) and abs(transit.mean() - len(view) // 2) <= 3  # centred
        occlusion = explanation.view_maps[name][row]
        peak = int(np.argmax(occlusion if signed else np.abs(occlusion)))
        width, _ = _windows(len(view))
        # a window holding a transit bin reaches at most width - 1 bins beyond it
        assert np.abs(transit - peak).min() < width, (name, peak, transit)
