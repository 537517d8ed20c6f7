"""The iterative multi-planet transit search of one star: every signal, strongest first.

:func:`search_star` does what a planet-search pipeline does to one star (Kepler's TPS/DV,
TLS, SHERLOCK, in outline):

1. **Detrend** the relative flux with a sliding Tukey biweight (:func:`~exohunt.lightcurve.clean.
   biweight_trend`, wotan's method) and drop upward outliers (flares). The window is 3 x the
   duration of a central transit across a Sun-like star at the longest period searched, within
   0.75-1.5 d: long enough to keep a transit whole, short enough to follow spots.
2. **Search** every period from ``min_period`` to half the baseline (so at least two transits
   fall in the data) with the fast BLS (:func:`~exohunt.lightcurve.bls.bls_search`). Periods are
   spaced so that a transit drifts by at most ``phase_tolerance`` of a Sun-like duration across
   the baseline between two trial periods; durations range from ``max(0.5 h, 2 cadences)`` to the
   longest physically possible at each period (a central transit, radius ratio 0.3, across a star
   of ``min_density`` solar densities; see :func:`max_duration`). The peak is sharpened on a grid
   12 times finer with exact boxes (:func:`~exohunt.lightcurve.bls.refine`).
3. **Decide** what the peak is. Its signal-to-noise ratio is measured against the scatter of the
   out-of-transit flux averaged over the transit duration, so correlated (red) noise counts
   (Pont et al. 2006): ``snr = depth / sigma_duration x sqrt(n_transits)``. When the odd and even
   transits differ (over 5 sigma and by over 25% of the deeper), the peak is an eclipsing binary
   folded at half its period: the period is doubled, with the deeper eclipse as the epoch. When
   dips at half (or a third and two thirds) of the orbit match the transits in depth and show
   together at half the threshold, the peak is a multiple of the planet's period (gaps that take
   every other transit favour it): the period is halved (or divided by 3). When one transit
   carries the signal (the rest alone would not reach half the threshold, or are only weaker
   dips beside it: under the threshold, under half its depth and 4 sigma shallower), or fewer
   than ``min_transits`` transits have data, it is a **single transit**: its time, depth and
   duration are reported, the period is left empty, and ``period_lower_limit`` says how long the
   period must be for no second transit to fall in the data.
4. **Mask** the signal's transits (``mask_factor`` durations wide; an eclipsing binary's secondary
   too), **re-detrend** with every found transit masked, so the trend does not eat them, and
   search again, until ``max_planets`` signals or until the strongest remaining signal is under
   the threshold. The threshold is Kepler's: 7.1 sigma (Jenkins et al. 2010), at which pure noise
   of ~10^12 independent trials over a four-year light curve gives about one false alarm. Single
   transits need ``min_single_snr`` (10 sigma): they have no repetition to confirm them. Last,
   with room for another signal, a **long single transit** (4 hours or more: the usual trend
   keeps half of a 9-hour transit) is looked for on a trend of ``single_window_days`` (3 days).
5. **Vet** each signal on the final detrended light curve with the other signals' transits
   removed: depth, SNR, transits with data, odd-even depth difference (sigma), the strongest
   secondary eclipse at any phase (Kepler DV's weak-secondary test), and the transit shape.

Units: time, period, epoch and durations in days (the data's own time system), depths in relative
flux (or in the flux's units for flux centred on zero, such as z-scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from exohunt.lightcurve import bls
from exohunt.lightcurve.clean import biweight_trend, clip_upper, robust_std
from exohunt.lightcurve.vetting import transit_shape
from exohunt.lightcurve.views import fold

#: Kepler's detection threshold, sigma (Jenkins et al. 2010).
KEPLER_THRESHOLD = 7.1

#: Duration (days) of a central transit across a Sun-like star at a 1-day period; it grows as
#: period**(1/3) (Seager & Mallen-Ornelas 2003).
SOLAR_DURATION_DAYS = 0.0758


@dataclass(frozen=True)
class SearchSettings:
    """What :func:`search_star` searches, and when it stops. Logged whole with a scan."""

    max_planets: int = 5
    min_snr: float = KEPLER_THRESHOLD
    min_single_snr: float = 10.0
    min_period: float = 0.5  # days
    max_period: float | None = None  # days; None: half the baseline
    min_transits: int = 2
    min_density: float = 0.1  # solar densities: sets the longest duration at each period
    max_duration_hours: float = 30.0
    duration_step: float = 1.35  # ratio of neighbouring trial durations
    phase_tolerance: float = 0.5  # drift between grid periods over the baseline, in durations
    oversample: int = 2  # BLS time cells per shortest duration (phase resolution)
    max_periods: int = 50_000
    window_factor: float = 3.0  # biweight window in Sun-like durations at the longest period
    min_window_days: float = 0.75
    max_window_days: float = 1.5
    mask_factor: float = 2.0  # masked width around each found transit, in durations
    # a last look for a long single transit on a trend this long (days; 0: none)
    single_window_days: float = 3.0
    peaks: int = 5  # BLS peaks weighed by their red-noise SNR before the strongest is taken

    def as_params(self) -> dict:
        """Every setting, for logging (``None`` as ``"auto"``)."""
        return {f.name: "auto" if getattr(self, f.name) is None else getattr(self, f.name)
                for f in fields(self)}  # fmt: skip

    def validate(self) -> SearchSettings:
        """Self, or ValueError naming the setting that cannot work."""
        if self.max_planets < 1:
            raise ValueError(f"max_planets must be at least 1, got {self.max_planets}")
        if not self.min_period > 0:
            raise ValueError(f"min_period must be a positive number of days, got {self.min_period}")
        if self.max_period is not None and not self.max_period > self.min_period:
            raise ValueError(
                f"max_period {self.max_period} must be longer than min_period {self.min_period}"
            )
        if self.min_transits < 2:
            raise ValueError(f"min_transits must be at least 2, got {self.min_transits}")
        if not (self.min_snr > 0 and self.min_single_snr > 0):
            raise ValueError("min_snr and min_single_snr must be positive")
        if self.peaks < 1:
            raise ValueError(f"peaks must be at least 1, got {self.peaks}")
        if not self.single_window_days >= 0:
            raise ValueError(
                f"single_window_days must be 0 (no look for long single transits) or a number of "
                f"days, got {self.single_window_days}"
            )
        return self


@dataclass
class Signal:
    """One signal found in one star's light curve (a threshold-crossing event).

    Times in days in the data's time system; depths in relative flux (or the flux's units);
    ``snr`` and ``odd_even_sigma``/``secondary_snr`` in sigma of the red-noise-aware scatter.
    """

    number: int
    period: float  # NaN for a single transit
    epoch: float  # mid-transit time
    duration: float  # days
    depth: float
    snr: float
    sde: float = np.nan  # signal detection efficiency of the BLS spectrum
    bls_depth_snr: float = np.nan  # the BLS's own white-noise SNR
    power: float = np.nan  # the BLS log-likelihood gain
    n_transits: int = 0
    odd_depth: float = np.nan
    even_depth: float = np.nan
    odd_even_sigma: float = np.nan
    secondary_depth: float = np.nan
    secondary_snr: float = np.nan
    secondary_phase: float = np.nan  # 0 to 1, 0.5 for a circular binary
    shape: float = np.nan  # ~1 flat bottom (planet), ~1/3 V (grazing binary)
    single: bool = False
    period_lower_limit: float = np.nan  # days, for single transits
    doubled: bool = False  # found at half the period: odd and even eclipses differed
    depth_chi2: float = np.nan  # reduced chi-square of the transits' depths about their mean
    max_event_share: float = np.nan  # the strongest transit's share of the summed SNR^2
    near_gaps: float = np.nan  # share of transits within a duration + 0.25 d of a gap or an end
    asymmetry: float = np.nan  # (first half's depth - second half's) / their sum: ~0 for a transit
    mask_width: float = field(default=np.nan, repr=False)  # days masked around each transit

    @property
    def secondary_albedo(self) -> float:
        """The albedo a planet would need to give the secondary eclipse
        (:func:`occultation_albedo`): over 1, a star's own light. NaN for a single transit."""
        return occultation_albedo(self.secondary_depth, self.depth, self.duration, self.period)

    @property
    def fold_period(self) -> float:
        """The period to fold on: a single transit's is its period's lower limit, so that only
        it falls in a fold."""
        return self.period if np.isfinite(self.period) else self.period_lower_limit

    def model_inputs(self) -> dict:
        """What a model trained on light curves reads besides the curve: the catalogue-style
        ephemeris its feature step folds on, and the search's own depth, SNR and SDE. A single
        transit gives its period's lower limit as the period."""
        period = self.fold_period
        return {
            "orbital_period": period,
            "transit_epoch": self.epoch,
            "transit_duration": self.duration * 24.0,  # hours, as the catalogues give it
            "transit_depth": self.depth * 1e6,  # ppm
            "transit_snr": self.snr,
            "transit_sde": self.sde,
            # the search's own vetting (others' transits removed; see :func:`vet`)
            "transit_count": float(self.n_transits),
            "transit_odd_even_sigma": self.odd_even_sigma,
            "transit_secondary_snr": self.secondary_snr,
            "transit_secondary_ratio": (
                self.secondary_depth / self.depth if self.depth > 0 else np.nan
            ),
            "transit_secondary_albedo": self.secondary_albedo,
            "transit_shape_search": self.shape,  # TransitFeatures has its own transit_shape
            "transit_single": float(self.single),
            # against a central transit across a Sun-like star: 13 h (P / 365 d)^(1/3)
            "transit_duration_ratio": self.duration * 24.0 / (13.0 * (period / 365.25) ** (1 / 3)),
            "transit_depth_chi2": self.depth_chi2,
            "transit_max_event_share": self.max_event_share,
            "transit_near_gaps": self.near_gaps,
            "transit_asymmetry": self.asymmetry,
        }


@dataclass
class SearchResult:
    """The signals of one star, and the detrended light curve they were vetted on."""

    signals: list[Signal]
    time: np.ndarray
    flux: np.ndarray  # detrended (relative flux around 1, or around 0 for centred flux)
    relative: bool  # flux had a positive level (else centred, e.g. z-scores)
    periods: np.ndarray
    durations: np.ndarray  # days
    window_days: float
    power: np.ndarray | None = None  # the first search's spectrum, over ``periods``


def occultation_albedo(secondary_depth, depth, duration, period) -> float:
    """The geometric albedo a planet would need to give an occultation ``secondary_depth`` deep
    (Kepler's vetting test of a secondary eclipse): ``secondary_depth / (depth (R*/a)^2)``, with
    ``R*/a = pi T / (P (1 + k))`` from the transit's duration ``T`` and period ``P`` (days) for a
    central transit on a circular orbit, ``k = sqrt(depth)``. A planet reflects at most its
    albedo (under 1) of the light it intercepts; a secondary eclipse that needs more is the light
    of a star (KOI-362's M dwarf: 2.8 in its Q17 quarter). NaN without a secondary, a depth or
    a period."""
    values = (secondary_depth, depth, duration, period)
    if not (np.isfinite(values).all() and depth > 0 and duration > 0 and period > duration):
        return np.nan
    rs_a = np.pi * duration / (period * (1.0 + np.sqrt(min(depth, 1.0))))
    return float(secondary_depth / (depth * rs_a**2))


def max_duration(period, min_density: float = 0.1, radius_ratio: float = 0.3):
    """The longest transit (days) at ``period`` (days): a central transit of a body of
    ``radius_ratio`` stellar radii across a star of ``min_density`` solar densities, on a circular
    orbit: ``P / pi x arcsin((1 + k) / (a / R*))`` with ``a / R* = 4.2 P**(2/3) rho**(1/3)``."""
    p = np.asarray(period, dtype=float)
    a_over_r = 4.2 * p ** (2 / 3) * min_density ** (1 / 3)
    return p / np.pi * np.arcsin(np.minimum(1.0, (1 + radius_ratio) / a_over_r))


def period_grid(
    baseline: float, min_period: float, max_period: float, tolerance: float, max_periods: int
) -> np.ndarray:
    """Trial periods (days, ascending), uniform in frequency**(1/3) (Ofir 2014).

    As many as make a transit drift by at most ``tolerance`` Sun-like durations over the
    ``baseline`` between neighbours, at least 100 and at most ``max_periods``."""
    if not max_period > min_period:
        raise ValueError(
            f"no trial periods: the longest ({max_period:g} d, half the {baseline:g} d baseline) "
            f"is not above min_period ({min_period:g} d)"
        )
    n = 3 * baseline * (min_period ** (-1 / 3) - max_period ** (-1 / 3))
    n = int(np.clip(np.ceil(n / (tolerance * SOLAR_DURATION_DAYS)), 100, max_periods))
    periods = np.linspace(max_period ** (-1 / 3), min_period ** (-1 / 3), n) ** -3.0
    periods[0], periods[-1] = max_period, min_period
    return periods[::-1].copy()


def duration_grid(cadence: float, longest: float, step: float) -> np.ndarray:
    """Trial durations (days) from ``max(0.5 h, 2 cadences)`` to ``longest``, ``step`` apart."""
    shortest = max(0.5 / 24, 2 * cadence)
    if longest <= shortest:
        return np.array([shortest])
    n = int(np.ceil(np.log(longest / shortest) / np.log(step))) + 1
    return shortest * step ** np.arange(n)


def cadence(time: np.ndarray) -> float:
    """The typical spacing of ``time`` (days): the median step."""
    return float(np.median(np.diff(time))) if np.size(time) > 1 else np.nan


def in_transit(time: np.ndarray, period: float, epoch: float, width: float) -> np.ndarray:
    """Cadences within ``width / 2`` of a transit (of the one at ``epoch`` for NaN period)."""
    if not np.isfinite(period):
        return np.abs(time - epoch) < 0.5 * width
    return np.abs(fold(time, period, epoch)) < 0.5 * width


def duration_noise(time: np.ndarray, flux: np.ndarray, duration: float) -> float:
    """Robust scatter of ``flux`` averaged over consecutive stretches of ``duration`` days.

    White noise gives ``sigma / sqrt(points per duration)``; correlated noise gives more, which is
    what a transit of that duration competes with. With fewer than 5 full stretches, falls back to
    the white-noise value."""
    index = np.floor((time - time[0]) / duration).astype(np.int64)
    counts = np.bincount(index)
    sums = np.bincount(index, flux)
    filled = counts[counts > 0]
    full = counts >= max(2, 0.5 * np.median(filled)) if filled.size else counts > 0
    if full.sum() < 5:
        return robust_std(flux) / np.sqrt(max(1.0, duration / cadence(time)))
    return float(robust_std(sums[full] / counts[full]))


def search_star(
    time: np.ndarray, flux: np.ndarray, settings: SearchSettings | None = None
) -> SearchResult:
    """Every transit signal of one star, strongest first (see the module docstring).

    ``time`` (days) must be finite, sorted and without repeats, and ``flux`` finite (use
    :func:`~exohunt.lightcurve.clean.clean`); flux with a positive level is divided by its
    median, flux centred on zero is searched as it is. Raises ValueError when the light curve
    is too short for ``min_transits`` transits at ``min_period``.
    """
    settings = (settings or SearchSettings()).validate()
    t = np.asarray(time, dtype=float)
    f = np.asarray(flux, dtype=float)
    level, scatter = np.median(f), robust_std(f)
    relative = bool(level > 2 * scatter)
    if relative:
        f = f / level
    baseline = float(np.ptp(t))
    longest_period = baseline / settings.min_transits
    if settings.max_period is not None:
        longest_period = min(longest_period, settings.max_period)
    periods = period_grid(
        baseline,
        settings.min_period,
        longest_period,
        settings.phase_tolerance,
        settings.max_periods,
    )
    limits = np.minimum(
        max_duration(periods, settings.min_density), settings.max_duration_hours / 24
    )
    durations = duration_grid(cadence(t), float(limits.max()), settings.duration_step)
    limits = np.maximum(limits, durations[0])  # every period allows the shortest box
    window = float(
        np.clip(
            settings.window_factor * SOLAR_DURATION_DAYS * longest_period ** (1 / 3),
            settings.min_window_days,
            settings.max_window_days,
        )
    )
    mask = np.zeros(t.size, dtype=bool)
    signals: list[Signal] = []
    spectrum = None
    searches = 0
    while len(signals) < settings.max_planets and searches < 2 * settings.max_planets:
        searches += 1
        t_s, y_s = _detrended(t, f, mask, window, relative)
        if t_s.size < 10 or np.ptp(t_s) < 2 * settings.min_period:
            break
        result = bls.bls_search(
            t_s, y_s, periods, durations, oversample=settings.oversample, refine=0,
            max_durations=limits,
        )  # fmt: skip
        if spectrum is None:
            spectrum = result.power
        result = _red_noise_peak(t_s, y_s, result, periods, durations, limits, settings.peaks)
        signal = _classify(t_s, y_s, result, periods, durations, settings, len(signals) + 1)
        if signal is None:
            signal = single_event(t_s, y_s, durations, settings, len(signals) + 1)
        if signal is None:
            break
        earlier = next((s for s in signals if _same_transits(s, signal, settings)), None)
        if earlier is not None:  # the wings of transits already found: mask them wider
            earlier.mask_width = (
                max(_mask_width(earlier, settings), _mask_width(signal, settings))
                + 2 * signal.duration
            )
            mask |= _transit_mask(t, earlier, settings)
            continue
        signals.append(signal)
        mask |= _transit_mask(t, signal, settings)

    if settings.single_window_days > 0 and len(signals) < settings.max_planets:
        lone = _long_single(t, f, mask, durations, relative, settings, len(signals) + 1)
        if lone is not None and not any(_same_transits(s, lone, settings) for s in signals):
            signals.append(lone)
            mask |= _transit_mask(t, lone, settings)

    t_final, y_final = _detrended(t, f, np.zeros(t.size, dtype=bool), window, relative, mask)
    masks = [_transit_mask(t_final, s, settings) for s in signals]
    for i, signal in enumerate(signals):
        others = np.zeros(t_final.size, dtype=bool)
        for j, other in enumerate(masks):
            if j != i and not same_period(signals[j], signal):
                others |= other  # a signal at the same period is this one's secondary eclipse
        others &= ~in_transit(t_final, signal.period, signal.epoch, signal.duration)
        vet(t_final[~others], y_final[~others], signal)
    # measured again without the others, a signal may have been their residue: it goes
    threshold = {True: settings.min_single_snr, False: settings.min_snr}
    signals = [s for s in signals if s.snr >= threshold[s.single]]
    for number, signal in enumerate(signals, start=1):
        signal.number = number
    return SearchResult(signals, t_final, y_final, relative, periods, durations, window, spectrum)


def others_mask(time: np.ndarray, signals: list[Signal], signal: Signal) -> np.ndarray:
    """Cadences in the other signals' transits (two durations wide), outside ``signal``'s own: what
    its model input and its report leave out. A signal at the same period is this one's secondary
    eclipse, and stays."""
    others = np.zeros(np.size(time), dtype=bool)
    for other in signals:
        if other.number != signal.number and not same_period(other, signal):
            others |= in_transit(time, other.period, other.epoch, 2.0 * other.duration)
    return others & ~in_transit(time, signal.period, signal.epoch, signal.duration)


def triage_metadata(signal: Signal) -> dict:
    """``signal`` under the AstroNet Triage metadata's own names and units: what a model trained
    on the TESS Triage view archive reads beside the views. A single transit gives its period's
    lower limit as the period."""
    return {
        "Period": signal.fold_period,
        "Epoc": signal.epoch,
        "Duration": signal.duration,  # days
        "Transit_Depth": signal.depth * 1e6,
        "SN": signal.snr,
    }


#: Transit duration over period of the median planet candidate of the TESS AstroNet Triage
#: views (Yu et al. 2019): the share of a global view a transit fills.
TRIAGE_DURATION_FRACTION = 0.029


def single_view_days(duration: float) -> float:
    """The days a single transit's global view spans: as many of its durations as a typical
    planet candidate's orbit holds (:data:`TRIAGE_DURATION_FRACTION`)."""
    return float(duration / TRIAGE_DURATION_FRACTION)


def signal_views(time: np.ndarray, flux: np.ndarray, signals: list[Signal], signal: Signal) -> dict:
    """The AstroNet global and local views (float32) of ``signal`` on the search's detrended
    curve ``time, flux``, without the other signals' transits (:func:`others_mask`). A single
    transit's global view is the stretch of :func:`single_view_days` around it, unfolded: folded
    on its period's lower limit (months), its hours-long dip would be under half of one bin and
    vanish from the bins' medians."""
    from exohunt.lightcurve.views import global_view, local_view

    keep = ~others_mask(time, signals, signal)
    t, y, period = time[keep], flux[keep], signal.fold_period
    if signal.single:
        period = min(period, single_view_days(signal.duration))
        near = np.abs(t - signal.epoch) < 0.5 * period
        t, y = t[near], y[near]
    return {
        "global_view": global_view(t, y, period, signal.epoch).astype(np.float32),
        "local_view": local_view(t, y, period, signal.epoch, signal.duration).astype(np.float32),
    }


def same_period(a: Signal, b: Signal) -> bool:
    return bool(abs(a.period / b.period - 1) < 1e-3) if np.isfinite(a.period * b.period) else False


def _detrended(t, f, exclude, window, relative, trend_mask=None):
    """Cadences not in ``exclude``, detrended with a biweight fitted to the cadences outside
    ``exclude`` and ``trend_mask``, upward outliers dropped: ``(time, flux)``."""
    fit = ~exclude if trend_mask is None else ~(exclude | trend_mask)
    if fit.sum() < 3:
        fit = ~exclude
    if fit.sum() < 3:  # everything masked: nothing left to search
        return t[:0], f[:0]
    trend = np.interp(t, t[fit], biweight_trend(t[fit], f[fit], window))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = f / trend if relative else f - trend
    keep = ~exclude & np.isfinite(y)
    keep[keep] = clip_upper(y[keep])
    return t[keep], y[keep]


def _mask_width(signal: Signal, settings: SearchSettings) -> float:
    """Days masked around each transit: ``mask_factor`` durations (or the single transit's own
    extent), at most half the period."""
    width = settings.mask_factor * signal.duration
    if np.isfinite(signal.mask_width):
        width = max(width, signal.mask_width)
    return min(width, 0.5 * signal.period) if np.isfinite(signal.period) else width


def _same_transits(a: Signal, b: Signal, settings: SearchSettings) -> bool:
    """Whether ``b`` falls on ``a``'s transits: the same period and mid-times within the two
    durations, or both single and ``b`` reaching into ``a``'s mask (the rest of a long dimming,
    which the detrending splits into pieces once its deepest part is masked)."""
    reach = a.duration + b.duration
    if a.single and b.single:
        return bool(
            abs(a.epoch - b.epoch) < max(reach, 0.5 * _mask_width(a, settings) + b.duration)
        )
    if not same_period(a, b):
        return False
    return bool(abs(fold(np.array([b.epoch]), a.period, a.epoch)[0]) < reach)


def _transit_mask(t, signal: Signal, settings: SearchSettings) -> np.ndarray:
    width = _mask_width(signal, settings)
    mask = in_transit(t, signal.period, signal.epoch, width)
    if signal.doubled:  # the other eclipse of a binary found at half its period
        mask |= in_transit(t, signal.period, signal.epoch + 0.5 * signal.period, width)
    return mask


#: How much higher another peak's red-noise SNR must be than the BLS peak's to be taken instead.
SWITCH_MARGIN = 1.3


def _red_noise_peak(t, y, result, periods, durations, limits, n_peaks: int):
    """The BLS result moved to whichever of the spectrum's ``n_peaks`` strongest peaks has the
    highest red-noise SNR (``depth / sigma_T x sqrt(N)``, as :func:`vet` measures it).

    The BLS objective assumes white noise: on a star with spots, K2 pointing drift or TESS
    scattered light, its strongest peak is often a stretch of correlated noise, while the
    transit sits at the second or fifth peak with the higher SNR once the noise over a transit
    duration is counted. Peaks are local maxima at least 1% apart in period."""
    from dataclasses import replace

    power = np.where(np.isfinite(result.power), result.power, -np.inf)
    if n_peaks <= 1 or not np.isfinite(result.epoch):
        return result
    order = np.argsort(power)[::-1]
    chosen: list[int] = []
    for i in order[: 50 * n_peaks]:
        if not np.isfinite(power[i]):
            break
        if all(abs(periods[i] / periods[j] - 1) > 0.01 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n_peaks:
            break
    best, best_snr = None, -np.inf
    for rank, i in enumerate(chosen):
        if rank and abs(periods[i] / periods[chosen[0]] - 1) < 0.05:
            continue  # the top peak's own wings
        fine = np.linspace(periods[max(i - 1, 0)], periods[min(i + 1, periods.size - 1)], 7)
        allowed = durations[durations <= limits[i]]
        allowed = allowed[allowed < fine.min()] if allowed.size else durations[:1]
        if not allowed.size:
            continue
        period, epoch, duration, _, _ = bls.refine(t, y, fine, allowed)
        if not np.isfinite(epoch):
            continue
        trial = Signal(0, period, epoch, duration, np.nan, np.nan)
        base, sigma = _baseline(t, y, trial)
        if not sigma > 0:
            continue
        cycles = transit_depths(t, y, period, epoch, duration, base)[0]
        inside = in_transit(t, period, epoch, duration)
        snr = (base - y[inside].mean()) / sigma * np.sqrt(cycles.size) if inside.any() else 0
        if rank == 0:
            snr *= SWITCH_MARGIN  # another peak must beat the BLS's own choice clearly
        if snr > best_snr:
            best, best_snr = (rank, period, epoch, duration), snr
    if best is None or best[0] == 0:  # the BLS peak stands
        return result
    return replace(result, period=best[1], epoch=best[2], duration=best[3])


def _classify(t, y, result, periods, durations, settings, number) -> Signal | None:
    """The search's peak as a periodic :class:`Signal`, a single transit, or None (under the
    threshold)."""
    if not np.isfinite(result.epoch):
        return None
    i = int(np.searchsorted(periods, result.period))
    fine = np.linspace(periods[max(i - 1, 0)], periods[min(i + 1, periods.size - 1)], 13)
    j = int(np.argmin(np.abs(durations - result.duration)))
    near = durations[max(j - 1, 0) : j + 2]
    near = near[near < fine.min()] if (near < fine.min()).any() else durations[:1]
    period, epoch, duration, _, _ = bls.refine(t, y, fine, near)
    if not np.isfinite(epoch):
        return None
    signal = Signal(number, period, epoch, duration, np.nan, np.nan, sde=result.sde,
                    bls_depth_snr=result.depth_snr, power=float(np.nanmax(result.power)))  # fmt: skip
    base, sigma = _baseline(t, y, signal)
    if not sigma > 0:
        return None
    for _ in range(3):  # a harmonic of the period: its transits at a third or half of an orbit
        m = _harmonic(t, y, period, epoch, duration, base, sigma, settings.min_snr)
        if m == 1:
            break
        fine, near = fine / m, near[near < fine.min() / m]
        if not near.size:
            break
        period, epoch, duration, _, _ = bls.refine(t, y, fine, near)
        signal.period, signal.epoch, signal.duration = period, epoch, duration
        base, sigma = _baseline(t, y, signal)
        if not sigma > 0:
            return None
    cycles, depths, counts = transit_depths(t, y, period, epoch, duration, base)
    odd, even, odd_even = _odd_even(cycles, depths, counts, sigma, duration / cadence(t))
    if _differ(odd, even, odd_even):
        # an eclipsing binary folded at half its period: its two eclipses alternate
        signal.epoch = epoch + period if odd > even else epoch
        signal.period, signal.doubled = 2 * period, True
        cycles, depths, counts = transit_depths(t, y, signal.period, signal.epoch, duration, base)
    if cycles.size >= settings.min_transits:
        top = int(np.argmax(depths))
        rest = np.delete(depths, top)
        rest_snr = rest.mean() / sigma * np.sqrt(rest.size)
        # the other transits show it too, and not only as weaker dips beside one transit
        lone = rest_snr < settings.min_snr and _one_event(
            depths, counts, sigma, duration / cadence(t)
        )
        if rest_snr >= 0.5 * settings.min_snr and not lone:
            vet(t, y, signal)
            return signal if signal.snr >= settings.min_snr else None
    # one event carries it: a single transit, measured on its own
    return single_event(t, y, duration * np.array([0.5, 0.75, 1.0, 1.35, 1.8]), settings, number)


#: A transit stands alone (:func:`_one_event`) when the others, together, are this many sigma
#: shallower and under :data:`LONE_FRACTION` of its depth, and do not reach the detection
#: threshold on their own. A single transit paired with a few weaker dips (a sector's start ramp,
#: noise, low cadences) was a periodic signal at a period nothing else supports. Held-out
#: injections into real curves (3,000 windows, two draws): +2 planets and -1 at SNR 10-15 (the
#: one lost: a 9.7-sigma single that had been reported with an invented period), +1 at 15-40,
#: -1 at 7.1-10, and 24 of 600 artefact curves no longer report a signal; 5 sigma gave +1 at
#: SNR 10-15 on the first draw, 3 sigma lost 3 planets.
LONE_SIGMA, LONE_FRACTION = 4.0, 0.5


def _one_event(depths, counts, sigma, points_per_transit) -> bool:
    """Whether the deepest transit stands alone (:data:`LONE_SIGMA`): the others, weighted by
    their coverage, significantly shallower and under :data:`LONE_FRACTION` of its depth."""
    weight = _transit_weights(counts, sigma, points_per_transit)
    top = int(np.argmax(depths))
    rest = np.arange(depths.size) != top
    mean = float(np.sum(weight[rest] * depths[rest]) / weight[rest].sum())
    error = float(np.sqrt(1 / weight[top] + 1 / weight[rest].sum()))
    return (depths[top] - mean) / error > LONE_SIGMA and mean < LONE_FRACTION * depths[top]


def _differ(a: float, b: float, significance: float) -> bool:
    """Whether two depths differ as an eclipsing binary's eclipses do: their difference over 5
    sigma (``significance``) and over a quarter of the deeper (the rule that doubles a binary's
    period)."""
    return significance > 5 and abs(a - b) > 0.25 * max(a, b)


def _harmonic(t, y, period, epoch, duration, base, sigma, min_snr) -> int:
    """``m`` (3 or 2) when the transits at ``epoch`` recur at every ``1/m`` of ``period``, so the
    true period is ``period / m``; else 1.

    The fast BLS may rate a multiple of the period highest (when gaps take every other transit,
    the boxes at twice the period are all full). The dips at the other phases must show
    together (half the detection threshold, as for a periodic signal's other transits) and each
    match the main transits' depth (the rule that doubles a binary's period, negated): a hot
    Jupiter's shallow occultation at phase 0.5 does not halve its period."""
    points = duration / cadence(t)

    def depth(shift):
        cycles, depths, counts = transit_depths(t, y, period, epoch + shift, duration, base)
        if cycles.size == 0:
            return np.nan, np.inf
        weight = _transit_weights(counts, sigma, points)
        return float(np.sum(weight * depths) / weight.sum()), float(1 / np.sqrt(weight.sum()))

    main, main_error = depth(0.0)
    if not (np.isfinite(main) and main > 0):
        return 1
    for m in (2, 3):
        others = [depth(k * period / m) for k in range(1, m)]
        if any(not np.isfinite(d) for d, _ in others):
            continue
        if any(_differ(main, d, abs(main - d) / np.hypot(main_error, e)) for d, e in others):
            continue
        weight = np.array([1 / e**2 for _, e in others])
        pooled = np.sum(weight * [d for d, _ in others]) / weight.sum()
        if pooled * np.sqrt(weight.sum()) >= 0.5 * min_snr:
            return m
    return 1


def _baseline(t, y, signal: Signal) -> tuple[float, float]:
    """Out-of-transit level and the scatter over the transit duration."""
    outside = ~in_transit(t, signal.period, signal.epoch, 2 * signal.duration)
    if outside.sum() < 3:
        return np.nan, np.nan
    base = float(np.median(y[outside]))
    return base, duration_noise(t[outside], y[outside], signal.duration)


def transit_depths(t, y, period, epoch, duration, base):
    """``(cycle numbers, depth of each transit, cadences in each)`` of transits with data."""
    inside = in_transit(t, period, epoch, duration)
    cycles = np.rint((t[inside] - epoch) / period).astype(np.int64)
    unique, inverse = np.unique(cycles, return_inverse=True)
    counts = np.bincount(inverse, minlength=unique.size)
    depths = base - np.bincount(inverse, y[inside], minlength=unique.size) / np.maximum(counts, 1)
    return unique, depths, counts


def _transit_weights(counts, sigma, points_per_transit) -> np.ndarray:
    """Inverse variance of each transit's depth: ``sigma`` (the scatter over a whole transit)
    scaled up for a transit with only ``counts`` of its ``points_per_transit`` cadences."""
    error = sigma * np.sqrt(np.maximum(points_per_transit / np.maximum(counts, 1), 1.0))
    return 1.0 / error**2


def _odd_even(cycles, depths, counts, sigma, points_per_transit):
    """``(odd depth, even depth, significance of their difference)``, weighting each transit by
    its coverage; NaN without both odd and even transits."""
    if cycles.size == 0:
        return np.nan, np.nan, np.nan
    weight = _transit_weights(counts, sigma, points_per_transit)
    odd = cycles % 2 == 1
    if odd.all() or not odd.any():
        return np.nan, np.nan, np.nan
    d_odd = float(np.sum(weight[odd] * depths[odd]) / weight[odd].sum())
    d_even = float(np.sum(weight[~odd] * depths[~odd]) / weight[~odd].sum())
    spread = np.sqrt(1.0 / weight[odd].sum() + 1.0 / weight[~odd].sum())
    return d_odd, d_even, float(abs(d_odd - d_even) / spread)


def vet(t: np.ndarray, y: np.ndarray, signal: Signal) -> Signal:
    """Measure ``signal`` on detrended ``(t, y)`` in place: depth, SNR, transits with data,
    odd-even depths and their difference (sigma), the strongest secondary eclipse and the shape.
    Returns ``signal``."""
    base, sigma = _baseline(t, y, signal)
    inside = in_transit(t, signal.period, signal.epoch, signal.duration)
    if not (sigma > 0 and inside.any()):
        signal.depth, signal.snr, signal.n_transits = np.nan, np.nan, int(inside.any())
        return signal
    signal.depth = float(base - y[inside].mean())
    signal.asymmetry = _asymmetry(t, y, signal, base)
    if signal.single:
        signal.n_transits, signal.max_event_share = 1, 1.0
        signal.snr = float(signal.depth / sigma)
        signal.near_gaps = float(_near_gaps(t, np.array([signal.epoch]), signal.duration)[0])
        return signal
    cycles, depths, counts = transit_depths(
        t, y, signal.period, signal.epoch, signal.duration, base
    )
    signal.n_transits = int(cycles.size)
    signal.snr = float(signal.depth / sigma * np.sqrt(cycles.size))
    points = signal.duration / cadence(t)
    signal.depth_chi2, signal.max_event_share = _consistency(depths, counts, sigma, points)
    centres = signal.epoch + cycles * signal.period
    signal.near_gaps = float(_near_gaps(t, centres, signal.duration).mean())
    signal.odd_depth, signal.even_depth, signal.odd_even_sigma = _odd_even(
        cycles, depths, counts, sigma, points
    )
    signal.secondary_depth, signal.secondary_snr, signal.secondary_phase = weak_secondary(
        t, y, signal.period, signal.epoch, signal.duration, base, sigma
    )
    signal.shape = transit_shape(t, y, signal.period, signal.epoch, signal.duration)
    return signal


def _consistency(depths, counts, sigma, points_per_transit) -> tuple[float, float]:
    """Do the transits agree? ``(reduced chi-square of their depths about the weighted mean,
    the strongest transit's share of the summed SNR^2)``: a planet gives ~1 and ~1/N; a few
    events of systematics or a star's dimming give far more."""
    weight = _transit_weights(counts, sigma, points_per_transit)
    mean = np.sum(weight * depths) / weight.sum()
    chi2 = float(np.sum(weight * (depths - mean) ** 2) / max(depths.size - 1, 1))
    power = np.clip(depths, 0, None) ** 2 * weight
    share = float(power.max() / power.sum()) if power.sum() > 0 else np.nan
    return chi2, share


def _asymmetry(t, y, signal: Signal, base: float) -> float:
    """``(d1 - d2) / (d1 + d2)`` of the mean depths of the first and second halves of the
    transit: ~0 for a planet's symmetric transit, towards 1 for a sharp drop and a slow
    recovery (a momentum dump, a thermal settling), towards -1 for the reverse."""
    if np.isfinite(signal.period):
        offset = fold(t, signal.period, signal.epoch)
    else:
        offset = t - signal.epoch
    half = 0.5 * signal.duration
    first = y[(offset > -half) & (offset < 0)]
    second = y[(offset >= 0) & (offset < half)]
    if not (first.size and second.size):
        return np.nan
    d1, d2 = base - first.mean(), base - second.mean()
    return float((d1 - d2) / (d1 + d2)) if d1 + d2 > 0 else np.nan


def _near_gaps(t, centres, duration) -> np.ndarray:
    """Whether each transit centre lies within ``duration + 0.25 d`` of a gap of half a day or
    more, or of either end of the data: where scattered light and thermal ramps live."""
    reach = duration + 0.25
    steps = np.diff(t)
    edges = np.concatenate([[t[0]], t[:-1][steps > 0.5], t[1:][steps > 0.5], [t[-1]]])
    return np.min(np.abs(centres[:, None] - edges[None, :]), axis=1) < reach


def weak_secondary(t, y, period, epoch, duration, base, sigma):
    """The deepest box of ``duration`` in the folded orbit at least 2 durations from the
    transit (Kepler DV's weak-secondary test): ``(depth, snr, phase)``, phase 0-1 after the
    transit. ``sigma`` is the scatter over one duration. NaN for transits over a quarter orbit."""
    q = duration / period
    centres = np.arange(2 * q, 1 - 2 * q, q / 4)
    if q > 0.25 or centres.size == 0:
        return np.nan, np.nan, np.nan
    phase = np.mod(t - epoch, period) / period
    order = np.argsort(phase)
    ph, ys = phase[order], y[order]
    cum = np.r_[0.0, np.cumsum(ys)]
    lo = np.searchsorted(ph, centres - q / 2)
    hi = np.searchsorted(ph, centres + q / 2)
    n = hi - lo
    ok = n > 0.3 * n.max()
    if not ok.any():
        return np.nan, np.nan, np.nan
    depth = base - (cum[hi[ok]] - cum[lo[ok]]) / n[ok]
    i = int(np.argmax(depth))
    events = min(max(1.0, np.ptp(t) / period), n[ok][i] / max(1.0, duration / cadence(t)))
    snr = depth[i] / sigma * np.sqrt(max(events, 1.0))
    return float(depth[i]), float(snr), float(centres[ok][i])


#: A lone dip is vetted when its box SNR reaches this fraction of ``min_single_snr``. The boxes
#: sit on a coarse grid of times and trial durations; the vetted SNR, at the dip's own centre and
#: width, decides, and a dip under the box threshold can pass it (held-out injections into real
#: curves: 1 more planet of 88 at SNR 10-15, 2 more of 300 artefact windows and none of 300
#: plain windows with a signal).
CANDIDATE_FRACTION = 0.8


#: Fewest cadences a single transit spans.
MIN_SINGLE_CADENCES = 3

#: The shortest single transit (hours) looked for again on the long trend of
#: ``single_window_days``. On flat noise the usual 0.75-day trend keeps a 6-hour transit whole
#: and half of a 9-hour one; on a variable star it eats shorter ones. From 2 hours (with a
#: 1.5-day trend) the held-out injections gave the same.
LONG_SINGLE_HOURS = 4.0


def _long_single(t, f, mask, durations, relative, settings: SearchSettings, number: int):
    """The strongest single transit of :data:`LONG_SINGLE_HOURS` or longer on a trend of
    ``settings.single_window_days`` (outside ``mask``, the transits found), or None. A trend of
    0.75 day keeps half of a 9-hour transit's depth and a tenth of a 12-hour one's. Held-out
    injections into real curves (3,000 windows, two draws): 6 more planets, single transits of
    5-11 hours at SNR 5.6-27 (one of them one of a planet's two transits), one more artefact
    window with a signal, none more of the plain ones (1.5 days: 4 more planets, 2 artefacts).
    The final vetting, on the usual trend with the transit masked from it, decides."""
    t_l, y_l = _detrended(t, f, mask, settings.single_window_days, relative)
    long = durations[durations >= LONG_SINGLE_HOURS / 24]
    if t_l.size < 10 or not long.size:
        return None
    return single_event(t_l, y_l, long, settings, number)


def single_event(t, y, durations, settings: SearchSettings, number: int) -> Signal | None:
    """The most significant lone dip (a box of any of ``durations``, days) as a single transit,
    or None under ``min_single_snr``. Its duration is the dip's width at half its significance,
    and the mask around it spans where it still shows at 3 sigma, so a long dimming is one
    event. Boxes span at least :data:`MIN_SINGLE_CADENCES` cadences: a transit is resolved in
    time, while one or two low cadences in a row (cosmic rays, a bad pointing) are not."""
    durations = np.asarray(durations, dtype=float)
    shortest = MIN_SINGLE_CADENCES * cadence(t)
    if (durations >= shortest).any():
        durations = durations[durations >= shortest]
    else:
        durations = np.array([shortest])
    base = float(np.median(y))
    cum = np.r_[0.0, np.cumsum(y)]
    best = None
    for d in durations:
        sigma = duration_noise(t, y, d)
        if not sigma > 0:
            continue
        centres = np.arange(t[0] + d / 2, t[-1] - d / 2 + 1e-9, d / 4)
        if centres.size == 0:
            continue
        lo = np.searchsorted(t, centres - d / 2)
        hi = np.searchsorted(t, centres + d / 2)
        n = hi - lo
        full = n >= max(2.0, 0.6 * d / cadence(t))
        snr = np.full(centres.size, -np.inf)
        snr[full] = (base - (cum[hi[full]] - cum[lo[full]]) / n[full]) / sigma
        i = int(np.argmax(snr))
        if best is None or snr[i] > best[0]:
            best = (snr[i], i, snr, centres, d)
    if best is None or not best[0] >= CANDIDATE_FRACTION * settings.min_single_snr:
        return None
    peak, i, snr, centres, d = best

    def extent(level: float) -> tuple[float, float]:
        first, last = i, i
        while first > 0 and snr[first - 1] > level:
            first -= 1
        while last < snr.size - 1 and snr[last + 1] > level:
            last += 1
        return float(centres[first]), float(centres[last])

    start, end = extent(0.5 * peak)
    wide_start, wide_end = extent(3.0)
    epoch, duration = 0.5 * (start + end), max(d, end - start)
    signal = Signal(number, np.nan, epoch, duration, np.nan, np.nan, single=True)
    signal.period_lower_limit = float(max(epoch - t[0], t[-1] - epoch))
    signal.mask_width = max(duration, 2 * max(end - wide_start, wide_end - start) + d)
    vet(t, y, signal)
    return signal if signal.snr >= settings.min_single_snr else None
