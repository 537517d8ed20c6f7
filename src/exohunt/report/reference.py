"""What each class looked like in the training data, saved with the model so that a report can
set any row's values against it.

:func:`class_distributions` histograms every scalar feature, planets and non-planets apart, on
common bins (logarithmic for positive features spanning over two decades). The result is plain
JSON, a few tens of kilobytes, kept in ``model_metadata.json`` under ``"reference"``.
"""

from __future__ import annotations

import numpy as np

#: Bins per feature.
BINS = 30
#: Features histogrammed, at most (the views' bins are never: they are not features one reads).
MAX_FEATURES = 200
VIEW_PREFIXES = ("global_view", "local_view", "flux_")


def is_view_bin(name: str) -> bool:
    """Whether a feature is one bin of a view or a light curve rather than a named quantity."""
    base = str(name).split("__")[-1]
    return base.startswith(VIEW_PREFIXES) and base.rstrip("0123456789") != base


def class_distributions(X: np.ndarray, y: np.ndarray, feature_names: list[str]) -> dict:
    """``{feature: {"edges": [...], "log": bool, "planet": counts, "not_planet": counts}}`` of
    the unscaled feature matrix ``X`` (rows by features) of labelled rows ``y`` (1 = planet).
    Edges span the 0.5th to 99.5th percentile of both classes together (log10 edges when
    ``log``); values outside fall in the end bins."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    out: dict[str, dict] = {}
    for j, name in enumerate(feature_names):
        if len(out) >= MAX_FEATURES or is_view_bin(name):
            continue
        column = X[:, j]
        ok = np.isfinite(column)
        if ok.sum() < 10:
            continue
        lo, hi = np.percentile(column[ok], [0.5, 99.5])
        log = bool(lo > 0 and hi / lo > 100)
        values = np.log10(np.clip(column[ok], lo, None)) if log else column[ok]
        lo, hi = (np.log10(lo), np.log10(hi)) if log else (lo, hi)
        if not hi > lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, BINS + 1)
        index = np.clip(np.digitize(values, edges) - 1, 0, BINS - 1)
        labels = y[ok]
        out[str(name)] = {
            "edges": [round(float(e), 6) for e in edges],
            "log": log,
            "planet": np.bincount(index[labels == 1], minlength=BINS).tolist(),
            "not_planet": np.bincount(index[labels == 0], minlength=BINS).tolist(),
        }
    return out
