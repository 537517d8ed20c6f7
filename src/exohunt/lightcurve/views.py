"""Fold and bin light curves into AstroNet views: pure functions on arrays.

Units as in :mod:`exohunt.lightcurve.clean`: times, periods, epochs and durations in days. A
view is the median relative flux in phase bins, normalised so its median is 0 and its minimum -1
(:func:`normalize_view`).
"""

from __future__ import annotations

import numpy as np

from exohunt.lightcurve.clean import _padded_rows, _row_median

#: AstroNet-Triage view conventions (Yu et al. 2019): bins, bin widths and the local window.
GLOBAL_BINS, GLOBAL_BIN_WIDTH_FACTOR = 201, 1.2 / 201  # bin width = factor x period
LOCAL_BINS, LOCAL_BIN_WIDTH_FACTOR, LOCAL_DURATIONS = 61, 0.16, 2.0  # width = factor x duration


def fold(time: np.ndarray, period: float, epoch: float) -> np.ndarray:
    """Time from the nearest mid-transit, in days, in ``[-period / 2, period / 2)``.

    ``epoch`` is a mid-transit time in the same system as ``time``. Raises ValueError unless
    ``period`` is a positive number.
    """
    if not (np.isfinite(period) and period > 0):
        raise ValueError(f"period must be a positive number of days, got {period}")
    t = np.asarray(time, dtype=float)
    half = 0.5 * period
    return np.mod(t - epoch + half, period) - half


def bin_median(
    x: np.ndarray,
    y: np.ndarray,
    bins: int,
    range: tuple[float, float],
    width: float | None = None,
) -> np.ndarray:
    """Median of ``y`` in ``bins`` equally spaced bins of ``x`` over ``range = (lo, hi)``.

    Bins are ``width`` wide (default ``(hi - lo) / bins``, i.e. contiguous); wider bins overlap,
    as in AstroNet: the first starts at ``lo``, the last ends at ``hi``. A bin holds ``lo_i <= x <
    lo_i + width``. Empty bins are NaN. Non-finite ``x``/``y`` pairs are ignored.
    """
    lo, hi = float(range[0]), float(range[1])
    if bins < 1 or not hi > lo:
        raise ValueError(f"need bins >= 1 and range (lo, hi) with hi > lo, got {bins}, {range}")
    width = (hi - lo) / bins if width is None else float(width)
    if not width > 0:
        raise ValueError(f"bin width must be positive, got {width}")
    xv, yv = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if xv.shape != yv.shape:
        raise ValueError(f"x has {xv.size} values but y has {yv.size}")
    ok = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[ok], yv[ok]
    order = np.argsort(xv, kind="stable")
    xv, yv = xv[order], yv[order]
    spacing = (hi - lo - width) / (bins - 1) if bins > 1 else 0.0
    starts = lo + spacing * np.arange(bins)
    left = np.searchsorted(xv, starts, side="left")
    right = np.searchsorted(xv, starts + width, side="left")
    return _row_median(_padded_rows(yv, left, right), right - left)


def global_view(
    time: np.ndarray,
    flux: np.ndarray,
    period: float,
    epoch: float,
    bins: int = GLOBAL_BINS,
) -> np.ndarray:
    """AstroNet global view: the whole orbit, phase-folded on ``epoch`` (transit at the centre).

    Median flux in ``bins`` overlapping bins 1.2 x period / 201 wide over ``[-P/2, P/2)`` (the
    TESS AstroNet-Triage convention), normalised by :func:`normalize_view`. ``flux`` should be
    detrended relative flux. Returns ``bins`` float values; all NaN when no cadence is usable.
    """
    phase = fold(time, period, epoch)
    width = GLOBAL_BIN_WIDTH_FACTOR * GLOBAL_BINS / bins * period
    view = bin_median(phase, flux, bins, (-0.5 * period, 0.5 * period), width)
    return normalize_view(view)


def local_view(
    time: np.ndarray,
    flux: np.ndarray,
    period: float,
    epoch: float,
    duration: float,
    bins: int = LOCAL_BINS,
    num_durations: float = LOCAL_DURATIONS,
) -> np.ndarray:
    """AstroNet local view: ``num_durations`` transit durations (days) either side of mid-transit.

    Median flux in ``bins`` overlapping bins 0.16 x duration wide over ``[-2 d, 2 d)`` (clipped
    to half a period; the TESS AstroNet-Triage convention: 61 bins, 4 durations in all),
    normalised by :func:`normalize_view`. Returns ``bins`` float values; all NaN when no cadence
    falls in the window. Raises ValueError unless ``duration`` is positive.
    """
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of days, got {duration}")
    phase = fold(time, period, epoch)
    half = min(0.5 * period, num_durations * duration)
    view = bin_median(phase, flux, bins, (-half, half), LOCAL_BIN_WIDTH_FACTOR * duration)
    return normalize_view(view)


def views(
    time: np.ndarray, flux: np.ndarray, period: float, epoch: float, duration: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(global_view, local_view)`` of one transit signal (period, epoch, duration in days)."""
    return (
        global_view(time, flux, period, epoch),
        local_view(time, flux, period, epoch, duration),
    )


def normalize_view(view: np.ndarray) -> np.ndarray:
    """Fill empty (NaN) bins by linear interpolation, then shift the median to 0 and scale so the
    minimum is -1 (AstroNet's normalisation). A view without a dip (minimum 0) is only shifted;
    a view without any finite bin stays all NaN."""
    v = np.asarray(view, dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return np.full(v.shape, np.nan)
    idx = np.arange(v.size)
    v = np.interp(idx, idx[ok], v[ok])
    v = v - np.median(v)
    depth = -v.min()
    return v / depth if depth > 0 else v
