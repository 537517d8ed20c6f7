"""The features of one light curve: the original design's ten statistics, and the transit search.

:func:`transit_features` chains :mod:`exohunt.lightcurve.clean` (clean, normalise, detrend,
clip) with :mod:`exohunt.lightcurve.bls` (the period search) and the vetting statistics of the
signal found (:mod:`exohunt.lightcurve.vetting`). :class:`exohunt.features.TransitFeatures` runs
:func:`transit_feature_rows` in worker processes, which then import only NumPy. Units as in
:mod:`exohunt.lightcurve.clean`.
"""

from __future__ import annotations

import warnings

import numpy as np

from exohunt.lightcurve import bls
from exohunt.lightcurve.bls import DEFAULT_DURATIONS_HOURS, DEFAULT_MIN_PERIOD, DEFAULT_N_PERIODS
from exohunt.lightcurve.clean import (
    DEFAULT_WINDOW_DAYS,
    KEPLER_LONG_CADENCE_DAYS,
    biweight_trend,
    clean,
    clip_upper,
    robust_std,
)
from exohunt.lightcurve.vetting import (
    count_transits,
    odd_even_depths,
    secondary_eclipse,
    transit_shape,
)
from exohunt.lightcurve.view_shape import FEATURES as _VIEW_SHAPE
from exohunt.lightcurve.view_shape import view_shape
from exohunt.lightcurve.views import global_view, local_view

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
    with fewer than 3 finite points (and inf or NaN where absurd values overflow).
    """
    values = np.asarray(flux, dtype=float).ravel()
    values = values[np.isfinite(values)]
    out = np.full(len(FLUX_STATISTICS), np.nan)
    if values.size < 3:
        return out
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # |flux| ~ 1e300
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
        m2, m3, m4 = (np.mean(centred**k) for k in (2, 3, 4))
        constant = np.ptp(rel) == 0
        out[:] = (
            rel.mean(),
            rel.std(),
            np.median(rel),
            rel.min(),
            rel.max(),
            np.ptp(rel),
            0.0 if constant else m3 / m2**1.5,  # skewness (biased, as scipy.stats.skew)
            0.0 if constant else m4 / m2**2 - 3.0,  # excess kurtosis (as scipy.stats.kurtosis)
            dominant,
            power,
        )
    return out


#: Transit features of :func:`transit_features` (and :class:`exohunt.features.TransitFeatures`), in
#: order; the ten :data:`FLUX_STATISTICS` follow them.
TRANSIT_FEATURES = (
    "bls_period",  # days
    "bls_epoch",  # mid-transit time, in the units of the time column (an absolute time)
    "bls_duration_hours",
    "bls_depth",  # relative flux (fraction of the star's flux)
    "bls_depth_snr",
    "bls_sde",  # signal detection efficiency of the BLS spectrum; NaN when not searched
    "bls_searched",  # 1: found by the BLS search, 0: folded on the catalogue's values
    "n_transits",  # transits with at least one cadence
    "odd_even_depth_diff",  # relative flux, |odd - even|
    "odd_even_significance",  # sigma
    "secondary_depth",  # relative flux at phase 0.5, positive for a dip
    "secondary_snr",
    "transit_shape",  # outer-half over inner-half depth: ~1 flat (planet), ~1/3 V (grazing EB)
    # What a vetter reads off the curve folded on that signal: the shape measures of
    # :mod:`exohunt.lightcurve.view_shape` on its global and local views, ``view_`` read ``fold_``
    *(name.replace("view_", "fold_", 1) for name in _VIEW_SHAPE),
)

#: The first of :data:`TRANSIT_FEATURES` that are measured on the folded views.
_FOLD_START = len(TRANSIT_FEATURES) - len(_VIEW_SHAPE)

#: Features that need the flux's absolute level (relative flux); NaN for centred flux.
_RELATIVE = ("bls_depth", "odd_even_depth_diff", "secondary_depth")


def transit_feature_rows(rows: list, settings: dict) -> list:
    """:func:`transit_features` of each ``(flux, time, period, epoch, duration_hours)`` row with
    keyword ``settings``: one task of :class:`exohunt.features.TransitFeatures`' worker processes
    (this module imports only NumPy, so workers start fast)."""
    return [transit_features(*row, **settings) for row in rows]


def transit_features(
    flux,
    time=None,
    period: float = np.nan,
    epoch: float = np.nan,
    duration_hours: float = np.nan,
    *,
    min_period: float = DEFAULT_MIN_PERIOD,
    n_periods: int = DEFAULT_N_PERIODS,
    durations_hours: tuple[float, ...] = DEFAULT_DURATIONS_HOURS,
    window_days: float = DEFAULT_WINDOW_DAYS,
    min_points: int = 100,
) -> tuple[np.ndarray, str | None]:
    """:data:`TRANSIT_FEATURES` then :data:`FLUX_STATISTICS` of one light curve, and why some are
    NaN (a key of :data:`exohunt.features._PROBLEMS`) or None.

    ``time`` in days (None: evenly spaced at Kepler long cadence); catalogue ``period`` (days),
    ``epoch`` (days, same system as ``time``) and ``duration_hours``, when all finite and
    ``time`` is given, replace the search. Never raises for bad data: see
    :class:`exohunt.features.TransitFeatures`.
    """
    raw = np.asarray(flux, dtype=float).ravel()
    stats = flux_statistics(raw)
    catalogue = (period, epoch, duration_hours)
    if time is None or np.ndim(time) == 0:  # no time values (None or NaN)
        time = np.arange(raw.size) * KEPLER_LONG_CADENCE_DAYS
        catalogue = (np.nan, np.nan, np.nan)  # an epoch means nothing on made-up times
    time = np.asarray(time, dtype=float).ravel()
    settings = (min_period, n_periods, durations_hours, window_days, min_points)
    # Absurd values (|flux| ~ 1e300) overflow quietly; such features end up NaN, never inf.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out, problem = _transit_signal(time, raw, catalogue, *settings)
    out[~np.isfinite(out)] = np.nan
    return np.concatenate([out, stats]), problem


def _transit_signal(
    time, raw, catalogue, min_period, n_periods, durations_hours, window_days, min_points
) -> tuple[np.ndarray, str | None]:
    """The :data:`TRANSIT_FEATURES` part of :func:`transit_features`."""
    out = np.full(len(TRANSIT_FEATURES), np.nan)
    if time.shape != raw.shape:
        return out, "time"
    t, f = clean(time, raw)
    if t.size < min_points:
        return out, "short"
    if not np.ptp(f) > 0:
        return out, "constant"
    level, scatter = np.median(f), robust_std(f)
    relative = level > 2 * scatter  # else centred on zero: search on f - trend, unit-free
    problem = None if relative else "centred"

    period, epoch, duration_hours = catalogue
    known = bool(np.isfinite(catalogue).all()) and 0 < duration_hours / 24 < period
    if known and abs(epoch - np.median(t)) > 1e4:
        known, problem = False, "epoch"
    window = max(window_days, 3 * duration_hours / 24) if known else window_days
    if relative:
        f = f / level
        ok = np.isfinite(f)
        t, f = t[ok], f[ok]
        trend = biweight_trend(t, f, window)
        y = np.where(trend > 0, f / trend, np.nan)
    else:
        y = (f - biweight_trend(t, f, window)) / (scatter if scatter > 0 else np.ptp(f))
    keep = clip_upper(y)
    t, y = t[keep], y[keep]
    if t.size < min_points:
        return out, "short"

    if known:
        duration = duration_hours / 24.0
        box = bls.box_stats(t, y, period, epoch, duration)
        depth, depth_snr, sde, searched = box["depth"], box["depth_snr"], np.nan, 0.0
    else:
        try:
            periods = bls.period_grid(t, min_period, None, n_periods)
        except ValueError:
            return out, "baseline"
        durations = np.asarray(durations_hours, dtype=float) / 24.0
        result = bls.bls_search(t, y, periods, durations[durations < min_period])
        period, epoch, duration = result.period, result.epoch, result.duration
        depth, depth_snr, sde, searched = result.depth, result.depth_snr, result.sde, 1.0
    if not np.isfinite(epoch):  # no dip anywhere
        return out, problem
    out[:_FOLD_START] = (
        period,
        epoch,
        duration * 24.0,
        depth,
        depth_snr,
        sde,
        searched,
        count_transits(t, period, epoch, duration),
        *odd_even_depths(t, y, period, epoch, duration),
        *secondary_eclipse(t, y, period, epoch, duration),
        transit_shape(t, y, period, epoch, duration),
    )
    with warnings.catch_warnings():  # empty or flat views give NaN measures, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        glob, loc = global_view(t, y, period, epoch), local_view(t, y, period, epoch, duration)
        out[_FOLD_START:] = view_shape(glob[None, :], loc[None, :])[0]
    if not relative:
        out[[TRANSIT_FEATURES.index(name) for name in _RELATIVE]] = np.nan
    return out, problem
