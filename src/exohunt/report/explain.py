"""Why the model said so: per-row feature contributions for every kind of exohunt model.

:func:`explain` takes a saved exohunt model (``FixedThresholdClassifier`` around the fitted
Pipeline, or the Pipeline itself) and the frame of rows it scores, and returns an
:class:`Explanation`: one contribution per feature and row, with the feature values as a user
reads them (imputed, not scaled). The method follows the final estimator:

- XGBoost: exact TreeSHAP by XGBoost itself (``pred_contribs``) with the trees the model predicts
  with, in log-odds; contributions plus the bias equal the margin.
- Random Forest (scikit-learn tree ensembles): shap's TreeExplainer (tree-path-dependent), in
  probability; contributions plus the base value equal ``predict_proba``.
- MLP: shap's PermutationExplainer of P(planet) as a function of the imputed, unscaled features,
  against ``background`` rows (default: the imputer's medians, one row). The values are sampled
  estimates of Shapley values: additive by construction (they sum to P(planet) minus the mean
  P(planet) of the background) but not exact attributions.
- CNN: occlusion. Each scalar feature is replaced by its imputer median, and windows of each view
  are flattened to the view's median (its out-of-transit level: views are normalised to median 0,
  depth -1); the drop in P(planet) is recorded. The views' drops are in
  :attr:`Explanation.view_maps`. Occlusion is not additive: the base value is set to
  ``proba - values.sum(1)``.
- Any other estimator: occlusion of each feature by its imputer median.

shap is imported only for the Random Forest and the MLP (``pip install 'exohunt[explain]'``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from exohunt.errors import ConfigError, DataError, MissingDependencyError, ModelError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Width of an occlusion window of a CNN view, as a fraction of the view's bins; windows step
#: by half a width.
VIEW_WINDOW_FRACTION = 1 / 20
#: Occluded copies of rows per forward pass of the occlusion methods.
OCCLUSION_BATCH_ROWS = 4096
#: Permutations (each forward and backward) the MLP's PermutationExplainer runs per row.
PERMUTATIONS = 10


@dataclass
class Explanation:
    """Per-row feature contributions to a model's scores; see :func:`explain`."""

    values: np.ndarray  # (n_rows, n_features) contribution of each feature, in `output` units
    base_value: np.ndarray  # (n_rows,) values.sum(1) + base_value == the model output
    feature_names: list[str]  # the pipeline's feature names
    data: np.ndarray  # (n_rows, n_features) feature values after imputation, before scaling
    output: str  # "log-odds" (the XGBoost margin) or "probability"
    method: str  # how the values were computed
    proba: np.ndarray  # (n_rows,) P(planet), as model.predict_proba(frame)[:, 1]
    #: CNN only: "global_view"/"local_view" -> (n_rows, bins) mean drop in P(planet) when a
    #: window holding that bin is flattened to the view's median.
    view_maps: dict[str, np.ndarray] = field(default_factory=dict)
    #: CNN only: "global_view"/"local_view" -> the indices of that view's bins in feature_names.
    view_columns: dict[str, np.ndarray] = field(default_factory=dict)

    def top(self, row: int, k: int = 8) -> list[tuple[str, float, float]]:
        """The ``k`` largest contributions (by absolute value) to row ``row``, largest first, as
        ``(feature name, its value from data, contribution)``. The CNN's view bins are left out
        (their maps are in ``view_maps``). Raises IndexError for a row out of range."""
        n_rows = len(self.values)
        if not -n_rows <= row < n_rows:
            raise IndexError(f"row {row} is out of range: the explanation has {n_rows} rows")
        if k < 1:
            raise ValueError(f"k must be a positive number of features; got {k!r}")
        hidden = np.zeros(len(self.feature_names), dtype=bool)
        for columns in self.view_columns.values():
            hidden[columns] = True
        contributions = self.values[row]
        order = [j for j in np.argsort(-np.abs(contributions), kind="stable") if not hidden[j]]
        return [
            (self.feature_names[j], float(self.data[row, j]), float(contributions[j]))
            for j in order[:k]
        ]


class ShapMissingError(MissingDependencyError, ConfigError):
    """shap, needed to explain Random Forest and MLP scores, is not installed."""


def pipeline_of(model: Any):
    """The fitted Pipeline inside a saved exohunt model (``FixedThresholdClassifier`` around a
    ``FrozenEstimator``), a :class:`~exohunt.train.FittedModel`, or a bare Pipeline.
    Raises ModelError when there is none."""
    from sklearn.pipeline import Pipeline

    inner = model
    for _ in range(4):
        if isinstance(inner, Pipeline):
            return inner
        for attribute in ("pipeline", "estimator_", "estimator"):
            if getattr(inner, attribute, None) is not None:
                inner = getattr(inner, attribute)
                break
        else:
            break
    raise ModelError(
        f"{type(model).__name__} holds no scikit-learn Pipeline; explanations need a model saved "
        "by 'exohunt train' (or its Pipeline)"
    )


def explain(
    model: Any,
    frame: pd.DataFrame,
    background: np.ndarray | None = None,
    random_state: int = 0,
) -> Explanation:
    """Explain the scores of ``model`` for the rows of ``frame`` (see the module docstring).

    ``background``: rows of the imputed, unscaled feature matrix (:func:`background_sample`)
    that the MLP's explainer integrates over; the other methods ignore it. ``random_state``
    seeds the MLP's permutations (the global numpy random state is left as it was).

    Raises DataError for an empty frame or a background of the wrong shape, ModelError when
    ``model`` holds no Pipeline, and ShapMissingError (a ConfigError) when a Random Forest or
    MLP is explained without shap installed.
    """
    pipeline = pipeline_of(model)
    if len(frame) == 0:
        raise DataError("the frame to explain has no rows; give at least one row")
    preprocess, to_model = _split_steps(pipeline)
    data = np.asarray(_apply(preprocess, frame), dtype=float)
    names = [str(name) for name in pipeline[:-1].get_feature_names_out()]
    estimator = pipeline[-1]
    X = _apply(to_model, data)
    proba = np.asarray(estimator.predict_proba(X), dtype=float)[:, 1]
    if background is not None:
        background = _check_background(background, data.shape[1])
    medians = _medians(pipeline, background, data)
    common = {"feature_names": names, "data": data, "proba": proba}

    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from exohunt.models.boosting import XGBoostClassifier
    from exohunt.models.torch_cnn import TorchCNNClassifier
    from exohunt.models.torch_mlp import TorchMLPClassifier

    if isinstance(estimator, XGBoostClassifier):
        values, base = _xgboost_contributions(estimator, X)
        return Explanation(
            values,
            base,
            output="log-odds",
            method="exact TreeSHAP (XGBoost pred_contribs)",
            **common,
        )
    if isinstance(
        estimator, (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
    ):
        values, base = _tree_shap(estimator, X)
        return Explanation(
            values, base, output="probability", method="TreeSHAP (shap TreeExplainer)", **common
        )
    if isinstance(estimator, TorchMLPClassifier):
        rows = medians[None, :] if background is None else background
        values, base = _permutation_shap(estimator, to_model, data, rows, random_state)
        method = f"SHAP PermutationExplainer on {len(rows)} background rows"
        return Explanation(values, base, output="probability", method=method, **common)
    views = (
        _view_columns(estimator, data.shape[1]) if isinstance(estimator, TorchCNNClassifier) else {}
    )
    values, maps, windows = _occlusion(estimator, to_model, data, proba, medians, views)
    method = "occlusion"
    if views:
        widths = ", ".join(f"{width} bins of the {name}" for name, width in windows.items())
        method = (
            "occlusion (not additive): scalar features set to their imputer medians, windows "
            f"of {widths} flattened to the view's median"
        )
    return Explanation(
        values,
        proba - values.sum(axis=1),
        output="probability",
        method=method,
        view_maps=maps,
        view_columns=views,
        **common,
    )


def background_sample(
    model: Any, frame: pd.DataFrame, n: int = 64, random_state: int = 0
) -> np.ndarray:
    """``n`` rows (all, if fewer) of the imputed, unscaled feature matrix of ``frame`` (training
    rows), drawn without replacement: store them with a model and pass them to :func:`explain`
    as ``background``. Raises ValueError unless ``n`` is positive, DataError for an empty frame."""
    if n < 1:
        raise ValueError(f"n must be a positive number of rows; got {n!r}")
    if len(frame) == 0:
        raise DataError("the frame to draw background rows from has no rows")
    pipeline = pipeline_of(model)
    if len(frame) > n:
        rng = np.random.default_rng(random_state)
        frame = frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))]
    preprocess, _ = _split_steps(pipeline)
    return np.asarray(_apply(preprocess, frame), dtype=float)


def _split_steps(pipeline) -> tuple[list, list]:
    """The steps before the model: (up to the imputed features, the rest: scaling)."""
    steps = pipeline.steps[:-1]
    names = [name for name, _ in steps]
    split = names.index("scale") if "scale" in names else len(steps)
    return steps[:split], steps[split:]


def _apply(steps: list, X):
    """``X`` through the transformers ``steps`` (skipping ``"passthrough"``), as the Pipeline."""
    for _, step in steps:
        if step is not None and not (isinstance(step, str) and step == "passthrough"):
            X = step.transform(X)
    return X


def _check_background(background: Any, n_features: int) -> np.ndarray:
    rows = np.asarray(background, dtype=float)
    if rows.ndim != 2 or rows.shape[1] != n_features or len(rows) == 0:
        raise DataError(
            f"background has shape {rows.shape}; expected (rows, {n_features}): rows of the "
            "model's imputed feature matrix (use background_sample(model, training_frame))"
        )
    if not np.isfinite(rows).all():
        raise DataError("background holds NaN or infinite values; give imputed feature rows")
    return rows


def _medians(pipeline, background: np.ndarray | None, data: np.ndarray) -> np.ndarray:
    """The 'typical' value of each feature: the imputer's medians (from the training rows),
    else the median of the background, else of the rows explained."""
    imputer = pipeline.named_steps.get("impute")
    statistics = getattr(imputer, "statistics_", None)
    if statistics is not None and len(statistics) == data.shape[1]:
        return np.asarray(statistics, dtype=float)
    return np.median(background if background is not None else data, axis=0)


def _import_shap():
    try:
        import shap
    except ModuleNotFoundError as exc:
        if exc.name != "shap":
            raise
        raise ShapMissingError(
            "shap", "explaining Random Forest and MLP scores", extra="explain"
        ) from exc
    return shap


def _xgboost_contributions(estimator, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TreeSHAP values in log-odds from the trees ``predict_proba`` uses (up to the best
    round), and the bias (the last column of ``pred_contribs``)."""
    from exohunt.errors import optional_import

    xgboost = optional_import(
        "xgboost", "the XGBoost model", extra="xgboost", package="xgboost-cpu"
    )
    matrix = xgboost.DMatrix(np.asarray(X, dtype=float), missing=np.nan)
    contributions = estimator.booster_.predict(
        matrix, pred_contribs=True, iteration_range=(0, int(estimator.best_iteration_) + 1)
    )
    contributions = np.asarray(contributions, dtype=float)
    return contributions[:, :-1], contributions[:, -1]


def _tree_shap(estimator, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shap's TreeExplainer on the second class's probability (the column predict_proba[:, 1])."""
    shap = _import_shap()
    explainer = shap.TreeExplainer(estimator)
    values = explainer.shap_values(np.asarray(X, dtype=float))
    values = np.asarray(values[1] if isinstance(values, list) else values, dtype=float)
    if values.ndim == 3:
        values = values[:, :, 1]
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=float))
    base = expected[1] if expected.size > 1 else expected[0]
    return values, np.full(len(values), base)


def _permutation_shap(
    estimator, to_model: list, data: np.ndarray, background: np.ndarray, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """shap's PermutationExplainer of P(planet) over the unscaled features: the function scales
    the rows as the Pipeline does and runs the network."""
    shap = _import_shap()

    def planet_probability(rows: np.ndarray) -> np.ndarray:
        return np.asarray(estimator.predict_proba(_apply(to_model, rows)), dtype=float)[:, 1]

    masker = shap.maskers.Independent(background, max_samples=len(background))
    max_evals = PERMUTATIONS * (2 * data.shape[1] + 1)
    state = np.random.get_state()  # shap shuffles with (and seeds) numpy's global generator
    try:
        explainer = shap.PermutationExplainer(planet_probability, masker, seed=random_state)
        result = explainer(data, max_evals=max_evals, silent=True)
    finally:
        np.random.set_state(state)
    values = np.asarray(result.values, dtype=float)
    base = np.broadcast_to(np.asarray(result.base_values, dtype=float), (len(data),)).copy()
    return values, base


def _view_columns(estimator, n_features: int) -> dict[str, np.ndarray]:
    """The CNN's view columns: the last ``global_bins + local_bins``, global view first."""
    n_scalars = n_features - int(estimator.global_bins) - int(estimator.local_bins)
    start = n_scalars + int(estimator.global_bins)
    return {
        "global_view": np.arange(n_scalars, start),
        "local_view": np.arange(start, n_features),
    }


def _windows(length: int) -> tuple[int, list[int]]:
    """Occlusion windows over ``length`` bins: the width and the start bins (the last window
    ends at the last bin)."""
    width = max(1, round(length * VIEW_WINDOW_FRACTION))
    starts = list(range(0, length - width + 1, max(1, width // 2)))
    if starts[-1] != length - width:
        starts.append(length - width)
    return width, starts


def _occlusion(
    estimator,
    to_model: list,
    data: np.ndarray,
    proba: np.ndarray,
    medians: np.ndarray,
    views: dict[str, np.ndarray],
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, int]]:
    """Drops in P(planet) when each non-view feature is set to its median and when each window
    of each view is flattened to that row's view median.

    Returns the values (view columns: the view map times step / width, so that they add up to
    about the drops of non-overlapping windows), the view maps and the window widths.
    """
    n_rows, n_features = data.shape
    in_view = np.zeros(n_features, dtype=bool)
    for columns in views.values():
        in_view[columns] = True
    features = np.flatnonzero(~in_view)
    windows = {name: _windows(len(columns)) for name, columns in views.items()}
    n_copies = len(features) + sum(len(starts) for _, starts in windows.values())

    drops = np.empty((n_rows, n_copies))
    chunk = max(1, OCCLUSION_BATCH_ROWS // max(n_copies, 1))
    for first in range(0, n_rows, chunk):
        rows = data[first : first + chunk]
        copies = np.repeat(rows[:, None, :], n_copies, axis=1)  # (rows, copies, features)
        copies[:, np.arange(len(features)), features] = medians[features]
        k = len(features)
        for name, columns in views.items():
            width, starts = windows[name]
            level = np.median(rows[:, columns], axis=1)
            for start in starts:
                copies[:, k, columns[start : start + width]] = level[:, None]
                k += 1
        flat = _apply(to_model, copies.reshape(-1, n_features))
        occluded = np.asarray(estimator.predict_proba(flat), dtype=float)[:, 1]
        drops[first : first + chunk] = proba[first : first + chunk, None] - occluded.reshape(
            len(rows), n_copies
        )

    values = np.zeros((n_rows, n_features))
    values[:, features] = drops[:, : len(features)]
    maps, k = {}, len(features)
    for name, columns in views.items():
        width, starts = windows[name]
        total = np.zeros((n_rows, len(columns)))
        covered = np.zeros(len(columns))
        for start in starts:
            total[:, start : start + width] += drops[:, k, None]
            covered[start : start + width] += 1
            k += 1
        maps[name] = total / covered
        values[:, columns] = maps[name] * max(1, width // 2) / width
    return values, maps, {name: width for name, (width, _) in windows.items()}
