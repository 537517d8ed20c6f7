"""Clean, normalise, detrend and clip light curves: pure functions on arrays.

Units, everywhere in :mod:`exohunt.lightcurve`: ``time`` in days, in the mission's BJD offset (BKJD
= BJD - 2454833 for Kepler/K2, BTJD = BJD - 2457000 for TESS); ``period``, ``epoch``,
``duration`` and ``window_days`` in days. Catalogue ``transit_duration`` is in **hours**: divide it
by 24 before calling. ``flux`` is in any units unless a function says relative flux (flux divided
by its median, around 1).

Every function returns new arrays and never modifies its inputs, so calls chain::

    time, flux = clean(time, flux)
    flux = detrend(time, normalize(flux))
    keep = clip_upper(flux)
    global_, local = views(time[keep], flux[keep], period, epoch, duration)

The views are in :mod:`exohunt.lightcurve.views`, the vetting statistics of a transit signal in
:mod:`exohunt.lightcurve.vetting`; the features of one light curve, which chain all of these with
:mod:`exohunt.lightcurve.bls`, are in :mod:`exohunt.lightcurve.features`.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Kepler/K2 long cadence (29.4244 min) in days: the assumed spacing of light curves given without
#: time values (e.g. the Kaggle K2 table).
KEPLER_LONG_CADENCE_DAYS = 29.4244 / 1440.0

#: Default biweight window (days): 3 x 8 h, the longest transit duration searched by
#: :mod:`exohunt.lightcurve.bls` by default, so the filter follows stellar variability but not transits.
DEFAULT_WINDOW_DAYS = 1.0

#: Tukey biweight tuning constant, in units of the median absolute deviation (as in wotan).
BIWEIGHT_C = 5.0

_MAD_TO_SIGMA = 1.4826


def clean(
    time: np.ndarray, flux: np.ndarray, quality: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Drop unusable cadences and put the rest in time order.

    Removes cadences whose time or flux is NaN or infinite, and those with a nonzero ``quality``
    flag when given; sorts by time; keeps the first of cadences with equal times. Returns new
    ``(time, flux)`` float arrays (possibly empty). Raises ValueError when the arrays differ in
    shape.
    """
    t = np.asarray(time, dtype=float).ravel()
    f = np.asarray(flux, dtype=float).ravel()
    if t.shape != f.shape:
        raise ValueError(
            f"time has {t.size} values but flux has {f.size}; give one time per flux value"
        )
    keep = np.isfinite(t) & np.isfinite(f)
    if quality is not None:
        q = np.asarray(quality).ravel()
        if q.shape != t.shape:
            raise ValueError(f"quality has {q.size} values but flux has {f.size}")
        keep &= q == 0
    t, f = t[keep], f[keep]
    order = np.argsort(t, kind="stable")
    t, f = t[order], f[order]
    first = np.ones(t.size, dtype=bool)
    first[1:] = t[1:] != t[:-1]
    return t[first], f[first]


def normalize(flux: np.ndarray) -> np.ndarray:
    """Relative flux: ``flux`` divided by its median (NaNs ignored), so it scatters around 1.

    Raises ValueError when the median is not a positive number (flux already centred on zero,
    or no finite values): such a curve has no level to divide by.
    """
    f = np.asarray(flux, dtype=float)
    finite = f[np.isfinite(f)]
    median = np.median(finite) if finite.size else np.nan
    if not median > 0:
        raise ValueError(
            f"cannot normalise flux with median {median:g}: relative flux needs a positive level "
            "(give flux in e-/s, not mean-subtracted flux)"
        )
    return f / median


def biweight_trend(
    time: np.ndarray,
    flux: np.ndarray,
    window_days: float = DEFAULT_WINDOW_DAYS,
    *,
    c: float = BIWEIGHT_C,
    iterations: int = 5,
    step_days: float | None = None,
) -> np.ndarray:
    """The robust trend of a light curve: a sliding Tukey biweight location in a centred window.

    At window centres every ``step_days`` (default ``window_days / 8``, on cadences), the
    location of the points within ``window_days / 2`` starts at their median and is refined
    ``iterations`` times with Tukey biweight weights ``(1 - u**2)**2``, ``u = (x - loc) / (c *
    MAD)`` (MAD about the median; ``c = 5`` as in wotan), which ignores transits and flares. The
    trend at every cadence is interpolated linearly between centres. Within ``window_days / 2`` of
    the ends (and of gaps) the window is one-sided, so a steep trend is followed with a lag. ``time`` must be sorted and
    finite (use :func:`clean`); returns an array like ``flux``. Raises ValueError otherwise.
    """
    t, f = _sorted_finite(time, flux)
    if not window_days > 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    if t.size == 0:
        return f.copy()
    step = window_days / 8.0 if step_days is None else float(step_days)
    if not step > 0:
        raise ValueError(f"step_days must be positive, got {step_days}")
    # Absurd values (|flux| ~ 1e300) overflow to inf/NaN quietly: the trend is NaN there.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        cell = np.floor((t - t[0]) / step)
        centre_idx = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        if centre_idx[-1] != t.size - 1:
            centre_idx = np.r_[centre_idx, t.size - 1]
        centres = t[centre_idx]
        lo = np.searchsorted(t, centres - window_days / 2, side="left")
        hi = np.searchsorted(t, centres + window_days / 2, side="right")
        x = _padded_rows(f, lo, hi)  # (centres, max points in a window), NaN-padded
        loc = _row_median(x, hi - lo)
        mad = _row_median(np.abs(x - loc[:, None]), hi - lo)
        valid = np.isfinite(x)
        x[~valid] = 0.0
        valid = valid.astype(float)
        spread = mad > 0  # else more than half the window equals the median: keep the median
        inv_scale2 = np.where(spread, 1.0 / np.where(spread, c * mad, 1.0) ** 2, 0.0)[:, None]
        for _ in range(iterations):
            d = x - loc[:, None]
            w = d * d
            w *= inv_scale2
            np.subtract(1.0, w, out=w)
            np.maximum(w, 0.0, out=w)  # zero weight beyond c x MAD
            w *= w
            w *= valid
            wsum = w.sum(axis=1)
            w *= d
            shift = w.sum(axis=1)
            loc = loc + np.divide(shift, wsum, out=np.zeros_like(shift), where=wsum > 0)
    return np.interp(t, centres, loc)


def detrend(
    time: np.ndarray, flux: np.ndarray, window_days: float = DEFAULT_WINDOW_DAYS
) -> np.ndarray:
    """``flux / trend``, the trend being :func:`biweight_trend` with ``window_days`` (days).

    Use it on relative flux (positive, around 1): the result scatters around 1 with transits as
    dips. For flux centred on zero, subtract :func:`biweight_trend` instead. ``time`` must be
    sorted and finite (use :func:`clean`); raises ValueError otherwise.
    """
    trend = biweight_trend(time, flux, window_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(flux, dtype=float) / trend


def robust_std(values: np.ndarray, axis: int | None = None):
    """Standard deviation estimated as 1.4826 x the median absolute deviation (NaNs ignored);
    NaN when there are no finite values. With ``axis``, one estimate per slice along it (an
    array; NaN for an all-NaN slice)."""
    v = np.asarray(values, dtype=float)
    if axis is not None:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the answer
            median = np.nanmedian(v, axis=axis, keepdims=True)
            return _MAD_TO_SIGMA * np.nanmedian(np.abs(v - median), axis=axis)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(_MAD_TO_SIGMA * np.median(np.abs(v - np.median(v))))


def clip_upper(flux: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Mask of cadences to keep after removing upward outliers (flares, cosmic rays).

    A cadence is dropped when it lies more than ``sigma`` robust standard deviations (1.4826 x
    MAD) above the median; downward points (transits, eclipses) are always kept, NaNs never. Use
    ``time[keep], flux[keep]``.
    """
    f = np.asarray(flux, dtype=float)
    finite = np.isfinite(f)
    if not finite.any():
        return finite
    median = np.median(f[finite])
    limit = median + sigma * robust_std(f[finite])
    return finite & (f <= limit)


def _sorted_finite(time, flux) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float).ravel()
    f = np.asarray(flux, dtype=float).ravel()
    if t.shape != f.shape:
        raise ValueError(f"time has {t.size} values but flux has {f.size}")
    if not (np.isfinite(t).all() and np.isfinite(f).all()):
        raise ValueError("time and flux must be finite (use exohunt.lightcurve.clean.clean first)")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise ValueError("time must be sorted (use exohunt.lightcurve.clean.clean first)")
    return t, f


def _padded_rows(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Rows ``values[lo[i]:hi[i]]`` stacked into a 2-D array, padded with NaN."""
    counts = hi - lo
    width = max(int(counts.max()) if counts.size else 0, 1)
    idx = lo[:, None] + np.arange(width)[None, :]
    inside = idx < hi[:, None]
    if values.size == 0:
        return np.full(idx.shape, np.nan)
    rows = values[np.minimum(idx, values.size - 1)]
    rows[~inside] = np.nan
    return rows


def _row_median(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[i]`` finite values of each NaN-padded row; NaN if none."""
    ordered = np.sort(rows, axis=1)  # NaN sorts last
    n = counts.astype(np.intp)
    r = np.arange(rows.shape[0])
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    med = 0.5 * (ordered[r, lo] + ordered[r, hi])
    return np.where(n > 0, med, np.nan)
