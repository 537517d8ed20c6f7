"""Transits, eclipses and artefacts injected into real light curves: training and test data that
look like the sky.

:func:`load_hosts` reads real light curves (any source :func:`exohunt.io.stars.iter_stars`
reads: Kepler, K2 and TESS FITS folders, JSON Lines, ...), removes their known transits and
eclipses (the KOI table bundled with exohunt for Kepler stars, and a ``truth.csv``-style table of
ephemerides for the others) and keeps each star's own cadence, gaps, quarter or sector jumps,
systematics and stellar variability. Cadences shorter than ``bin_minutes`` are binned to it (a
2-minute TESS sector becomes 10-minute cadences), so that files stay small.

:func:`inject` then draws ``n`` light curves from them. Each is a window of up to ``max_days`` of
one host, chosen at random, with one of:

- ``planet`` (label 1): a batman transit (quadratic limb darkening, integrated over the cadence),
  period log-uniform from 0.5 d to the smaller of 40 d and half the window (at least two transits
  with data), impact parameter 0-0.9, a star of 0.3-2 solar densities, and a radius ratio tuned
  so that the transit's SNR in *this* light curve is log-uniform over ``snr_range``. The SNR is
  the one ``exohunt scan`` reports: ``depth / sigma_T x sqrt(N)``, ``sigma_T`` the host's own
  detrended scatter averaged over the transit duration (red noise included) and ``N`` the
  transits with data.
- ``eb`` (label 0): an eclipsing binary, with V-shaped grazing eclipses, a secondary eclipse at
  phase 0.5 (or, for half of those over 3 days, off it: an eccentric orbit, e up to 0.5) that is
  either comparable to the primary (folded at half the period these show odd/even depth
  differences) or faint, ellipsoidal variation, and dilution by the light of
  another star in the aperture (a blend). Half of them are diluted until their primary eclipse
  has the SNR of a planet (``snr_range``): the binaries a planet search confuses with planets.
  A third are low-mass companions (an M dwarf across a Sun-like star): flat eclipses as deep as
  a giant planet's, and a secondary eclipse brighter than a planet could reflect
  (:func:`exohunt.lightcurve.search.occultation_albedo`).
- ``artefact`` (label 0): what fools a search: momentum dumps (short periodic dips with a slow
  recovery), scattered-light ramps at each orbit's start and end and at gaps, single low
  outliers, flares, and variable stars (pulsation or spot modulation of 0.2-10 d); one to three of
  them.
- ``none`` (label 0): the host as it is, its known signals removed.

The hosts are split by star: :func:`split_hosts` puts each star on one side only, so that a
model is never tested on a star whose curve it was trained on.

Each row also carries the signal that ``exohunt scan`` would hand a model for that light curve
(:func:`scan_signal`): the search's own period, epoch, duration, depth, SNR and SDE for the
injected signal when the search finds it (the injected values when it does not), and the
strongest signal the search finds in a curve without one. A model trained on these rows sees the
same inputs it is given in a scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import ConfigError, DataError
from exohunt.lightcurve.clean import clean, detrend, robust_std
from exohunt.lightcurve.search import cadence, duration_noise, in_transit
from exohunt.lightcurve.simulate import (
    _eclipse,
    _geometry,
    _import_batman,
    _limb_darkening,
)
from exohunt.lightcurve.simulate_noise import loguniform

log = logging.getLogger(__name__)

KINDS = ("planet", "eb", "artefact", "none")
ARTEFACTS = ("momentum_dumps", "scattered_light", "outliers", "flares", "variability")
#: Columns of :func:`inject`'s truth table, one row per light curve.
TRUTH_COLUMNS = (
    *("star_id", "label", "kind", "host", "mission", "window_start", "window_days", "cadences"),
    *("period", "epoch", "duration_hours", "rp_rs", "impact", "depth", "snr", "n_transits"),
    *("eb_secondary_ratio", "eb_secondary_phase", "eb_dilution", "eb_ellipsoidal_ppm"),
    "eb_low_mass",
    *("artefacts", "signal_found", "signal_reported", "found_period", "found_snr"),
)
#: The signal columns of each row: what :mod:`exohunt.scanning` gives a model for a signal
#: (:meth:`exohunt.lightcurve.search.Signal.model_inputs`).
SIGNAL_COLUMNS = (
    *("orbital_period", "transit_epoch", "transit_duration", "transit_depth"),
    *("transit_snr", "transit_sde", "transit_count", "transit_odd_even_sigma"),
    *("transit_secondary_snr", "transit_secondary_ratio", "transit_secondary_albedo"),
    *("transit_shape_search", "transit_single"),
    *("transit_duration_ratio", "transit_depth_chi2", "transit_max_event_share"),
    *("transit_near_gaps", "transit_asymmetry"),
)
MIN_HOST_DAYS = 5.0
#: Binaries with longer periods (days) may be eccentric (half of them, e up to 0.5).
ECCENTRIC_MIN_PERIOD = 3.0
#: Share of the binaries whose companion is a low-mass star (0.08-0.25 of the primary's radius,
#: its surface 0.2-5% as bright): eclipses as deep and flat as a giant planet's transits, and a
#: secondary eclipse of 0.002-0.05 of their depth (KOI-362 in ../shared/data: 2% deep, 0.5%).
LOW_MASS_SHARE = 1 / 3
#: Shares of the injected planets that are giants (any SNR) and single transits.
GIANT_SHARE, SINGLE_SHARE = 0.25, 0.1
_NOISE_WINDOW_DAYS = 1.0
_KNOWN_COLUMNS = {
    "star_id": ("star_id", "kepid", "tic_id", "tid", "epic"),
    "period": ("period_days", "period", "koi_period", "pl_orbper", "orbital_period"),
    "epoch": ("epoch", "koi_time0bk", "transit_epoch", "transit_time"),
    "duration_hours": ("duration_hours", "koi_duration", "pl_trandurh", "transit_duration"),
}


@dataclass
class Host:
    """One real light curve with its known signals removed: relative flux on its own cadences."""

    star_id: str
    mission: str
    time: np.ndarray
    flux: np.ndarray
    removed: int = 0  # cadences removed in known transits
    known: list = field(default_factory=list)  # (period, epoch, duration_days) removed

    @property
    def days(self) -> float:
        return float(self.time[-1] - self.time[0])


# --------------------------------------------------------------------------- hosts
def known_signals(table=None, kepler_ids=()) -> pd.DataFrame:
    """Ephemerides to remove from hosts: ``star_id, period, epoch, duration_hours``.

    From ``table`` (a ``truth.csv``-style CSV, a KOI or TOI table, or a DataFrame), and for the
    Kepler stars in ``kepler_ids`` every KOI of the KOI table bundled with exohunt.
    """
    frames = []
    if table is not None:
        frame = table if isinstance(table, pd.DataFrame) else pd.read_csv(table, comment="#")
        frames.append(_standard_columns(frame, str(table)[:80]))
    if len(kepler_ids):
        from exohunt.io.read import bundled_koi_path

        koi = pd.read_csv(bundled_koi_path(), comment="#", low_memory=False)
        koi = koi[koi["kepid"].astype(str).isin(set(map(str, kepler_ids)))]
        frames.append(_standard_columns(koi, "the bundled KOI table"))
    if not frames:
        return pd.DataFrame(columns=[*_KNOWN_COLUMNS, "ttv"])
    return pd.concat(frames, ignore_index=True)


def _standard_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    out = {}
    for column, names in _KNOWN_COLUMNS.items():
        found = next((c for c in names if c in frame.columns), None)
        if found is None:
            raise DataError(
                f"the table of known signals ({name}) has no {column} column (one of "
                f"{', '.join(names)}); give a table such as real_lightcurves/truth.csv"
            )
        out[column] = frame[found]
    out = pd.DataFrame(out)
    out["star_id"] = out["star_id"].astype(str).str.replace(r"\.0$", "", regex=True)
    for column in ("period", "epoch", "duration_hours"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    if "notes" in frame.columns:  # transit-timing variations: remove a wider stretch
        out["ttv"] = frame["notes"].astype(str).str.contains("TTV", case=False).to_numpy()
    else:
        out["ttv"] = False
    return out[out["epoch"].notna()]


def load_hosts(
    sources, known=None, bin_minutes: float = 10.0, min_days: float = MIN_HOST_DAYS
) -> list[Host]:
    """Real light curves to inject into, known signals removed (see the module docstring).

    ``sources``: paths (or one path) that :func:`exohunt.io.stars.iter_stars` reads. ``known``:
    a table of ephemerides (see :func:`known_signals`); by default a ``truth.csv`` beside or in
    each source folder is used when there is one. Stars whose flux is not relative (centred
    z-scores), shorter than ``min_days`` or unreadable are left out, with a debug log line; a star
    that appears in several sources is used once (its longest light curve).
    """
    from exohunt.io.stars import iter_stars

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    curves = {}
    tables = [] if known is None else [known]
    for source in sources:
        path = Path(source)
        if known is None:
            for candidate in (path / "truth.csv", path.parent / "truth.csv"):
                if candidate.is_file():
                    tables.append(candidate)
                    break
        for star in iter_stars(path):
            usable = _usable(star, bin_minutes, min_days)
            if usable is None:
                continue
            t, f = usable
            key = str(star.star_id)
            if key not in curves or t.size > curves[key][1].size:
                curves[key] = (star.mission, t, f)
    if not curves:
        raise DataError(
            f"no usable host light curves in {', '.join(map(str, sources))}: give Kepler, K2 or "
            f"TESS light curves in relative flux, at least {min_days:g} days long"
        )
    kepler = [k for k, (mission, _, _) in curves.items() if mission in ("Kepler", "K2")]
    table = pd.concat(
        [known_signals(t) for t in dict.fromkeys(map(str, tables))] + [known_signals(None, kepler)],
        ignore_index=True,
    )
    hosts = []
    for key, (mission, t, f) in curves.items():
        rows = table[table["star_id"] == key]
        keep = np.ones(t.size, dtype=bool)
        removed = []
        for period, epoch, hours, ttv in rows[["period", "epoch", "duration_hours", "ttv"]].values:
            duration = (hours if np.isfinite(hours) and hours > 0 else 6.0) / 24.0
            width = (3.0 if ttv else 1.5) * duration + (0.3 if ttv else 0.05)
            if np.isfinite(period) and period > 0:
                keep &= np.abs((t - epoch + 0.5 * period) % period - 0.5 * period) > width / 2
            else:
                keep &= np.abs(t - epoch) > width / 2
            removed.append((period, epoch, duration))
        if np.ptp(t[keep]) < min_days if keep.sum() > 1 else True:
            continue
        if removed:
            keep[keep] = _without_companions(t[keep], f[keep])
        if keep.mean() < 0.5:  # a contact binary or the like: little is left between eclipses
            log.debug("host %s left out: its known signals cover most of it", key)
            continue
        hosts.append(Host(key, mission, t[keep], f[keep], int((~keep).sum()), removed))
    log.debug("%d host light curves from %s", len(hosts), ", ".join(map(str, sources)))
    return hosts


def _without_companions(t, f, rounds: int = 3) -> np.ndarray:
    """Cadences to keep once every further signal of a star with known signals is gone.

    A star with a known transiting planet or eclipsing binary often holds more than its
    catalogue lists: a binary's secondary eclipse (at any phase), residue of the known signal,
    further planets of a multi-planet system, a circumbinary planet. None of them is a
    trustworthy negative, so every signal the search finds over its threshold is removed, up to
    ``rounds`` searches of 3 signals. Stars without known signals keep theirs: their variability
    and systematics are the negatives a model must learn."""
    from exohunt.lightcurve.search import SearchSettings, _transit_mask, search_star

    keep = np.ones(t.size, dtype=bool)
    settings = SearchSettings(max_planets=3)
    for _ in range(rounds):
        try:
            signals = search_star(t[keep], f[keep], settings).signals
        except ValueError:
            break
        if not signals:
            break
        for signal in signals:
            keep &= ~_transit_mask(t, signal, settings)
    return keep


def _usable(star, bin_minutes: float, min_days: float):
    """The star's ``(time, relative flux)``, binned to ``bin_minutes``, or None."""
    if star.problem or star.flux is None or star.time is None:
        return None
    try:
        t, f = clean(star.time, star.flux)
    except ValueError:
        return None
    if t.size < 100 or np.ptp(t) < min_days:
        return None
    level, scatter = np.median(f), robust_std(f)
    if not level > 5 * scatter:  # z-scores or flux centred on zero: depths would mean nothing
        log.debug("host %s left out: its flux is not relative", star.star_id)
        return None
    t, f = _bin(t, f / level, bin_minutes / 1440.0)
    return t, f


def _bin(t: np.ndarray, f: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean flux in bins of ``width`` days when the cadence is shorter (else unchanged)."""
    step = cadence(t)
    if step >= 0.75 * width:
        return t, f
    index = np.floor((t - t[0]) / width).astype(np.int64)
    counts = np.bincount(index)
    full = counts >= max(1, 0.5 * width / step)
    times = np.bincount(index, t)[full] / counts[full]
    fluxes = np.bincount(index, f)[full] / counts[full]
    return times, fluxes


def split_hosts(hosts: list[Host], test_fraction: float, seed: int) -> tuple[list, list]:
    """Hosts for training and for testing, by star: no star on both sides."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction {test_fraction} must be between 0 and 1 (e.g. 0.3)")
    if len(hosts) < 2:
        raise DataError(f"{len(hosts)} host star(s): a split by star needs at least 2")
    order = np.random.default_rng(seed).permutation(len(hosts))
    n_test = min(len(hosts) - 1, max(1, round(test_fraction * len(hosts))))
    test = {int(i) for i in order[:n_test]}
    return (
        [h for i, h in enumerate(hosts) if i not in test],
        [h for i, h in enumerate(hosts) if i in test],
    )


# --------------------------------------------------------------------------- injection
def inject(
    hosts: list[Host],
    n: int = 1000,
    seed: int = 0,
    fractions: dict | None = None,
    snr_range: tuple[float, float] = (5.0, 40.0),
    max_days: float = 60.0,
    max_period: float = 40.0,
    signals: bool = True,
    n_jobs: int = -1,
    progress=None,
    views: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` light curves made from ``hosts`` (see the module docstring): ``(rows, truth)``.

    ``rows`` has ``star_id`` (the host's: rows of one star stay together in a split), ``label``,
    ``time``, ``flux`` and, with ``signals``, the :data:`SIGNAL_COLUMNS` of :func:`scan_signal`.
    ``fractions`` maps each of :data:`KINDS` to its share (default 0.4 planets, 0.2 of each other
    kind). With ``signals`` and ``views``, the rows also hold what a model trained on AstroNet
    views reads (:func:`scan_signal`). The same arguments give the same result.
    """
    if not hosts:
        raise DataError("no host light curves to inject into")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"--n {n} must be a whole number of at least 1 (for example --n 1000)")
    low, high = snr_range
    if not 0 < low <= high:
        raise ConfigError(f"--snr-range {low} {high} must be two positive numbers, low first")
    shares = {"planet": 0.4, "eb": 0.2, "artefact": 0.2, "none": 0.2} | dict(fractions or {})
    unknown = set(shares) - set(KINDS)
    if unknown or any(v < 0 for v in shares.values()) or not sum(shares.values()) > 0:
        raise ConfigError(f"kind fractions {shares} must be non-negative shares of {KINDS}")
    _import_batman()  # a clear error before any work
    rng = np.random.default_rng(seed)
    weights = np.array([shares.get(k, 0.0) for k in KINDS])
    counts = np.floor(weights / weights.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    kinds = rng.permutation(np.repeat(KINDS, counts))
    picks = rng.integers(len(hosts), size=n)
    settings = {"snr_range": (low, high), "max_days": max_days, "max_period": max_period,
                "signals": signals, "views": views, "seed": seed}  # fmt: skip
    tasks = [(i, str(kinds[i]), int(picks[i])) for i in range(n)]
    from exohunt.cores import n_workers

    workers = n_workers(n_jobs, n // 20)
    size = max(1, min(50, n // (4 * workers) or 1))
    chunks = [tasks[i : i + size] for i in range(0, n, size)]
    if workers == 1:
        results = (_inject_rows(hosts, part, settings) for part in chunks)
    else:
        from joblib import delayed

        from exohunt.cores import process_pool

        parallel = process_pool(workers, return_as="generator")
        results = parallel(
            delayed(_inject_rows)({h: hosts[h] for h in {t[2] for t in part}}, part, settings)
            for part in chunks
        )
    rows, truth = [], []
    for part in results:
        for row, record in part:
            rows.append(row)
            truth.append(record)
        if progress is not None:
            progress("injecting into real light curves", len(rows), n)
    return pd.DataFrame(rows), pd.DataFrame(truth).reindex(columns=list(TRUTH_COLUMNS))


def _inject_rows(hosts, tasks, settings) -> list:
    """Rows ``tasks`` (``(index, kind, host)``) of :func:`inject`; each row draws from its own
    seed, so the result does not depend on how rows are shared among processes."""
    batman = _import_batman()
    out = []
    for i, kind, h in tasks:
        host = hosts[h]
        rng = np.random.default_rng((settings["seed"], i))
        t, f, start = _window(rng, host, settings["max_days"])
        record = {
            "star_id": host.star_id, "label": int(kind == "planet"), "kind": kind,
            "host": host.star_id, "mission": host.mission, "window_start": start,
            "window_days": float(t[-1] - t[0]), "cadences": int(t.size),
        }  # fmt: skip
        snr_range, max_period = settings["snr_range"], settings["max_period"]
        if kind == "planet":
            flux, found = _planet(rng, batman, t, f, snr_range, max_period)
        elif kind == "eb":
            flux, found = _binary(rng, batman, t, f, snr_range, max_period)
        elif kind == "artefact":
            flux, found = _artefacts(rng, t, f, snr_range)
        else:
            flux, found = f.copy(), {}
        record |= found
        row = {"star_id": host.star_id, "label": record["label"], "time": t, "flux": flux}
        if settings["signals"]:
            signal = scan_signal(t, flux, record, views=settings["views"])
            record |= {
                "signal_found": signal.pop("found"),
                "signal_reported": signal.pop("reported"),
                "found_period": signal["orbital_period"],
                "found_snr": signal["transit_snr"],
            }
            row |= signal
        out.append((row, record))
    return out


def _window(rng, host: Host, max_days: float):
    """A random stretch of up to ``max_days`` of ``host``: time, flux, start."""
    if host.days <= max_days:
        return host.time, host.flux, float(host.time[0])
    for _ in range(20):
        start = float(rng.uniform(host.time[0], host.time[-1] - max_days))
        sel = (host.time >= start) & (host.time < start + max_days)
        if sel.sum() >= 100 and np.ptp(host.time[sel]) > 0.5 * max_days:
            break
    return host.time[sel], host.flux[sel], start


def _noise(t, f) -> np.ndarray:
    """The host's flux divided by a 1-day biweight trend: what the SNR is measured on."""
    return detrend(t, f, _NOISE_WINDOW_DAYS)


def transit_snr(t, y, period, epoch, duration) -> tuple[float, int]:
    """``(sigma_T, N)``: the detrended scatter over one transit duration, out of transit, and
    the transits with data (as :mod:`exohunt.lightcurve.search` measures them)."""
    inside = in_transit(t, period, epoch, duration)
    ok = np.isfinite(y)
    sigma = duration_noise(t[ok & ~inside], y[ok & ~inside], duration)
    cycles = np.unique(np.round((t[inside] - epoch) / period))
    return float(sigma), int(cycles.size)


def _orbit(rng, t, low, high, duration_guess=0.1):
    """Period and epoch with at least two transits that have data."""
    for _ in range(50):
        period = float(loguniform(rng, low, high))
        epoch = float(t[0] + rng.uniform(0, period))
        centres = np.arange(epoch, t[-1], period)
        nearest = np.abs(t[np.clip(np.searchsorted(t, centres), 0, t.size - 1)] - centres)
        if (nearest < duration_guess).sum() >= 2:
            return period, epoch
    return period, epoch


def _planet(rng, batman, t, f, snr_range, max_period):
    """A transit of a tuned SNR (most), of a giant planet (``GIANT_SHARE``: radius ratio
    0.05-0.2, whatever its SNR) or a single transit (``SINGLE_SHARE``: the period longer than
    the window, one transit with data)."""
    baseline = float(np.ptp(t))
    impact, u = float(rng.uniform(0, 0.9)), _limb_darkening(rng)
    density, target = loguniform(rng, 0.3, 2.0), float(loguniform(rng, *snr_range))
    draw = rng.random()
    giant, single = draw < GIANT_SHARE, GIANT_SHARE <= draw < GIANT_SHARE + SINGLE_SHARE
    if single:
        period = float(rng.uniform(1.2, 3.0)) * baseline
        epoch = float(t[int(rng.integers(t.size // 10, 9 * t.size // 10))])
    else:
        high = max(0.6, min(max_period, 0.5 * baseline))
        period, epoch = _orbit(rng, t, 0.5, high)
    y = _noise(t, f)
    rp_rs = float(loguniform(rng, 0.05, 0.2)) if giant else 0.02
    geometry = _geometry(period, density, impact, rp_rs)
    sigma, n_transits = transit_snr(t, y, period, epoch, geometry["duration"])
    for attempt in range(1 if giant else 4):
        geometry = _geometry(period, density, impact, rp_rs)
        deficit, depth = _eclipse(batman, t, period, epoch, rp_rs, geometry, u, exposure=cadence(t))
        inside = in_transit(t, period, epoch, geometry["duration"])
        box = float(deficit[inside].mean()) if inside.any() else 0.0
        snr = box / sigma * np.sqrt(max(n_transits, 1)) if sigma > 0 else np.nan
        if attempt < 3 and box > 0 and np.isfinite(snr):
            rp_rs = float(np.clip(rp_rs * np.sqrt(target / snr), 0.003, 0.3))
    return f * (1.0 - deficit), {
        "period": period, "epoch": epoch, "duration_hours": geometry["duration"] * 24,
        "rp_rs": rp_rs, "impact": impact, "depth": box, "snr": snr, "n_transits": n_transits,
    }  # fmt: skip


def _binary(rng, batman, t, f, snr_range, max_period):
    high = max(0.6, min(max_period, 0.5 * float(np.ptp(t))))
    period, epoch = _orbit(rng, t, 0.5, high)
    low_mass = rng.random() < LOW_MASS_SHARE
    if low_mass:  # an M dwarf across a Sun-like star: the size of a giant planet
        rp_rs, mass_ratio = float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.08, 0.5))
    else:
        rp_rs, mass_ratio = float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.3, 1.0))
    impact, u = float(rng.uniform(0, 0.95 * (1 + rp_rs))), _limb_darkening(rng)
    geometry = _geometry(period, loguniform(rng, 0.3, 2.0), impact, rp_rs, mass_ratio)
    step = cadence(t)
    primary, raw_depth = _eclipse(batman, t, period, epoch, rp_rs, geometry, u, exposure=step)
    inside = in_transit(t, period, epoch, geometry["duration"])
    box = float(primary[inside].mean()) if inside.any() else raw_depth
    y = _noise(t, f)
    sigma, n_transits = transit_snr(t, y, period, epoch, geometry["duration"])
    if rng.random() < 0.5 and sigma > 0 and box > 0:  # a blend as faint as a planet
        wanted = float(loguniform(rng, *snr_range)) * sigma / np.sqrt(max(n_transits, 1))
        dilution = min(1.0, wanted / box)
    else:
        dilution = min(1.0, float(loguniform(rng, 1e-3, 0.3)) / max(raw_depth, 1e-9))
    if low_mass:  # the secondary eclipse: the M dwarf's surface brightness against the star's
        ratio = float(loguniform(rng, 0.002, 0.05))
    else:
        twin = rng.random() < 0.5
        ratio = float(rng.uniform(0.3, 1.0) if twin else loguniform(rng, 0.01, 0.3))
    # Eccentric orbits put the secondary off phase 0.5 by (2/pi) e cos(w) (Kepler-16: 0.49);
    # binaries under ECCENTRIC_MIN_PERIOD days are tidally circular.
    ecc, omega = 0.0, 0.0
    if period > ECCENTRIC_MIN_PERIOD and rng.random() < 0.5:
        ecc, omega = float(rng.uniform(0.0, 0.5)), float(rng.uniform(0, 2 * np.pi))
    shift = period * 2 / np.pi * ecc * np.cos(omega)
    occulted, occulted_mid = _eclipse(
        batman, t - shift, period, epoch, rp_rs, geometry, u, True, exposure=step
    )
    secondary = occulted / occulted_mid if occulted_mid > 0 else occulted
    inc = np.radians(geometry["inc"])
    ellipsoidal = dilution * mass_ratio * np.sin(inc) ** 2 / geometry["a_rs"] ** 3
    phase = 4 * np.pi * (t - epoch) / period
    depth = dilution * box
    signal = (
        1.0 - dilution * primary - ratio * dilution * raw_depth * secondary
        - ellipsoidal * np.cos(phase)
    )  # fmt: skip
    return f * signal, {
        "period": period, "epoch": epoch, "duration_hours": geometry["duration"] * 24,
        "rp_rs": rp_rs, "impact": impact, "depth": depth,
        "snr": depth / sigma * np.sqrt(max(n_transits, 1)) if sigma > 0 else np.nan,
        "n_transits": n_transits, "eb_secondary_ratio": ratio,
        "eb_secondary_phase": 0.5 + shift / period, "eb_dilution": dilution,
        "eb_ellipsoidal_ppm": ellipsoidal * 1e6, "eb_low_mass": low_mass,
    }  # fmt: skip


# --------------------------------------------------------------------------- artefacts
def _artefacts(rng, t, f, snr_range):
    """One to three of :data:`ARTEFACTS`, as multiplicative changes to the host's flux."""
    y = _noise(t, f)
    sigma = float(robust_std(y[np.isfinite(y)]))
    step = cadence(t)
    names = list(rng.choice(ARTEFACTS, size=int(rng.integers(1, 4)), replace=False))
    model = np.ones(t.size)
    found = {"artefacts": ";".join(sorted(names))}
    for name in names:
        if name == "momentum_dumps":  # a sharp drop at each dump, then a recovery
            period, epoch = float(rng.uniform(1.0, 6.0)), float(t[0] + rng.uniform(0, 6.0))
            width = step * int(rng.integers(1, 4))
            tau = width * float(rng.uniform(0.5, 3.0))
            noise, count = transit_snr(t, y, period, epoch, max(width, 2 * step))
            depth = float(loguniform(rng, *snr_range)) * noise / np.sqrt(max(count, 1))
            since = (t - epoch) % period
            model *= 1.0 - depth * np.where(since < 6 * tau, np.exp(-since / tau), 0.0)
            found |= {"period": period, "epoch": epoch, "depth": depth}
        elif name == "scattered_light":  # ramps after gaps and at each TESS-like orbit's ends
            amplitude = float(loguniform(rng, 3.0, 30.0)) * sigma * rng.choice([-1.0, 1.0])
            tau = float(rng.uniform(0.1, 1.0))
            starts = np.concatenate([[t[0]], t[1:][np.diff(t) > 0.5]])
            orbit = float(rng.uniform(10.0, 14.0))
            starts = np.unique(np.concatenate([starts, np.arange(t[0], t[-1], orbit)]))
            ends = np.concatenate([t[:-1][np.diff(t) > 0.5], [t[-1]]])
            for s in starts:
                after = t >= s
                model[after] *= 1.0 + amplitude * np.exp(-(t[after] - s) / tau)
            for e in ends:
                before = t <= e
                model[before] *= 1.0 + 0.5 * amplitude * np.exp(-(e - t[before]) / tau)
        elif name == "outliers":  # single low cadences, sometimes two in a row
            picks = rng.choice(t.size, size=int(rng.integers(3, 13)), replace=False)
            for i in picks:
                drop = float(rng.uniform(3.0, 8.0)) * sigma
                model[i : i + (2 if rng.random() < 0.3 else 1)] *= 1.0 - drop
        elif name == "flares":  # fast rise, exponential decay
            for start in rng.uniform(t[0], t[-1], int(rng.integers(2, 11))):
                amplitude = float(loguniform(rng, 5e-4, 2e-2))
                tau = float(loguniform(rng, 5.0, 120.0)) / 1440.0
                after = (t >= start) & (t < start + 10 * tau)
                model[after] *= 1.0 + amplitude * np.exp(-(t[after] - start) / tau)
        else:  # variability: pulsation or evolving spots
            period = float(loguniform(rng, 0.2, 10.0))
            amplitude = float(loguniform(rng, 5e-4, 2e-2))
            phase = 2 * np.pi * (t - t[0]) / period
            wave = np.sin(phase + rng.uniform(0, 2 * np.pi))
            wave += float(rng.uniform(0, 0.6)) * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
            if rng.random() < 0.5:  # spots come and go over a few rotations
                life = period * float(rng.uniform(1.0, 4.0))
                wave *= 0.6 + 0.4 * np.sin(2 * np.pi * (t - t[0]) / life + rng.uniform(0, 6.3))
            model *= 1.0 + amplitude * wave / max(np.abs(wave).max(), 1e-9)
            found.setdefault("period", period)
    return f * model, found


# --------------------------------------------------------------------------- signals
def scan_signal(
    t: np.ndarray, flux: np.ndarray, record: dict, settings=None, views: bool = False
) -> dict:
    """The signal ``exohunt scan`` gives a model for this light curve (module docstring), as the
    :data:`SIGNAL_COLUMNS` plus ``found`` and ``reported``: a scan (default settings) reports
    the injected signal, or for a curve without one, any signal (its strongest is used).

    An injected signal the scan misses is measured at its injected ephemeris, on the search's
    detrended light curve, as the search measures its own; a curve without an injected signal
    and without a reported one gets the strongest peak of a search without a threshold.
    ``settings``: the scan's search settings (default: ``exohunt scan``'s). With ``views``,
    also what a model trained on AstroNet views reads, as a scan builds it: the Triage metadata
    and the global and local views (NaN views when the search could not run)."""
    from exohunt.lightcurve.search import (
        SearchSettings,
        Signal,
        search_star,
        signal_views,
        triage_metadata,
        vet,
    )

    def out(signal, result, found: bool, reported: bool) -> dict:
        """The row of ``signal`` (None: no signal at all, NaN values)."""
        if signal is None:
            row = {**dict.fromkeys(SIGNAL_COLUMNS, np.nan), "found": False, "reported": False}
        else:
            row = {**signal.model_inputs(), "found": found, "reported": reported}
        if views:
            if signal is not None:
                row |= triage_metadata(signal)
            if signal is not None and result is not None and result.time.size:
                row |= signal_views(result.time, result.flux, result.signals, signal)
            else:  # nothing to fold on: views without a usable bin
                from exohunt.lightcurve.views import GLOBAL_BINS, LOCAL_BINS

                row["global_view"] = np.full(GLOBAL_BINS, np.nan, dtype=np.float32)
                row["local_view"] = np.full(LOCAL_BINS, np.nan, dtype=np.float32)
        return row

    try:
        result = search_star(t, flux, settings or SearchSettings())
    except ValueError:
        result = None
    signals = [] if result is None else result.signals
    if record.get("kind") in ("planet", "eb"):
        period, epoch = record["period"], record["epoch"]
        single = record.get("n_transits", 2) < 2
        for signal in signals:
            if single:
                hit = abs(signal.epoch - epoch) < record["duration_hours"] / 24.0
            elif signal.single:  # one of the injected transits, found alone
                cycle = np.round((signal.epoch - epoch) / period)
                hit = abs(signal.epoch - epoch - cycle * period) < record["duration_hours"] / 24.0
            else:
                ratio = signal.period / period
                hit = any(abs(ratio / r - 1) < 5e-3 for r in (0.5, 1.0, 2.0))
            if hit:
                return out(signal, result, True, True)
        injected = Signal(
            0, np.nan if single else period, epoch, record["duration_hours"] / 24.0,
            np.nan, np.nan, single=single, period_lower_limit=period if single else np.nan,
        )  # fmt: skip
        if result is not None and result.time.size:
            vet(result.time, result.flux, injected)
        return out(injected, result, False, False)
    if signals:
        return out(signals[0], result, False, True)
    weakest = SearchSettings(max_planets=1, min_snr=1e-9, min_single_snr=1e-9)
    try:  # the strongest peak, however weak
        result = search_star(t, flux, weakest)
    except ValueError:
        result = None
    if result is None or not result.signals:
        return out(None, None, False, False)
    return out(result.signals[0], result, False, False)


def write_injection(
    rows: pd.DataFrame, truth: pd.DataFrame, out_path, reported_only: bool = True
) -> tuple[Path, Path]:
    """Write ``rows`` as flux-csv (with their signal columns) and ``truth`` beside it.

    ``reported_only`` keeps the rows whose signal a scan reports (``signal_reported``): the
    signals a model is asked to score, planets the search finds over its threshold and
    whatever else crosses it. The truth table keeps every row, with ``written`` saying which.
    """
    from exohunt.lightcurve.simulate import write_simulation

    keep = np.ones(len(rows), dtype=bool)
    if reported_only and "signal_reported" in truth:
        keep = truth["signal_reported"].astype(bool).to_numpy()
    truth = truth.assign(written=keep)
    if len(np.unique(rows.loc[keep, "label"])) < 2:
        raise DataError(
            f"only {int(keep.sum())} of {len(rows)} light curves have a signal a scan reports, "
            "all of one class: inject more (--n) or keep every row (--all-signals)"
        )
    return write_simulation(rows[keep].reset_index(drop=True), truth, out_path, format="flux-csv")
