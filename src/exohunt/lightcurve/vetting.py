"""Vetting statistics of a transit signal: transits covered, odd-even depths, a secondary
eclipse, the transit's shape. Pure functions on arrays.

Units as in :mod:`exohunt.lightcurve.clean`: times, periods, epochs and durations in days; depths
in the units of ``flux``.
"""

from __future__ import annotations

import numpy as np

from exohunt.lightcurve.clean import robust_std
from exohunt.lightcurve.views import fold


def count_transits(time: np.ndarray, period: float, epoch: float, duration: float) -> int:
    """Number of transits (period, epoch, duration in days) with at least one cadence in them."""
    t = np.asarray(time, dtype=float)
    inside = np.abs(fold(t, period, epoch)) < 0.5 * duration
    return int(np.unique(np.rint((t[inside] - epoch) / period)).size)


def odd_even_depths(
    time: np.ndarray, flux: np.ndarray, period: float, epoch: float, duration: float
) -> tuple[float, float]:
    """``(|depth_odd - depth_even|, significance)`` of a transit signal (days).

    Depths are the out-of-transit median minus the mean in-transit flux of odd and of even
    transits (units of ``flux``); the significance is the difference over its uncertainty, in
    sigma, from the robust out-of-transit scatter. An eclipsing binary folded at twice its period
    shows unequal depths. NaN when odd or even transits (or out-of-transit cadences) have none.
    """
    t, f = np.asarray(time, dtype=float), np.asarray(flux, dtype=float)
    phase = fold(t, period, epoch)
    inside = np.abs(phase) < 0.5 * duration
    outside = _out_of_transit(phase, duration)
    if not outside.any():
        return np.nan, np.nan
    odd = np.rint((t - epoch) / period) % 2 == 1
    sigma = robust_std(f[outside])
    n_odd, n_even = int((inside & odd).sum()), int((inside & ~odd).sum())
    if n_odd == 0 or n_even == 0:
        return np.nan, np.nan
    diff = abs(f[inside & ~odd].mean() - f[inside & odd].mean())
    error = sigma * np.sqrt(1.0 / n_odd + 1.0 / n_even)
    return float(diff), float(diff / error) if error > 0 else np.nan


def secondary_eclipse(
    time: np.ndarray, flux: np.ndarray, period: float, epoch: float, duration: float
) -> tuple[float, float]:
    """``(depth, snr)`` of a dip half an orbit after the transit (period, epoch, duration in days).

    Depth is the out-of-transit median minus the mean flux within ``duration / 2`` of phase 0.5
    (units of ``flux``; positive for a dip, as an eclipsing binary's secondary eclipse); ``snr`` is
    depth over its uncertainty from the robust scatter. NaN when no cadence falls there, or when
    the transit lasts half the orbit or more (the two windows would overlap).
    """
    t, f = np.asarray(time, dtype=float), np.asarray(flux, dtype=float)
    phase = fold(t, period, epoch)
    outside = _out_of_transit(phase, duration)
    second = np.abs(fold(t, period, epoch + 0.5 * period)) < 0.5 * duration
    n = int(second.sum())
    if n == 0 or not outside.any() or duration >= 0.5 * period:
        return np.nan, np.nan
    base, sigma = np.median(f[outside]), robust_std(f[outside])
    depth = float(base - f[second].mean())
    return depth, depth / (sigma / np.sqrt(n)) if sigma > 0 else np.nan


def transit_shape(
    time: np.ndarray, flux: np.ndarray, period: float, epoch: float, duration: float
) -> float:
    """How flat the bottom of the transit is: the mean depth in the outer half of the transit
    (``duration / 4`` to ``duration / 2`` from mid-transit) over the mean depth in the inner half.

    About 1 for a planet's flat-bottomed (U) transit, about 1/3 for the V of a grazing eclipsing
    binary. NaN when either half has no cadence or the inner depth is not positive.
    """
    t, f = np.asarray(time, dtype=float), np.asarray(flux, dtype=float)
    offset = np.abs(fold(t, period, epoch))
    outside = _out_of_transit(offset, duration)
    inner = offset < 0.25 * duration
    outer = (offset >= 0.25 * duration) & (offset < 0.5 * duration)
    if not inner.any() or not outer.any() or not outside.any():
        return np.nan
    base = np.median(f[outside])
    depth_inner = base - f[inner].mean()
    if not depth_inner > 0:
        return np.nan
    return float((base - f[outer].mean()) / depth_inner)


def _out_of_transit(phase: np.ndarray, duration: float) -> np.ndarray:
    """Cadences at least a duration from mid-transit (clear of ingress and egress), or, for a
    transit too long for that, every cadence outside it."""
    clear = np.abs(phase) >= duration
    return clear if clear.any() else np.abs(phase) >= 0.5 * duration
