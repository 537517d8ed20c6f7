"""Catalogue quantities that transit physics says should agree, as features.

A planet's transit duration follows from its period and its star's density; its depth from its
radius and its star's radius. An eclipsing binary or a blend breaks those relations, and a
poorly measured signal has large relative errors. :class:`CatalogueRatios` computes these
ratios from the catalogue columns a table has (KOI, TCE or TOI names).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from exohunt.non_features import is_non_feature

#: Each quantity's column, by the names the archive tables use (the first present is read).
COLUMNS = {
    "period": ("orbital_period",),  # days
    "duration": ("transit_duration",),  # hours
    "depth": ("transit_depth",),  # ppm
    "planet_radius": ("planet_radius",),  # Earth radii
    "logg": ("koi_slogg", "st_logg", "tce_slogg"),  # log10(cm s^-2)
    "star_radius": ("koi_srad", "st_rad", "tce_sradius"),  # solar radii
    "impact": ("koi_impact", "tce_impact"),
    "period_err": ("koi_period_err1", "pl_orbpererr1", "tce_period_err"),
    "duration_err": ("koi_duration_err1", "pl_trandurherr1", "tce_duration_err"),
    "depth_err": ("koi_depth_err1", "pl_trandeperr1", "tce_depth_err"),
}

_LOGG_SUN = 4.438
_EARTH_RADII_PER_SUN = 109.1


def _expected_duration_hours(q: dict) -> np.ndarray:
    """Central-transit duration of a circular orbit: 13 h (P / 1 yr)^(1/3) (rho / rho_sun)^(-1/3),
    with the star's density from its surface gravity and radius."""
    density = 10 ** (q["logg"] - _LOGG_SUN) / q["star_radius"]
    return 13.0 * (q["period"] / 365.25) ** (1 / 3) * density ** (-1 / 3)


#: name: (the quantities it needs, how it is computed)
RATIOS = {
    "duration_over_expected": (
        ("duration", "period", "logg", "star_radius"),
        lambda q: q["duration"] / _expected_duration_hours(q),
    ),
    "duration_over_expected_at_impact": (
        ("duration", "period", "logg", "star_radius", "impact"),
        lambda q: (
            q["duration"]
            / (_expected_duration_hours(q) * np.sqrt(1 - np.clip(q["impact"], 0, 0.99) ** 2))
        ),
    ),
    "depth_over_radius_ratio_squared": (
        ("depth", "planet_radius", "star_radius"),
        lambda q: (
            q["depth"]
            / (1e6 * (q["planet_radius"] / (q["star_radius"] * _EARTH_RADII_PER_SUN)) ** 2)
        ),
    ),
    "depth_snr": (("depth", "depth_err"), lambda q: q["depth"] / np.abs(q["depth_err"])),
    "log_period_relative_error": (
        ("period", "period_err"),
        lambda q: np.log10(np.abs(q["period_err"]) / q["period"]),
    ),
    "duration_relative_error": (
        ("duration", "duration_err"),
        lambda q: np.abs(q["duration_err"]) / q["duration"],
    ),
}


class CatalogueRatios(TransformerMixin, BaseEstimator):
    """The :data:`RATIOS` whose catalogue columns the training frame has.

    At fit, keeps each ratio whose quantities all have a column (see :data:`COLUMNS`) that is not
    excluded; transform computes them, with NaN where a value is missing, zero or infinite (the
    imputer fills those).

    Parameters
    ----------
    exclude : tuple of str
        Columns or ``fnmatch`` patterns never to read (the format's leaking columns).
    """

    def __init__(self, exclude: tuple[str, ...] = ()):
        self.exclude = exclude

    def fit(self, X: pd.DataFrame, y=None):
        usable = [c for c in X.columns if not is_non_feature(str(c), tuple(self.exclude))]
        found = {q: next((c for c in names if c in usable), None) for q, names in COLUMNS.items()}
        self.quantity_columns_ = {q: c for q, c in found.items() if c is not None}
        self.ratios_ = [
            n for n, (needs, _) in RATIOS.items() if set(needs) <= set(self.quantity_columns_)
        ]
        self.n_features_in_ = len(X.columns)
        return self

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The catalogue columns read (for the servable model's signature)."""
        used = {q for n in getattr(self, "ratios_", []) for q in RATIOS[n][0]}
        return tuple(c for q, c in getattr(self, "quantity_columns_", {}).items() if q in used)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "ratios_")
        if not self.ratios_:
            return np.empty((len(X), 0))
        q = {
            name: pd.to_numeric(X[column], errors="coerce").to_numpy(dtype=float)
            if column in X.columns
            else np.full(len(X), np.nan)
            for name, column in self.quantity_columns_.items()
        }
        with np.errstate(all="ignore"):
            out = np.column_stack([RATIOS[n][1](q) for n in self.ratios_]).astype(float)
        out[~np.isfinite(out)] = np.nan
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "ratios_")
        return np.asarray(self.ratios_, dtype=object)
