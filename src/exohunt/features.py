"""scikit-learn transformers that turn model-input frames into feature columns.

The input of every saved model is the frame of :meth:`exohunt.dataset.Dataset.to_frame`:
catalogue columns plus object columns holding arrays (``flux``, ``time``, ``global_view``,
``local_view``). :func:`make_features` picks the transformers that apply to a training frame and
joins them in one :class:`~sklearn.pipeline.FeatureUnion`, the first step of the saved Pipeline.
"""

from __future__ import annotations

import fnmatch
import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from exohunt.dataset import ARRAY_COLUMNS
from exohunt.errors import ModelError

log = logging.getLogger(__name__)

#: Columns that must never become features: they reveal the answer (dispositions, vetting scores
#: and flags, names given only to confirmed planets, publication dates of confirmed planets' masses)
#: or identify rows and stars, or are absolute times that carry no physics.
NON_FEATURE_COLUMNS = (
    # labels and label-derived values
    "label",
    "disposition",
    "koi_disposition",
    "koi_pdisposition",
    "koi_score",
    "koi_fpflag_*",
    "tfopwg_disp",
    "av_training_set",
    "av_pred_class",
    "disp_*",
    "soltype",
    # names and ids
    "kepid",
    "kepoi_name",
    "kepler_name",
    "kic",
    "koi_tce_plnt_num",
    "koi_tce_delivname",
    "tce_plnt_num",
    "rowid",
    "row_id",
    "toi",
    "toi_id",
    "tid",
    "tic_id",
    "star_id",
    "id",
    "name",
    "pl_name",
    "hostname",
    "target",
    "source_shard",
    "default_flag",
    # only confirmed planets get masses, discovery records and publication dates
    "pl_bmass*",
    "pl_masse*",
    "pl_massj*",
    "disc*",
    "*pubdate",
    "releasedate",
    "rowupdate",
    "toi_created",
    "sy_pnum",
    "*refname",
    # absolute times of transit: an epoch, not a property of the system
    "transit_epoch",
    "transit_epoch_*",
    "*time0*",
    "pl_tranmid*",
)


#: Further non-features of one format. The K2 planets-and-candidates table compiles published
#: parameters: confirmed planets carry refined values with uncertainties and limit flags that
#: candidates and false positives lack, so those columns reveal the disposition (a Random Forest
#: reaches average precision 0.998 on them alone).
NON_FEATURE_COLUMNS_BY_FORMAT = {
    "k2": (
        *("*err", "*err1", "*err2", "*errlim", "*lim", "pl_radj", "pl_controv_flag"),
        *("ttv_flag", "pl_orbeccen", "pl_orbsmax", "pl_insol", "pl_eqt"),  # derived on confirmation
    ),
}


def is_non_feature(column: str, patterns: tuple[str, ...] = NON_FEATURE_COLUMNS) -> bool:
    """True if ``column`` matches one of ``patterns`` (default: the columns never used as
    features), case-insensitively."""
    name = column.lower()
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in patterns)


class CatalogueFeatures(TransformerMixin, BaseEstimator):
    """Select the numeric catalogue columns that may be features.

    At fit, keeps every numeric (or numeric-looking) column except the array columns, the
    ``exclude`` list (the dataset's id and label columns) and :data:`NON_FEATURE_COLUMNS`. Columns
    that are entirely NaN in the training rows are dropped with a warning.

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
                log.warning("feature column '%s' is empty in the training rows; dropped", column)
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


#: The original design's ten light-curve statistics, in order.
FLUX_STATISTICS = (
    "flux_mean",
    "flux_std",
    "flux_median",
    "flux_min",
    "flux_max",
    "flux_range",
    "flux_skew",
    "flux_kurtosis",
    "flux_dominant_frequency",
    "flux_dominant_power",
)


def flux_statistics(flux: np.ndarray) -> np.ndarray:
    """The ten global statistics of one light curve.

    Flux is first divided by its median and 1 subtracted, so values are relative (parts of one)
    and comparable between stars. ``flux_dominant_frequency`` is in cycles per cadence and
    ``flux_dominant_power`` is the normalised periodogram power at it. Returns NaNs for a curve
    with fewer than 3 finite points.
    """
    from scipy import stats

    values = np.asarray(flux, dtype=float)
    values = values[np.isfinite(values)]
    out = np.full(len(FLUX_STATISTICS), np.nan)
    if values.size < 3:
        return out
    median = np.median(values)
    rel = values / median - 1.0 if median != 0 else values - median
    centred = rel - rel.mean()
    spectrum = np.abs(np.fft.rfft(centred)) ** 2
    freqs = np.fft.rfftfreq(centred.size)
    if spectrum.size > 1 and spectrum[1:].sum() > 0:
        peak = 1 + int(np.argmax(spectrum[1:]))
        dominant, power = freqs[peak], spectrum[peak] / spectrum[1:].sum()
    else:
        dominant, power = np.nan, np.nan
    constant = np.ptp(rel) == 0
    out[:] = (
        rel.mean(),
        rel.std(),
        np.median(rel),
        rel.min(),
        rel.max(),
        np.ptp(rel),
        0.0 if constant else stats.skew(rel),
        0.0 if constant else stats.kurtosis(rel),
        dominant,
        power,
    )
    return out


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
        _require_columns(X, ["global_view", "local_view"])
        g = np.asarray(np.stack(list(X["global_view"])), dtype=float)
        v = np.asarray(np.stack(list(X["local_view"])), dtype=float)
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


def _require_columns(X: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ModelError(
            f"the data lacks the column(s) the model needs: {', '.join(missing)} "
            "(give data with light curves or views, as the model was trained on)"
        )


def make_features(frame: pd.DataFrame, exclude: tuple[str, ...] = (), flux_features: bool = True):
    """The feature step for a training frame: catalogue columns, plus light-curve and view
    features when the frame has them.

    Returns an unfitted :class:`~sklearn.pipeline.FeatureUnion`.
    """
    from sklearn.pipeline import FeatureUnion

    parts = [("catalogue", CatalogueFeatures(exclude=tuple(exclude)))]
    if flux_features and "flux" in frame.columns:
        parts.append(("flux", FluxStatistics()))
    if "global_view" in frame.columns and "local_view" in frame.columns:
        parts.append(("views", ViewFeatures()))
    return FeatureUnion(parts, verbose_feature_names_out=False)
