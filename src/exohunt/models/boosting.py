"""Gradient-boosted trees (XGBoost) as a scikit-learn estimator.

:class:`XGBoostClassifier` wraps :class:`xgboost.XGBClassifier` with the original design's
hyperparameters, a class balance computed from the training labels, and early stopping on a
validation set passed to ``fit`` (never the test set). xgboost is imported inside ``fit``, so this
module is cheap to import and a missing xgboost fails only this model.

This module also holds the target and validation-set checks that every exohunt classifier shares
(:func:`check_binary_target`, :func:`check_eval_set`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from exohunt.cores import threads
from exohunt.errors import optional_import

logger = logging.getLogger(__name__)

#: ``progress(step, logs)``: called once per boosting round or training epoch (0-based) with that
#: step's metrics, for example ``{"train_loss": 0.41, "val_loss": 0.45}``.
ProgressCallback = Callable[[int, dict[str, float]], None]


def check_binary_target(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, y_encoded)`` for a two-class target; ``y_encoded`` holds 0 and 1.

    ``classes`` is sorted, so ``classes[1]`` (the larger label, 1 for 0/1 labels) is the positive
    class. Raises ValueError if ``y`` is continuous, has more than two classes, or only one.
    """
    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary":
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {y_type}; "
            "exohunt models need labels with exactly two classes (planet / not planet)."
        )
    classes, y_encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"Only one class is present in y ({classes[0]!r}); the classifier needs examples "
            "of both classes to train."
        )
    return classes, y_encoded.astype(np.int64)


def check_eval_set(
    estimator: BaseEstimator, eval_set: Any, classes: np.ndarray, **check_params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``eval_set=(X_val, y_val)`` against a fitted-so-far ``estimator``.

    Returns ``(X_val, y_val_encoded)`` with ``y_val`` encoded by ``classes`` (0 and 1). Raises
    ValueError if it is not a pair, if ``X_val`` has a different number of features than the
    training data, or if ``y_val`` holds a label that is not in the training labels.
    """
    if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
        raise ValueError(
            "eval_set must be a pair (X_val, y_val) of validation rows and labels; "
            f"got {type(eval_set).__name__}"
        )
    X_val, y_val = eval_set
    X_val = validate_data(estimator, X_val, reset=False, **check_params)
    y_val = column_or_1d(y_val, warn=True)
    if len(y_val) != len(X_val):
        raise ValueError(
            f"eval_set has {len(X_val)} rows in X_val but {len(y_val)} labels in y_val"
        )
    unknown = np.setdiff1d(y_val, classes)
    if unknown.size:
        raise ValueError(
            f"eval_set labels {unknown.tolist()} are not among the training labels "
            f"{classes.tolist()}"
        )
    return X_val, np.searchsorted(classes, y_val).astype(np.int64)


def _import_xgboost():
    return optional_import("xgboost", "the XGBoost model", extra="xgboost", package="xgboost-cpu")


class XGBoostClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost gradient-boosted trees for binary classification.

    Parameters
    ----------
    n_estimators : int, default=200
        Maximum number of boosting rounds.
    max_depth : int, default=7
    learning_rate : float, default=0.1
    subsample : float, default=0.8
        Fraction of training rows sampled for each tree.
    colsample_bytree : float, default=0.8
        Fraction of columns sampled for each tree.
    scale_pos_weight : "auto" or float, default="auto"
        Weight of the positive class. ``"auto"`` uses n_negative / n_positive of the training
        labels; a number is used as given. The value used is ``scale_pos_weight_``.
    eval_metric : str or list of str, default="logloss"
        Metric(s) recorded each round; early stopping watches the last one.
    early_stopping_rounds : int or None, default=20
        Stop when the validation metric has not improved for this many rounds. Applies only
        when ``fit`` is given ``eval_set``; ``None`` never stops early.
    random_state : int, default=42
    n_jobs : int, default=-1
        Threads used by xgboost; -1 uses every core this process may use (its CPU affinity).
    tree_method : str, default="hist"

    Attributes
    ----------
    model_ : xgboost.XGBClassifier
        The fitted model; ``booster_`` is its Booster.
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    scale_pos_weight_ : float
    history_ : dict of str to list of float
        Per-round metrics: ``train_logloss`` and, with ``eval_set``, ``val_logloss``.
    best_iteration_ : int
        0-based round whose trees predict (the best validation round under early stopping,
        otherwise the last round).
    feature_importances_ : ndarray of shape (n_features,)
        Gain-based importances, normalised to sum to 1.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 7,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        scale_pos_weight: float | str = "auto",
        eval_metric: str | list[str] = "logloss",
        early_stopping_rounds: int | None = 20,
        random_state: int | None = 42,
        n_jobs: int | None = -1,
        tree_method: str = "hist",
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.scale_pos_weight = scale_pos_weight
        self.eval_metric = eval_metric
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tree_method = tree_method

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True  # xgboost treats NaN as missing
        return tags

    def fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> XGBoostClassifier:
        """Fit on training rows; ``eval_set=(X_val, y_val)`` is used only for early stopping.

        ``progress(round, logs)`` is called after each boosting round with that round's
        ``train_<metric>`` (and ``val_<metric>``) values. Raises ValueError for invalid
        settings or data, MissingDependencyError if xgboost is not installed.
        """
        xgboost = _import_xgboost()
        self._check_params()
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_, y_encoded = check_binary_target(y)
        evals = [(X, y_encoded)]
        if eval_set is not None:
            evals.append(
                check_eval_set(self, eval_set, self.classes_, ensure_all_finite="allow-nan")
            )
        early_stopping = eval_set is not None and self.early_stopping_rounds is not None

        n_positive = int(y_encoded.sum())
        if isinstance(self.scale_pos_weight, str):
            self.scale_pos_weight_ = (len(y_encoded) - n_positive) / n_positive
        else:
            self.scale_pos_weight_ = float(self.scale_pos_weight)

        callbacks = [_progress_callback(xgboost, progress)] if progress is not None else None
        model = xgboost.XGBClassifier(
            objective="binary:logistic",
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            scale_pos_weight=self.scale_pos_weight_,
            eval_metric=self.eval_metric,
            early_stopping_rounds=self.early_stopping_rounds if early_stopping else None,
            random_state=self.random_state,
            n_jobs=threads(self.n_jobs),
            tree_method=self.tree_method,
            importance_type="gain",
            callbacks=callbacks,
        )
        # The training rows come first: xgboost early-stops on the last evaluation set.
        model.fit(X, y_encoded, eval_set=evals, verbose=False)
        if callbacks is not None:
            model.set_params(callbacks=None)  # keep the fitted model picklable

        self.model_ = model
        self.history_ = _by_split(model.evals_result(), lambda values: [float(v) for v in values])
        n_rounds = self.booster_.num_boosted_rounds()
        self.best_iteration_ = int(model.best_iteration) if early_stopping else n_rounds - 1
        self.feature_importances_ = np.asarray(model.feature_importances_, dtype=np.float64)
        if early_stopping:
            logger.info(
                "XGBoost stopped after %d of %d rounds; best round %d",
                n_rounds,
                self.n_estimators,
                self.best_iteration_,
            )
        return self

    @property
    def booster_(self):
        """The fitted :class:`xgboost.Booster`."""
        check_is_fitted(self, "model_")
        return self.model_.get_booster()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns ordered as ``classes_``.

        Under early stopping only the trees up to ``best_iteration_`` are used.
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return np.asarray(self.model_.predict_proba(X), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The more probable class label for each row (probability threshold 0.5)."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]

    def _check_params(self) -> None:
        spw = self.scale_pos_weight
        is_auto = isinstance(spw, str) and spw == "auto"
        is_positive = isinstance(spw, Real) and not isinstance(spw, bool) and spw > 0
        if not (is_auto or is_positive):
            raise ValueError(f"scale_pos_weight must be 'auto' or a positive number; got {spw!r}")
        rounds = self.early_stopping_rounds
        if rounds is not None and (
            not isinstance(rounds, Integral) or isinstance(rounds, bool) or rounds < 1
        ):
            raise ValueError(
                f"early_stopping_rounds must be a positive integer or None; got {rounds!r}"
            )


# xgboost names the evaluation sets by position; fit() passes the training rows first.
_SPLIT_NAMES = {"validation_0": "train", "validation_1": "val"}


def _by_split(evals_log: dict, pick: Callable) -> dict:
    """``{"validation_0": {"logloss": [...]}}`` -> ``{"train_logloss": pick([...])}``."""
    return {
        f"{_SPLIT_NAMES[name]}_{metric}": pick(values)
        for name, results in evals_log.items()
        for metric, values in results.items()
    }


def _progress_callback(xgboost, progress: ProgressCallback):
    """An xgboost TrainingCallback that reports each round's metrics to ``progress``."""

    class _Progress(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch: int, evals_log) -> bool:
            logs = _by_split(evals_log, lambda values: float(values[-1]))
            progress(epoch, logs)
            return False  # never asks xgboost to stop

    return _Progress()
