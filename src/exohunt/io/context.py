"""Columns that place each candidate among the other candidates of its star in the same table.

A star's other transit signals say a lot about one of them: systems with several transiting
candidates are rarely false positives (Lissauer et al. 2012), and two signals at periods in a
whole-number ratio are often one eclipsing binary seen twice. A signal that another star in the
table shows with the same period and epoch is usually light leaking from one star onto the
other's pixels (ephemeris matching, Coughlin et al. 2014). All are computed from the table
itself (never from labels) when it is read: the context is the file given, so a model scores a
whole catalogue as it was trained, and a few rows on their own with less context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The columns :func:`add_star_context` adds.
CONTEXT_COLUMNS = ("candidates_on_star", "sibling_period_offset", "ephemeris_matches")
#: Two signals match when their periods differ by less than this fraction...
MATCH_PERIOD_TOLERANCE = 5e-4
#: ...and their transit times by less than this fraction of the period.
MATCH_PHASE_TOLERANCE = 0.02


def add_star_context(frame: pd.DataFrame, stars=None) -> pd.DataFrame:
    """``frame`` with the star-context columns added (those it lacks):

    ``candidates_on_star``
        How many rows (candidates, TCEs or planets) the row's star has in ``frame``.
    ``sibling_period_offset``
        For a star with several rows, the smallest distance from a whole number of the period
        ratio ``r >= 1`` with another of its rows, as ``|r - round(r)| / r``: near 0 for the same
        signal at P and 2P, or twice at P. NaN for a star's only row.
    ``ephemeris_matches``
        How many rows of *other* stars have the same period and transit time (within
        MATCH_PERIOD_TOLERANCE and MATCH_PHASE_TOLERANCE). NaN without transit epochs.

    ``stars``: the star of each row (None: every row is its own star). A frame without an
    ``orbital_period`` column (light curves only) is returned as it is.
    """
    if "orbital_period" not in frame.columns:
        return frame
    frame = frame.copy()
    if stars is None:
        stars = np.asarray([f"row-{i}" for i in range(len(frame))])
    stars = np.asarray(stars).astype(str)
    if "candidates_on_star" not in frame.columns:
        counts = pd.Series(stars).map(pd.Series(stars).value_counts())
        frame["candidates_on_star"] = counts.to_numpy(dtype=float)
    if "sibling_period_offset" not in frame.columns:
        frame["sibling_period_offset"] = _sibling_offsets(frame, stars)
    if "ephemeris_matches" not in frame.columns:
        frame["ephemeris_matches"] = _ephemeris_matches(frame, stars)
    return frame


def with_star_context(dataset):
    """``dataset`` with :func:`add_star_context` applied to its table, by its star ids.

    Light curves are left as they are: each row is a light curve (of a star, or of a window of
    one with an injected signal), not one candidate among its star's others, and ``exohunt scan``
    hands a model one signal at a time."""
    from dataclasses import replace

    if dataset.table is None or dataset.has_lightcurves:
        return dataset
    return replace(dataset, table=add_star_context(dataset.table, dataset.groups))


def _ephemeris_matches(frame: pd.DataFrame, stars: np.ndarray) -> np.ndarray:
    if "transit_epoch" not in frame.columns:
        return np.full(len(frame), np.nan)
    periods = pd.to_numeric(frame["orbital_period"], errors="coerce").to_numpy(dtype=float)
    epochs = pd.to_numeric(frame["transit_epoch"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(periods) & np.isfinite(epochs) & (periods > 0)
    order = np.flatnonzero(known)[np.argsort(periods[known])]
    sorted_periods = periods[order]
    out = np.full(len(frame), np.nan)
    for i in np.flatnonzero(known):
        p = periods[i]
        lo, hi = np.searchsorted(
            sorted_periods, [p * (1 - MATCH_PERIOD_TOLERANCE), p * (1 + MATCH_PERIOD_TOLERANCE)]
        )
        others = order[lo:hi]
        others = others[stars[others] != stars[i]]
        phase = np.abs(((epochs[others] - epochs[i]) / p + 0.5) % 1 - 0.5)
        out[i] = float(np.sum(phase < MATCH_PHASE_TOLERANCE))
    return out


def _sibling_offsets(frame: pd.DataFrame, stars: np.ndarray) -> np.ndarray:
    out = np.full(len(frame), np.nan)
    periods = pd.to_numeric(frame["orbital_period"], errors="coerce").to_numpy(dtype=float)
    for rows in pd.Series(np.arange(len(frame))).groupby(stars).groups.values():
        rows = np.asarray(rows)
        if len(rows) < 2:
            continue
        p = periods[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum.outer(p, p) / np.minimum.outer(p, p)
            offset = np.abs(ratio - np.round(ratio)) / ratio
        np.fill_diagonal(offset, np.nan)
        best = np.where(np.isnan(offset), np.inf, offset).min(axis=1)
        out[rows] = np.where(np.isfinite(best), best, np.nan)
    return out
