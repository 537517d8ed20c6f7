"""scikit-learn transformers that turn model-input frames into feature columns.

The input of every saved model is the frame of :meth:`exohunt.dataset.Dataset.to_frame`:
catalogue columns plus object columns holding arrays (``flux``, ``time``, ``global_view``,
``local_view``). :func:`make_features` picks the transformers that apply to a training frame and
joins them in one :class:`~sklearn.pipeline.FeatureUnion`, the first step of the saved Pipeline.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from exohunt.dataset import ARRAY_COLUMNS
from exohunt.errors import ModelError
from exohunt.io.context import CONTEXT_COLUMNS
from exohunt.lightcurve.bls import DEFAULT_DURATIONS_HOURS, DEFAULT_MIN_PERIOD, DEFAULT_N_PERIODS
from exohunt.lightcurve.features import (
    FLUX_STATISTICS,
    TRANSIT_FEATURES,
    flux_statistics,
    transit_feature_rows,
)
from exohunt.lightcurve.view_shape import FEATURES as VIEW_SHAPE_FEATURES
from exohunt.lightcurve.view_shape import view_shape
from exohunt.non_features import is_non_feature

log = logging.getLogger(__name__)


class CatalogueFeatures(TransformerMixin, BaseEstimator):
    """Select the numeric catalogue columns that may be features.

    At fit, keeps every numeric (or numeric-looking) column except the array columns, the
    ``exclude`` list (the dataset's id and label columns) and
    :data:`~exohunt.non_features.NON_FEATURE_COLUMNS`. Columns that are entirely NaN in the
    training rows are dropped with a warning.

    Parameters
    ----------
    exclude : tuple of str
        Further columns or ``fnmatch`` patterns never to use (the label column, id columns,
        format-specific leaks).
    """

    def __init__(self, exclude: tuple[str, ...] = ()):
        self.exclude = exclude

    def fit(self, X: pd.DataFrame, y=None):
        columns = []
        for column in X.columns:
            if (
                column in ARRAY_COLUMNS
                or is_non_feature(column)
                or is_non_feature(column, tuple(self.exclude))
            ):
                continue
            values = _numeric(X[column])
            if values is None:
                continue
            if np.isnan(values).all():
                # the star context is derived, not the user's: no stars with siblings, no news
                report = log.debug if column in CONTEXT_COLUMNS else log.warning
                report("feature column '%s' is empty in the training rows; dropped", column)
                continue
            columns.append(column)
        self.columns_ = columns
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "columns_")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ModelError(
                f"the data lacks {len(missing)} column(s) the model needs: {', '.join(missing)} "
                "(add them, or train a model on the columns this data has)"
            )
        if not self.columns_:
            return np.empty((len(X), 0))
        out = np.column_stack([_numeric(X[c], force=True) for c in self.columns_])
        return out.astype(float)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)


def _numeric(series: pd.Series, force: bool = False) -> np.ndarray | None:
    """Float values of a column, or None when it is text (unless ``force``)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    converted = pd.to_numeric(series, errors="coerce")
    if not force and converted.notna().sum() < series.notna().sum():
        return None  # text: names, dates, flags
    return converted.to_numpy(dtype=float, na_value=np.nan)


class FluxStatistics(TransformerMixin, BaseEstimator):
    """The original design's ten statistics of the ``flux`` column (see :func:`flux_statistics`)."""

    input_columns = ("flux",)

    def fit(self, X: pd.DataFrame, y=None):
        _require_columns(X, ["flux"])
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        _require_columns(X, ["flux"])
        return np.vstack([flux_statistics(f) for f in X["flux"]]) if len(X) else np.empty((0, 10))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(FLUX_STATISTICS, dtype=object)


#: Why a light curve's transit features are NaN or partial, as counted in the one warning.
_PROBLEMS = {
    "short": "fewer than {min_points} usable cadences (NaN)",
    "constant": "constant flux (NaN)",
    "baseline": "a baseline under 3 x {min_period:g} d (NaN)",
    "time": "time and flux of different lengths (NaN)",
    "centred": "flux centred on zero, without a positive level (relative depths NaN)",
    "epoch": "a catalogue epoch over 10,000 d from their times (searched instead)",
}


class TransitFeatures(TransformerMixin, BaseEstimator):
    """Transit-search features of the ``flux`` column: a BLS search, or a fold on the catalogue's
    period, plus the ten :data:`FLUX_STATISTICS` of the raw flux.

    Per light curve (:func:`exohunt.lightcurve.features.transit_features`): drop NaN cadences,
    sort and de-duplicate (:func:`exohunt.lightcurve.clean.clean`); divide by the median; divide
    by a sliding biweight trend; drop upward 3-sigma outliers; then either fold on the row's
    catalogue ``orbital_period`` (days), ``transit_epoch`` and ``transit_duration`` (hours), when
    all three are finite and the frame has ``time``, or run
    :func:`exohunt.lightcurve.bls.bls_search` over periods from ``min_period`` to a third of the
    baseline. Time comes from the ``time`` column (days, BKJD/BTJD); without it, cadences are
    assumed evenly spaced at Kepler long cadence (29.4 min). Feature names and units are in
    :data:`exohunt.lightcurve.features.TRANSIT_FEATURES`; ``bls_epoch`` is an absolute time, like
    the catalogue's ``transit_epoch``.

    Light curves that cannot be searched (fewer than ``min_points`` usable cadences, constant
    flux, a baseline under ``3 x min_period``) give NaN transit features; flux centred on zero
    (median not above twice its scatter, as in the Kaggle table) gives NaN relative depths. One
    warning per call counts them. Rows run in parallel over ``n_jobs`` processes (joblib loky; -1:
    all cores), ~25-35 light curves of 3,197 cadences per second per core; :meth:`set_progress`
    reports progress. The transform is deterministic and the object pickles (for the saved
    Pipeline) without the progress callback.

    Parameters
    ----------
    n_jobs : int
        Worker processes; -1 for one per core, 1 to run in this process.
    min_period : float
        Shortest trial period, days.
    n_periods : int
        Trial periods, uniform in frequency**(1/3) (see :func:`exohunt.lightcurve.bls.period_grid`).
    durations_hours : tuple of float
        Trial transit durations, hours (shorter than ``min_period``).
    window_days : float or None
        Biweight window, days; None: 3 x the longest trial duration (1 d by default), or 3 x the
        catalogue duration when longer.
    min_points : int
        Fewest usable cadences for a search.
    use_catalogue : bool
        Fold on catalogue period, epoch and duration where a row has them.
    """

    input_columns = ("flux", "time")

    def __init__(
        self,
        n_jobs: int = -1,
        min_period: float = DEFAULT_MIN_PERIOD,
        n_periods: int = DEFAULT_N_PERIODS,
        durations_hours: tuple[float, ...] = DEFAULT_DURATIONS_HOURS,
        window_days: float | None = None,
        min_points: int = 100,
        use_catalogue: bool = True,
    ):
        self.n_jobs = n_jobs
        self.min_period = min_period
        self.n_periods = n_periods
        self.durations_hours = durations_hours
        self.window_days = window_days
        self.min_points = min_points
        self.use_catalogue = use_catalogue

    def set_progress(self, progress) -> TransitFeatures:
        """Report ``progress("transit features", done, total)`` while transforming (rows done).

        Not a parameter: it is not cloned, compared or pickled with the model.
        """
        self._progress = progress
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_progress", None)
        return state

    def fit(self, X: pd.DataFrame, y=None):
        _require_columns(X, ["flux"])
        durations = np.asarray(self.durations_hours, dtype=float)
        if (
            durations.size == 0
            or not (durations > 0).all()
            or durations.max() / 24 >= self.min_period
        ):
            raise ModelError(
                f"durations_hours {tuple(self.durations_hours)} must be positive and shorter "
                f"than min_period {self.min_period:g} d (drop long durations)"
            )
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        _require_columns(X, ["flux"])
        n = len(X)
        if n == 0:
            return np.empty((0, len(TRANSIT_FEATURES) + len(FLUX_STATISTICS)))
        rows = list(zip(X["flux"], self._column(X, "time"), *self._catalogue(X), strict=True))
        settings = self._settings()
        progress = getattr(self, "_progress", None)
        n_workers = _n_workers(self.n_jobs, n)
        chunk = max(1, min(32, n // (4 * n_workers) or 1))
        chunks = [rows[i : i + chunk] for i in range(0, n, chunk)]
        if n_workers == 1:
            results = (transit_feature_rows(part, settings) for part in chunks)
        else:
            from joblib import delayed

            from exohunt.cores import process_pool

            parallel = process_pool(n_workers, return_as="generator")
            results = parallel(delayed(transit_feature_rows)(part, settings) for part in chunks)
        out, problems, done = [], {}, 0
        for part in results:
            for features, problem in part:
                out.append(features)
                if problem:
                    problems[problem] = problems.get(problem, 0) + 1
            done += len(part)
            if progress is not None:
                progress("transit features", done, n)
        if problems:
            reasons = ", ".join(
                f"{count} with {_PROBLEMS[key].format(**settings)}"
                for key, count in sorted(problems.items(), key=lambda kv: -kv[1])
            )
            log.warning(
                "transit features of %d of %d light curves are NaN or partial: %s",
                sum(problems.values()),
                n,
                reasons,
            )
        return np.vstack(out)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(TRANSIT_FEATURES + FLUX_STATISTICS, dtype=object)

    def _settings(self) -> dict:
        durations = tuple(float(d) for d in self.durations_hours)
        return {
            "min_period": float(self.min_period),
            "n_periods": int(self.n_periods),
            "durations_hours": durations,
            "window_days": (
                3.0 * max(durations) / 24.0 if self.window_days is None else self.window_days
            ),
            "min_points": int(self.min_points),
        }

    @staticmethod
    def _column(X: pd.DataFrame, name: str) -> list:
        return list(X[name]) if name in X.columns else [None] * len(X)

    def _catalogue(self, X: pd.DataFrame) -> list:
        columns = ("orbital_period", "transit_epoch", "transit_duration")
        if not self.use_catalogue or "time" not in X.columns:
            return [np.full(len(X), np.nan)] * 3
        return [
            _numeric(X[c], force=True) if c in X.columns else np.full(len(X), np.nan)
            for c in columns
        ]


def _n_workers(n_jobs: int, n_rows: int) -> int:
    """Processes to use: ``n_jobs`` (-1: every usable core), at least 4 rows each."""
    from exohunt.cores import n_workers

    return n_workers(n_jobs, n_rows // 4)


class ViewFeatures(TransformerMixin, BaseEstimator):
    """AstroNet views as flat columns: ``global_000..global_200`` then ``local_00..local_60``."""

    input_columns = ("global_view", "local_view")

    def fit(self, X: pd.DataFrame, y=None):
        _require_columns(X, ["global_view", "local_view"])
        self.global_bins_ = len(X["global_view"].iloc[0])
        self.local_bins_ = len(X["local_view"].iloc[0])
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "global_bins_")
        g, v = stack_views(X)
        if g.shape[1] != self.global_bins_ or v.shape[1] != self.local_bins_:
            raise ModelError(
                f"views have {g.shape[1]} global and {v.shape[1]} local bins; the model was "
                f"trained on {self.global_bins_} and {self.local_bins_} (rebuild the views)"
            )
        return np.hstack([g, v])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "global_bins_")
        names = [f"global_{i:03d}" for i in range(self.global_bins_)]
        names += [f"local_{i:02d}" for i in range(self.local_bins_)]
        return np.asarray(names, dtype=object)


class ViewShapeFeatures(TransformerMixin, BaseEstimator):
    """The shape measures of :mod:`exohunt.lightcurve.view_shape` (its ``FEATURES``), measured on
    the ``global_view`` and ``local_view`` columns."""

    input_columns = ("global_view", "local_view")

    def fit(self, X: pd.DataFrame, y=None):
        stack_views(X)  # checks the columns
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return view_shape(*stack_views(X))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return np.asarray(VIEW_SHAPE_FEATURES, dtype=object)


def stack_views(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The ``global_view`` and ``local_view`` columns of ``X`` as float arrays (rows, bins)."""
    _require_columns(X, ["global_view", "local_view"])
    return tuple(
        np.asarray(np.stack(list(X[c])), dtype=float) for c in ("global_view", "local_view")
    )


def _require_columns(X: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ModelError(
            f"the data lacks the column(s) the model needs: {', '.join(missing)} "
            "(give data with light curves or views, as the model was trained on)"
        )


def make_features(frame: pd.DataFrame, exclude: tuple[str, ...] = (), flux_features: bool = True):
    """The feature step for a training frame: catalogue columns and the physical ratios between
    them (:class:`~exohunt.physics.CatalogueRatios`), plus light-curve and view features when the
    frame has them (:class:`TransitFeatures` for a ``flux`` column, unless
    ``flux_features`` is off).

    Returns an unfitted :class:`~sklearn.pipeline.FeatureUnion`.
    """
    from sklearn.pipeline import FeatureUnion

    from exohunt.physics import CatalogueRatios

    parts = [("catalogue", CatalogueFeatures(exclude=tuple(exclude)))]
    if CatalogueRatios(exclude=tuple(exclude)).fit(frame).ratios_:
        parts.append(("ratios", CatalogueRatios(exclude=tuple(exclude))))
    if flux_features and "flux" in frame.columns:
        parts.append(("flux", TransitFeatures()))
    if "global_view" in frame.columns and "local_view" in frame.columns:
        parts.append(("view_shape", ViewShapeFeatures()))
        parts.append(("views", ViewFeatures()))  # last: the CNN reads the views from the end
    return FeatureUnion(parts, verbose_feature_names_out=False)
