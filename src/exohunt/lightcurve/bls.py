"""Box Least Squares (BLS) transit search: astropy as the reference, a batched NumPy search as the
fast path, with the same signature and the same objective, tested equal.

Both maximise astropy's ``"likelihood"`` objective: for a box of in-transit points with mean
``y_in`` and out-of-transit mean ``y_out`` (``y_out > y_in``: dips only), the log-likelihood gain
``0.5 * n_in * (y_out - y_in)**2 / sigma**2``. ``sigma`` is one noise level for the whole curve,
1.4826 x the median absolute deviation of the flux, so ``depth_snr = depth / (sigma * sqrt(1/n_in
+ 1/n_out))`` is a real signal-to-noise ratio.

Units: ``time``, ``periods``, ``durations``, ``epoch`` in days (the mission's BJD offset); depth in
the units of ``flux`` (relative flux in, relative depth out).

The fast search (:func:`bls_search`):

1. sums the flux in time cells of ``min(durations) / oversample`` (20 min for the default 1 h
   shortest duration) and takes running (cumulative) sums;
2. folds at up to 512 similar trial periods at once: cycle ``m`` of period ``P`` starts at cell
   ``floor(m P / cell)``, so the folded running sums of a chunk are sums of whole rows of the
   running sums (gathered from a strided view in single precision; no per-cadence work per
   period). Phases are quantised to about one cell, like phase bins of one cell;
3. takes, for every duration, the box with the lowest flux sum (boxes start every third of the
   duration; the folded sums are unrolled past the orbit's end so boxes wrap) and scores it
   with the likelihood, counting in it its share of the cadences (``W x duration / P``). That
   share is exact for evenly spread cadences; it spares folding the counts, halving the work;
4. recomputes the best grid period and its neighbours exactly, from the unbinned cadences and
   their true counts (every box start at a cadence, for the best duration and its neighbours),
   and again at the next strongest while a binned power still beats every exact one (gaps make
   the even-spread counts wrong, most often at twice the period: up to 10 peaks), which picks
   the reported period, the spectrum's maximum, and fixes its epoch, duration, depth and
   ``depth_snr``.

Its cost grows with the number of periods times ``baseline / cell``, not with the number of
cadences, so 2-minute TESS curves cost no more than Kepler long cadence over the same baseline.
On 3,197 Kepler long cadences with 5,000 periods and 7 durations it takes ~30-45 ms of CPU per
curve, astropy ~0.4-0.6 s (``bench/bls_speed.py``). The two spectra correlate at 0.9-0.99 and
peak on the same trial period (``tests/lightcurve/test_bls.py``); on injected transits at SNR 7.5 the fast
search recovers as many as with exactly folded counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The astropy objective both searches maximise.
OBJECTIVE = "likelihood"

#: Default trial transit durations (hours): 1 to 8 h, steps of at most 1.5x. Long enough for
#: planets out to ~baseline/3 around Sun-like stars; the default detrending window is 3 x 8 h.
DEFAULT_DURATIONS_HOURS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)

#: Default shortest trial period (days) and number of trial periods.
DEFAULT_MIN_PERIOD = 0.5
DEFAULT_N_PERIODS = 5000

#: Time cells per shortest duration in the fast search (phase resolution ~ 1 h / 3 = 20 min).
OVERSAMPLE = 3

#: Binned peaks recomputed exactly at most, strongest first, until the strongest is exact.
_MAX_EXACT_PEAKS = 10

#: Periods, and folded cells per cycle, per chunk of the fast search (tuned on 2 cores with 1 MiB
#: L2 caches: bigger chunks spend less time in Python, smaller ones stay in cache).
_CHUNK_PERIODS = 512
_CHUNK_CELLS = 1 << 17


@dataclass(frozen=True, eq=False)
class BLSResult:
    """The outcome of a BLS search.

    Attributes
    ----------
    periods, power : ndarray
        The trial periods (days) and the objective (log-likelihood gain) at each.
    period : float
        The best period (days), one of ``periods``.
    epoch : float
        Mid-transit time of the first transit at or after the first cadence (days, in the units of
        ``time``).
    duration : float
        Best box duration (days), one of the trial durations.
    depth : float
        Out-of-transit minus in-transit mean flux (units of ``flux``; positive for a dip).
    depth_snr : float
        ``depth`` over its uncertainty from the robust noise level.
    """

    periods: np.ndarray
    power: np.ndarray
    period: float
    epoch: float
    duration: float
    depth: float
    depth_snr: float

    @property
    def sde(self) -> float:
        """Signal detection efficiency of the spectrum: ``(max - mean) / std`` of ``power``."""
        power = self.power[np.isfinite(self.power)]
        if power.size < 2 or not power.std() > 0:
            return float("nan")
        return float((power.max() - power.mean()) / power.std())


def default_durations() -> np.ndarray:
    """:data:`DEFAULT_DURATIONS_HOURS` in days."""
    return np.asarray(DEFAULT_DURATIONS_HOURS) / 24.0


def period_grid(
    time: np.ndarray,
    min_period: float = DEFAULT_MIN_PERIOD,
    max_period: float | None = None,
    n_periods: int = DEFAULT_N_PERIODS,
) -> np.ndarray:
    """Trial periods (days, ascending), uniform in frequency**(1/3) from ``min_period`` to
    ``max_period`` (Ofir 2014).

    ``max_period`` defaults to a third of the baseline of ``time`` (so at least three transits
    can fall in the data). A transit's duration grows as period**(1/3), so this spacing keeps the
    drift of a transit across the baseline a similar fraction of its duration at every period:
    steps grow from ~0.04% of the period at 0.5 d to ~0.15% at 22 d for 5,000 periods (a drift of
    40 min to 2.4 h over a 65 d Kepler/K2 campaign). Raises ValueError when the range is empty (a
    baseline shorter than ``3 x min_period``).
    """
    t = np.asarray(time, dtype=float)
    t = t[np.isfinite(t)]
    baseline = float(np.ptp(t)) if t.size else 0.0
    if max_period is None:
        max_period = baseline / 3.0
    if not (min_period > 0 and max_period > min_period):
        raise ValueError(
            f"no trial periods between {min_period:g} and {max_period:g} d (baseline "
            f"{baseline:g} d): give a longer light curve or a smaller min_period"
        )
    if n_periods < 2:
        raise ValueError(f"n_periods must be at least 2, got {n_periods}")
    cube_root_frequency = np.linspace(max_period ** (-1 / 3), min_period ** (-1 / 3), n_periods)
    periods = cube_root_frequency**-3.0
    periods[0], periods[-1] = max_period, min_period  # exact ends
    return periods[::-1].copy()


def bls_reference(
    time: np.ndarray, flux: np.ndarray, periods: np.ndarray, durations: np.ndarray
) -> BLSResult:
    """BLS with :class:`astropy.timeseries.BoxLeastSquares` (the slow, trusted reference).

    Objective ``"likelihood"`` with uncertainties equal to the robust noise level; periods and
    durations in days. Raises ValueError on unusable input (see :func:`bls_search`).
    """
    from astropy.timeseries import BoxLeastSquares

    t, y, periods, durations = _validate(time, flux, periods, durations)
    sigma = _noise(y)
    result = BoxLeastSquares(t, y, np.full_like(y, sigma)).power(
        periods, durations, objective=OBJECTIVE
    )
    power = np.asarray(result.power, dtype=float)
    i = int(np.argmax(power))
    return BLSResult(
        periods=periods,
        power=power,
        period=float(result.period[i]),
        epoch=float(result.transit_time[i]),
        duration=float(result.duration[i]),
        depth=float(result.depth[i]),
        depth_snr=float(result.depth_snr[i]),
    )


def bls_search(
    time: np.ndarray,
    flux: np.ndarray,
    periods: np.ndarray,
    durations: np.ndarray,
    *,
    oversample: int = OVERSAMPLE,
    refine: int = 1,
    max_durations: np.ndarray | None = None,
) -> BLSResult:
    """Fast BLS (see the module docstring): same inputs, objective and result as
    :func:`bls_reference`.

    ``max_durations`` (days, one per period) limits the durations tried at each period to the
    physically possible (:func:`exohunt.lightcurve.search.max_duration`); then durations may be
    longer than the shortest period, but each limit must be shorter than its period.

    ``oversample`` sets the time cell (``min(durations) / oversample``); the best grid period
    and its ``refine`` neighbours on each side are recomputed exactly (for the best duration of
    the binned search and its neighbours in ``durations``), and their ``power`` replaced by the
    exact values. Raises ValueError when time or flux are not finite 1-D arrays of equal
    length with at least 3 points, or a duration is not shorter than the shortest period.
    """
    t, y, periods, durations = _validate(time, flux, periods, durations, max_durations)
    if oversample < 1:
        raise ValueError(f"oversample must be at least 1, got {oversample}")
    sigma = _noise(y)
    y = y - y.mean()
    order = np.argsort(periods, kind="stable")
    sorted_periods = periods[order]
    limits = None if max_durations is None else np.asarray(max_durations, dtype=float)[order]
    power_sorted, best_duration = _binned_power(t, y, sorted_periods, durations, oversample, limits)
    power_sorted /= sigma**2

    # The binned power of a period is approximate (cadence counts assumed even; gaps make them
    # uneven): recompute the strongest exactly until the strongest is exact, so the reported
    # period is the spectrum's exact maximum (a binned overestimate at twice the period must not
    # stand for the planet's own period).
    exact: dict[int, tuple] = {}
    for _ in range(_MAX_EXACT_PEAKS):
        best = int(np.nanargmax(power_sorted)) if np.isfinite(power_sorted).any() else 0
        if best in exact:
            break
        lo, hi = max(0, best - refine), min(len(sorted_periods), best + refine + 1)
        # Exact boxes of the binned best duration and its neighbours in the (sorted) grid.
        d = best_duration[best]
        nearby = durations[max(0, d - 1) : d + 2]
        if limits is not None:
            fits = nearby <= limits[best]
            nearby = nearby[fits] if fits.any() else nearby[:1]
        for i in range(lo, hi):
            if i not in exact:
                exact[i] = _exact_box(t, y, sorted_periods[i], nearby, sigma)
                power_sorted[i] = exact[i][0]
    top = max(exact, key=lambda i: exact[i][0])
    power = np.empty_like(power_sorted)
    power[order] = power_sorted
    _, epoch, duration, depth, depth_snr = exact[top]
    return BLSResult(
        periods=periods,
        power=power,
        period=float(sorted_periods[top]),
        epoch=epoch,
        duration=duration,
        depth=depth,
        depth_snr=depth_snr,
    )


def box_stats(
    time: np.ndarray, flux: np.ndarray, period: float, epoch: float, duration: float
) -> dict[str, float]:
    """Depth (units of ``flux``), ``depth_snr`` and ``power`` of one given box: period, epoch
    (mid-transit) and duration in days. NaN when no cadence is in (or out of) transit."""
    t = np.asarray(time, dtype=float)
    y = np.asarray(flux, dtype=float)
    sigma = _noise(y)
    phase = np.abs(np.mod(t - epoch + 0.5 * period, period) - 0.5 * period)
    inside = phase < 0.5 * duration
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    if n_in == 0 or n_out == 0:
        return {"depth": np.nan, "depth_snr": np.nan, "power": np.nan}
    depth = float(y[~inside].mean() - y[inside].mean())
    return {
        "depth": depth,
        "depth_snr": depth / (sigma * np.sqrt(1.0 / n_in + 1.0 / n_out)),
        "power": 0.5 * n_in * depth**2 / sigma**2,
    }


def _validate(time, flux, periods, durations, max_durations=None):
    t = np.asarray(time, dtype=float)
    y = np.asarray(flux, dtype=float)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(
            f"time and flux must be 1-D arrays of equal length, got shapes {t.shape} and {y.shape}"
        )
    if t.size < 3:
        raise ValueError(f"BLS needs at least 3 cadences, got {t.size}")
    if not (np.isfinite(t).all() and np.isfinite(y).all()):
        raise ValueError(
            "time and flux must be finite: drop NaN cadences first (exohunt.lightcurve.clean.clean)"
        )
    periods = np.atleast_1d(np.asarray(periods, dtype=float))
    durations = np.sort(np.atleast_1d(np.asarray(durations, dtype=float)))
    if periods.size == 0 or not (np.isfinite(periods).all() and (periods > 0).all()):
        raise ValueError("periods must be positive numbers of days (see period_grid)")
    if durations.size == 0 or not (np.isfinite(durations).all() and (durations > 0).all()):
        raise ValueError("durations must be positive numbers of days (hours / 24)")
    if max_durations is not None:
        limits = np.asarray(max_durations, dtype=float)
        if limits.shape != periods.shape or not (limits < periods).all():
            raise ValueError("max_durations must give one duration shorter than each period")
        if not (durations.min() <= limits).all():
            raise ValueError("every period must allow the shortest trial duration")
    elif durations.max() >= periods.min():
        raise ValueError(
            f"the longest duration ({durations.max():g} d) must be shorter than the shortest "
            f"period ({periods.min():g} d): raise min_period or drop long durations"
        )
    return t, y, periods, durations


def _noise(y: np.ndarray) -> float:
    """Robust per-cadence noise (1.4826 x MAD), falling back to the std, then to 1."""
    sigma = 1.4826 * float(np.median(np.abs(y - np.median(y))))
    if not sigma > 0:
        sigma = float(np.std(y))
    return sigma if sigma > 0 else 1.0


def _binned_power(
    t, y, periods, durations, oversample, limits=None
) -> tuple[np.ndarray, np.ndarray]:
    """``sigma^2`` x the likelihood objective at each (ascending) period, from time cells of
    ``min(durations) / oversample`` days, and the index of the best duration at each.

    ``y`` must have zero mean. A box of ``w`` cells holding flux sum ``s`` is scored as holding
    its share ``n = W w / P`` of the ``W`` cadences (``P`` in cells): ``0.5 W^2 s^2 / (n (W -
    n)^2)`` when ``s < 0``. So each period's best box of each width is the one with the lowest
    flux sum, and no cadence counts need folding.
    """
    cell = float(durations.min()) / oversample
    index = ((t - t.min()) / cell).astype(np.intp)
    ncell = int(index.max()) + 1
    p_cells = periods / cell
    rows = np.floor(p_cells).astype(np.intp)  # whole cells per cycle
    widths = np.maximum(1, np.rint(durations / cell).astype(np.intp))
    strides = np.maximum(1, np.rint(widths / 3).astype(np.intp))
    wmax = int(widths.max())
    # Single precision halves the memory traffic; sums over very many cycles need double.
    dtype = np.float32 if (ncell / p_cells.min() + 3) * len(t) < 2**23 else np.float64
    scale = np.abs(y).max() or 1.0
    # Running sums of the flux in cells, with room for cycles before the data and after it.
    pad = 2 * (int(rows.max()) + 2) + wmax
    cum = np.zeros(pad + ncell + 1 + pad, dtype=dtype)
    cum[pad + 1 : pad + ncell + 1] = np.cumsum(np.bincount(index, y / scale, minlength=ncell))
    cum[pad + ncell + 1 :] = cum[pad + ncell]

    lowest = np.empty((len(periods), len(widths)))
    start = 0
    while start < len(periods):
        stop = _chunk_stop(start, rows, wmax)
        lowest[start:stop] = _lowest_box_sums(
            cum, pad, ncell, p_cells[start:stop], rows[start:stop], widths, strides
        )
        start = stop
    total = float(len(t))
    share = total * widths[None, :] / p_cells[:, None]  # cadences in a box, on average
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.minimum(lowest, 0.0) ** 2 / (share * np.maximum(total - share, 0.5) ** 2)
    if limits is not None:
        score[durations[None, :] > limits[:, None]] = np.nan
    best = np.argmax(np.nan_to_num(score, nan=-1.0), axis=1)
    return 0.5 * total**2 * scale**2 * score[np.arange(len(periods)), best], best


def _chunk_stop(start, rows, wmax) -> int:
    """End of a chunk of similar periods: at most :data:`_CHUNK_PERIODS` periods, rows within
    25% of each other and at most :data:`_CHUNK_CELLS` folded cells per cycle."""
    limit = int(1.25 * rows[start]) + 1
    stop = int(np.searchsorted(rows, limit, side="right"))
    stop = min(stop, start + _CHUNK_PERIODS, start + max(1, _CHUNK_CELLS // (limit + wmax + 1)))
    return max(stop, start + 1)


def _lowest_box_sums(cum, pad, ncell, p_cells, rows, widths, strides) -> np.ndarray:
    """``(periods, widths)``: the lowest folded flux sum in a box of each width, for each period
    of one chunk (boxes start every ``stride`` cells)."""
    folded = _fold_chunk(cum, pad, ncell, p_cells, rows, int(widths.max()))
    n_start = int(rows.max())
    out = np.empty((len(p_cells), len(widths)))
    for i, (width, stride) in enumerate(zip(widths, strides, strict=True)):
        n_pos = -(-n_start // stride)
        box = (
            folded[:, width : width + stride * n_pos : stride]
            - folded[:, : stride * n_pos : stride]
        )
        out[:, i] = box.min(axis=1)
    return out


def _fold_chunk(cum, pad, ncell, p_cells, rows, wmax) -> np.ndarray:
    """Folded running flux sums, ``(periods, rows.max() + wmax + 1)``.

    Column ``b`` of period ``p`` is the sum over cycles ``m`` of ``cum[start_m + b] -
    cum[start_m]`` with ``start_m = floor(m p)``: the flux in the first ``b`` cells of the
    folded orbit. Columns past the end of the orbit wrap into the next one, so boxes can straddle
    phase 0. Rows before the data read zeros; cycles after it are skipped.
    """
    from numpy.lib.stride_tricks import as_strided

    k, lmax = len(p_cells), int(rows.max())
    cycles_of = np.ceil(ncell / p_cells).astype(np.intp)  # cycles with data, falling with p
    n_cycles = int(cycles_of[0])
    # Many short cycles: fold one orbit and unroll it afterwards. Few long ones: fold past the
    # orbit's end (continuing into the next cycle; cycles before the first supply the first
    # orbit's wrapped part), which costs wmax more cells per cycle but no unrolling.
    unroll = n_cycles * wmax > 2 * (lmax + wmax)
    ncols = lmax + 1 if unroll else lmax + wmax + 1
    first = 0 if unroll else -int((lmax + wmax) // p_cells[0])  # wraps reach back this far
    windows = as_strided(cum, shape=(len(cum) - ncols + 1, ncols), strides=cum.strides * 2)
    cycles = np.arange(first, n_cycles)
    starts = np.floor(cycles[:, None] * p_cells[None, :]).astype(np.intp)
    starts += pad
    # Periods still inside the data at each cycle: a prefix, as periods ascend.
    active = k - np.searchsorted(cycles_of[::-1], cycles, side="right")
    folded = np.zeros((k, ncols), dtype=cum.dtype)
    for row_starts, n in zip(starts, active, strict=True):
        folded[:n] += windows[row_starts[:n]]
    if not unroll:
        return folded
    folded -= folded[:, :1]
    total = cum[pad + ncell]
    folded[np.arange(k), rows] = total  # the end of an orbit is the start of the next
    # Column b > rows is total + column (b - rows).
    cols = np.arange(lmax + wmax + 1)
    over = cols > rows[:, None]
    source = cols - over * rows[:, None]
    np.minimum(source, rows[:, None], out=source)  # boxes longer than the orbit
    source += (np.arange(k) * ncols)[:, None]
    unrolled = folded.ravel()[source]
    unrolled += over * total
    return unrolled


def _exact_box(t, y, period, durations, sigma) -> tuple[float, float, float, float, float]:
    """Exact best box at one period from the unbinned cadences (zero-mean ``y``).

    Every box starts at a cadence's phase. Returns ``(power, epoch, duration, depth,
    depth_snr)``; the epoch is the middle of the first and last cadence in the box.
    """
    t0 = t.min()
    phase = np.mod(t - t0, period)
    order = np.argsort(phase, kind="stable")
    ph, ys = phase[order], y[order]
    n = ph.size
    ph2 = np.concatenate([ph, ph + period])
    cum = np.zeros(2 * n + 1)
    np.cumsum(np.concatenate([ys, ys]), out=cum[1:])
    end = np.searchsorted(ph2, ph[None, :] + durations[:, None], side="left")  # (durations, n)
    first = np.arange(n)
    n_in = end - first
    n_out = n - n_in
    s = cum[end] - cum[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where((s < 0) & (n_out > 0), (s / np.maximum(n_out, 1)) ** 2 / n_in, -1.0)
    d, i = np.unravel_index(int(np.argmax(score)), score.shape)
    if not score[d, i] > 0:
        return (0.0, np.nan, np.nan, np.nan, np.nan)
    depth = -s[d, i] * n / (n_in[d, i] * n_out[d, i])
    middle = 0.5 * (ph[i] + ph2[end[d, i] - 1])
    return (
        float(0.5 * n**2 * score[d, i] / sigma**2),
        float(t0 + np.mod(middle, period)),
        float(durations[d]),
        float(depth),
        float(depth / (sigma * np.sqrt(1.0 / n_in[d, i] + 1.0 / n_out[d, i]))),
    )


def refine(
    time: np.ndarray, flux: np.ndarray, periods: np.ndarray, durations: np.ndarray
) -> tuple[float, float, float, float, float]:
    """The best exact box over a few ``periods`` and ``durations`` (days), from the unbinned
    cadences: ``(period, epoch, duration, depth, depth_snr)``. Used to sharpen a search's peak
    on a grid finer than the search's own."""
    t, y, periods, durations = _validate(time, flux, periods, durations)
    sigma = _noise(y)
    y = y - y.mean()
    best = None
    for p in periods:
        power, epoch, duration, depth, depth_snr = _exact_box(t, y, p, durations, sigma)
        if best is None or power > best[0]:
            best = (power, p, epoch, duration, depth, depth_snr)
    return tuple(float(v) for v in best[1:])
