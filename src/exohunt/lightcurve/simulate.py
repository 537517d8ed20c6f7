"""Simulated Kepler long-cadence light curves with known answers, for injection-recovery tests.

:func:`simulate` returns ``(rows, truth)``. ``rows`` is what a classifier sees: ``star_id``
(``sim-000001``, ...), ``label`` (1 planet, 0 not), ``time`` (BKJD-like days) and ``flux`` (e-/s,
NaN in data gaps), one light curve per row. ``truth`` has one row per star with what was put in
(:data:`TRUTH_COLUMNS`). :func:`write_simulation` writes both as CSV files.

Noise, per star (relative to its median flux, then scaled to e-/s):

- white: photon noise of a median flux drawn log-uniform in 3e3-3e5 e-/s (Kp ~16.5-11.5) over
  the 1625 s of exposure of a long cadence, read noise and background of 1.5-3 e-/s per cadence,
  and a 10-40 ppm floor, in quadrature: 50-1100 ppm per cadence (CDPP 15-300 ppm over 6.5 h);
- red: AR(1) correlated noise (supergranulation, pointing jitter), 10-50 ppm rms, correlation time
  0.5-6 h: 5-40 ppm over 6.5 h (Gilliland et al. 2011 find ~20 ppm for Sun-like Kepler stars);
- spots: quasi-periodic rotational modulation, the first two harmonics of a rotation period
  (log-normal around 12 d, 0.3 dex, within 1-30 d: about 10% of stars below 5 d) whose
  amplitudes evolve smoothly over a spot lifetime of 1-4 rotations; rms log-uniform in 20-2000 ppm
  times ``sqrt(12 d / period)`` (fast rotators are more active), at most 1%;
- systematics: a slow quadratic drift and an exponential thermal ramp after each data gap;
- gaps: a 0.5-1.5 d downlink gap near mid-quarter (90% of stars), sometimes a second 0.5-3 d gap,
  and one cadence every ~3 d (momentum dumps); their flux is NaN;
- outliers and flares: a few single-cadence outliers of 3-8 sigma (70% upward); 15% of stars
  flare 1-4 times (0.03-1%, decaying over 15 min-2.4 h).

Signals, by ``kind``: ``planet`` (label 1) is a batman transit with quadratic limb darkening,
integrated over the cadence, period log-uniform in 0.5-20 d (at least two observed), impact
parameter 0-0.9, a star of 0.3-2 solar densities, and a radius ratio chosen so that the SNR is
log-uniform over ``snr_range``. ``eb`` (label 0) is an eclipsing binary on the same periods: a
primary eclipse of 0.1-30% depth (log-uniform; the shallow ones diluted by other light in the
aperture; often grazing and V-shaped), a secondary eclipse at phase 0.5 that is either comparable
to the primary (30-100% of it: folded at half the period these show odd/even depth differences)
or faint (1-30%), and ellipsoidal modulation. ``none`` (label 0) is noise and variability only.

SNR: ``snr = box_depth / noise_per_point * sqrt(n_in_transit)``. ``n_in_transit`` counts the
observed cadences whose centre lies between first and fourth contact; ``box_depth`` is the mean
fractional deficit of the noiseless (cadence-integrated) model over those cadences, the depth a
box fit measures (``depth``, the mid-transit depth, is ~10-20% larger, more when grazing);
``noise_per_point`` is ``noise_ppm``, the white and red noise per cadence, without the spot
modulation a detrender removes. In white noise it is the SNR of a perfect box search.
``mes``, the red-noise-aware analogue of Kepler's multiple event statistic, is
``box_depth * sqrt(n_transits) / noise_over_duration``, the noise being that of the white and red
noise averaged over one transit duration. The same figures are given for the primary eclipse of
eclipsing binaries.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import ConfigError, optional_import
from exohunt.lightcurve.simulate_noise import (
    LONG_CADENCE_MINUTES,
    draw_stars,
    loguniform,
    stellar_noise,
)

log = logging.getLogger(__name__)

FORMATS = ("flux-csv", "kaggle")
#: a/R* of a one-day circular orbit around a star of solar density (Kepler's third law).
A_RS_ONE_DAY = (6.674e-8 * 1.41 * 86400.0**2 / (3 * np.pi)) ** (1 / 3)
SUPERSAMPLE = 5
_BLOCK = 500  # stars whose noise is drawn at once (bounds memory)
TRUTH_COLUMNS = (
    *("star_id", "label", "kind", "period", "epoch", "rp_rs", "a_rs", "inc", "impact"),
    *("duration_hours", "depth", "box_depth", "snr", "mes", "n_transits", "n_in_transit"),
    *("u1", "u2"),
    *("eb_secondary_depth", "eb_odd_even_ratio", "eb_mass_ratio", "eb_ellipsoidal_ppm"),
    *("noise_ppm", "white_noise_ppm", "red_noise_ppm", "red_noise_hours", "rotation_period"),
    *("spot_ppm", "flux_median", "n_gap_cadences", "n_outliers", "n_flares"),
)

#: progress(stage, done, total), as in :mod:`exohunt.train`.
Progress = Callable[[str, int, int], None]


def simulate(
    n: int = 2000,
    seed: int = 0,
    n_points: int = 3197,
    cadence_minutes: float = LONG_CADENCE_MINUTES,
    planet_fraction: float = 0.5,
    eb_fraction: float = 0.15,
    snr_range: tuple[float, float] = (4.0, 40.0),
    period_range: tuple[float, float] | None = None,
    start_time: float = 131.5,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``n`` labelled Kepler-like light curves; see the module docstring.

    ``round(n * planet_fraction)`` rows are planets and ``round(n * eb_fraction)`` eclipsing
    binaries, in random order. ``period_range`` (days) defaults to 0.5 d up to the smaller of 20 d
    and a third of the baseline. The same arguments always give the same result.

    Returns ``(rows, truth)``. Raises ConfigError for an invalid option.
    """
    cadence = cadence_minutes / 1440.0
    period_range = _check_options(
        n, seed, n_points, cadence_minutes, planet_fraction, eb_fraction, snr_range, period_range
    )
    batman = _import_batman()
    rng = np.random.default_rng(seed)
    time = start_time + cadence * np.arange(n_points)
    n_planet, n_eb = round(n * planet_fraction), round(n * eb_fraction)
    kinds = rng.permutation(
        np.repeat(["planet", "eb", "none"], [n_planet, n_eb, n - n_planet - n_eb])
    )
    stars = draw_stars(rng, n)
    star_rows = stars.to_dict("records")
    flux = np.empty((n, n_points))
    records = []
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        noise, variability, observed, counts = stellar_noise(rng, time, stars.iloc[start:stop])
        for j, i in enumerate(range(start, stop)):
            params = {"kind": kinds[i], **counts[j]}
            signal = np.ones(n_points)
            if kinds[i] == "planet":
                signal, found = _planet(
                    rng, batman, time, observed[j], star_rows[i], snr_range, period_range
                )
                params |= found
            elif kinds[i] == "eb":
                signal, found = _eclipsing_binary(
                    rng, batman, time, observed[j], star_rows[i], period_range
                )
                params |= found
            flux[i] = signal * (1.0 + variability[j]) + noise[j]
            flux[i, ~observed[j]] = np.nan
            records.append(params)
        if progress is not None:
            progress("simulating light curves", stop, n)
    flux *= stars["flux_median"].to_numpy()[:, None]
    star_ids = np.array([f"sim-{i + 1:06d}" for i in range(n)])
    labels = (kinds == "planet").astype(int)
    time.setflags(write=False)
    rows = pd.DataFrame({"star_id": star_ids, "label": labels})
    rows["time"] = pd.Series([time] * n, dtype=object)
    rows["flux"] = pd.Series(list(flux), dtype=object)
    truth = pd.concat([pd.DataFrame(records), stars], axis=1).assign(star_id=star_ids, label=labels)
    log.debug("simulated %d light curves: %d planets, %d eclipsing binaries", n, n_planet, n_eb)
    return rows, truth.reindex(columns=list(TRUTH_COLUMNS))


def write_simulation(
    rows: pd.DataFrame, truth: pd.DataFrame, out_path, format: str = "flux-csv"
) -> tuple[Path, Path]:
    """Write ``rows`` in ``format`` at ``out_path`` and ``truth`` beside it; return both paths.

    ``flux-csv``: columns ``star_id, label, time, flux``; ``time`` and ``flux`` hold JSON-style
    lists (time to 1e-5 d, flux to 7 significant digits, ``NaN`` in gaps, which the reader drops).
    ``kaggle``: ``LABEL`` (2 planet, 1 not) and ``FLUX.1 .. FLUX.<n_points>``, no time and no star
    id; gaps are filled by linear interpolation in time, because Kaggle files hold no NaN.
    The truth table goes to :func:`truth_path` (``sim.csv`` -> ``sim.truth.csv``), rows in the
    same order. A name ending in ``.gz`` writes gzipped data. Raises ConfigError for an unknown
    format.
    """
    if format not in FORMATS:
        raise ConfigError(
            f"unknown --format '{format}' for simulated data; choose flux-csv or kaggle"
        )
    path = Path(out_path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _write_flux_csv if format == "flux-csv" else _write_kaggle
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as handle:
        writer(rows, handle)
    truth_file = truth_path(path)
    truth.to_csv(truth_file, index=False, float_format="%.7g")
    log.debug("wrote %d simulated rows to %s and their truth to %s", len(rows), path, truth_file)
    return path, truth_file


def truth_path(data_path) -> Path:
    """The truth sidecar of a simulated data file: ``<name without .csv/.gz>.truth.csv``."""
    path = Path(data_path)
    return path.with_name(path.name.removesuffix(".gz").removesuffix(".csv") + ".truth.csv")


# --------------------------------------------------------------------------- options
def _check_options(
    n, seed, n_points, cadence_minutes, planet_fraction, eb_fraction, snr_range, period_range
):
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"--n {n} must be a whole number of at least 1 (for example --n 2000)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            f"--seed {seed} must be a non-negative whole number (for example --seed 0)"
        )
    if not isinstance(n_points, (int, np.integer)) or n_points < 100:
        raise ConfigError(f"--n-points {n_points} must be at least 100 cadences (Kepler: 3197)")
    if not cadence_minutes > 0:
        raise ConfigError(f"--cadence-minutes {cadence_minutes} must be positive (Kepler: 29.4244)")
    for option, value in (("--planet-fraction", planet_fraction), ("--eb-fraction", eb_fraction)):
        if not 0 <= value <= 1:
            raise ConfigError(f"{option} {value} is outside [0, 1]; give a fraction such as 0.5")
    if planet_fraction + eb_fraction > 1:
        raise ConfigError(
            f"--planet-fraction {planet_fraction} plus --eb-fraction {eb_fraction} exceed 1; "
            "lower one of them"
        )
    low, high = snr_range
    if not 0 < low <= high:
        raise ConfigError(f"--snr-range {low} {high} must be two positive numbers, low first")
    baseline = n_points * cadence_minutes / 1440.0
    if period_range is None:
        return 0.5, max(0.5, min(20.0, baseline / 3))
    low, high = period_range
    if not 0 < low <= high or high > baseline / 2:
        raise ConfigError(
            f"--period-range {low} {high} must be positive days, low first, at most half the "
            f"{baseline:.1f}-d baseline (so that every planet transits at least twice)"
        )
    return low, high


def _import_batman():
    return optional_import("batman", "exohunt simulate", extra="sim", package="batman-package")


# --------------------------------------------------------------------------- transits and eclipses
def _geometry(period, density, impact, rp_rs, mass_ratio=0.0) -> dict:
    """a/R*, inclination (degrees) and duration (first to fourth contact, days) of a circular
    orbit around a star of ``density`` solar densities."""
    a_rs = A_RS_ONE_DAY * period ** (2 / 3) * (density * (1 + mass_ratio)) ** (1 / 3)
    a_rs = max(a_rs, 1.5 * (1 + rp_rs))
    inc = np.arccos(impact / a_rs)
    chord = np.sqrt(max((1 + rp_rs) ** 2 - impact**2, 0.0)) / (a_rs * np.sin(inc))
    duration = period / np.pi * np.arcsin(min(chord, 1.0))
    return {"a_rs": a_rs, "inc": float(np.degrees(inc)), "duration": duration}


def _eclipse(batman, time, period, epoch, rp_rs, geometry, u, secondary=False, exposure=None):
    """Fractional flux deficit of a transit (for ``secondary``: the occulted fraction of the
    companion) on ``time``, integrated over the cadence (``exposure`` days, by default the first
    time step); and its value at mid-eclipse."""
    cadence = time[1] - time[0] if exposure is None else exposure
    centre = epoch + period / 2 if secondary else epoch
    offset = (time - centre + period / 2) % period - period / 2
    near = np.abs(offset) < geometry["duration"] / 2 + cadence
    params = batman.TransitParams()
    params.t0, params.per, params.rp = epoch, period, rp_rs
    params.a, params.inc, params.ecc, params.w = geometry["a_rs"], geometry["inc"], 0.0, 90.0
    params.limb_dark, params.u = "quadratic", list(u)
    params.fp, params.t_secondary = 1.0, epoch + period / 2
    model = batman.TransitModel(
        params,
        np.append(time[near], centre),
        supersample_factor=SUPERSAMPLE,
        exp_time=cadence,
        transittype="secondary" if secondary else "primary",
    )
    deficit = (2.0 if secondary else 1.0) - model.light_curve(params)
    out = np.zeros(time.size)
    out[near] = deficit[:-1]
    return out, float(deficit[-1])


def _orbit(rng, time: np.ndarray, observed: np.ndarray, period_range) -> tuple[float, float]:
    """Period and epoch (days) with at least two transit centres on observed cadences."""
    for _ in range(20):
        period = float(loguniform(rng, *period_range))
        epoch = float(time[0] + rng.uniform(0, period))
        centres = np.arange(epoch, time[-1], period)
        if observed[np.searchsorted(time, centres).clip(max=time.size - 1)].sum() >= 2:
            break
    return period, epoch


def _coverage(time, observed, period, epoch, duration) -> tuple[np.ndarray, int]:
    """Observed cadences whose centre is in transit (mask), and the transits they belong to."""
    offset = (time - epoch + period / 2) % period - period / 2
    inside = observed & (np.abs(offset) < duration / 2)
    return inside, int(np.unique(np.round((time[inside] - epoch) / period)).size)


def _detection(time, observed, deficit, depth, period, epoch, duration, star: dict) -> dict:
    """Depths, coverage, ``snr`` and ``mes`` of a transit or primary eclipse (module docstring).

    ``mes`` uses the white and AR(1) red noise averaged over ``duration`` (days)."""
    inside, n_transits = _coverage(time, observed, period, epoch, duration)
    n_in = int(inside.sum())
    box_depth = float(deficit[inside].mean()) if n_in else 0.0
    cadence = time[1] - time[0]
    white, red = star["white_noise_ppm"] * 1e-6, star["red_noise_ppm"] * 1e-6
    phi = np.exp(-cadence * 24 / star["red_noise_hours"])
    m = max(1, round(duration / cadence))
    lags = np.arange(1, m)
    red_variance = red**2 * (m + 2 * np.sum((m - lags) * phi**lags)) / m**2
    noise_over_duration = np.sqrt(white**2 / m + red_variance)
    return {
        "depth": depth,
        "box_depth": box_depth,
        "n_transits": n_transits,
        "n_in_transit": n_in,
        "snr": box_depth / (star["noise_ppm"] * 1e-6) * np.sqrt(n_in),
        "mes": box_depth * np.sqrt(n_transits) / noise_over_duration,
    }


def _limb_darkening(rng) -> tuple[float, float]:
    return float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.1, 0.35))


def _planet(rng, batman, time, observed, star: dict, snr_range, period_range):
    """A transit whose radius ratio is tuned (three passes) to a log-uniform target SNR."""
    impact, u = float(rng.uniform(0, 0.9)), _limb_darkening(rng)
    density, target = loguniform(rng, 0.3, 2.0), loguniform(rng, *snr_range)
    period, epoch = _orbit(rng, time, observed, period_range)
    sigma, rp_rs = star["noise_ppm"] * 1e-6, 0.02
    for attempt in range(3):
        geometry = _geometry(period, density, impact, rp_rs)
        deficit, depth = _eclipse(batman, time, period, epoch, rp_rs, geometry, u)
        found = _detection(
            time, observed, deficit, depth, period, epoch, geometry["duration"], star
        )
        if attempt < 2 and found["box_depth"] > 0:
            needed = target * sigma / np.sqrt(found["n_in_transit"])
            rp_rs = float(np.clip(rp_rs * np.sqrt(needed / found["box_depth"]), 0.002, 0.2))
    found |= _orbit_columns(period, epoch, rp_rs, geometry, impact, u)
    return 1.0 - deficit, found


def _eclipsing_binary(rng, batman, time, observed, star: dict, period_range):
    """Diluted primary eclipse, secondary eclipse at phase 0.5, and ellipsoidal modulation."""
    rp_rs, mass_ratio = float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.3, 1.0))
    impact, u = float(rng.uniform(0, 0.95 * (1 + rp_rs))), _limb_darkening(rng)
    density = loguniform(rng, 0.3, 2.0)
    period, epoch = _orbit(rng, time, observed, period_range)
    geometry = _geometry(period, density, impact, rp_rs, mass_ratio)
    primary, raw_depth = _eclipse(batman, time, period, epoch, rp_rs, geometry, u)
    depth = min(float(loguniform(rng, 1e-3, 0.3)), raw_depth)
    dilution = depth / raw_depth  # light of the companion and of other stars in the aperture
    twin = rng.random() < 0.5
    ratio = float(rng.uniform(0.3, 1.0) if twin else loguniform(rng, 0.01, 0.3))
    occulted, occulted_mid = _eclipse(batman, time, period, epoch, rp_rs, geometry, u, True)
    secondary = occulted / occulted_mid if occulted_mid > 0 else occulted
    inc = np.radians(geometry["inc"])
    ellipsoidal = dilution * mass_ratio * np.sin(inc) ** 2 / geometry["a_rs"] ** 3
    phase = 4 * np.pi * (time - epoch) / period
    signal = 1.0 - dilution * primary - ratio * depth * secondary - ellipsoidal * np.cos(phase)
    duration = geometry["duration"]
    found = {
        **_orbit_columns(period, epoch, rp_rs, geometry, impact, u),
        **_detection(time, observed, dilution * primary, depth, period, epoch, duration, star),
        "eb_secondary_depth": ratio * depth,
        "eb_odd_even_ratio": ratio,
        "eb_mass_ratio": mass_ratio,
        "eb_ellipsoidal_ppm": ellipsoidal * 1e6,
    }
    return signal, found


def _orbit_columns(period, epoch, rp_rs, geometry, impact, u) -> dict:
    return {
        "period": period,
        "epoch": epoch,
        "rp_rs": rp_rs,
        "a_rs": geometry["a_rs"],
        "inc": geometry["inc"],
        "impact": impact,
        "duration_hours": geometry["duration"] * 24,
        "u1": u[0],
        "u2": u[1],
    }


# --------------------------------------------------------------------------- writers
def _format_list(template: str, values: np.ndarray) -> str:
    return "[" + (template % tuple(values.tolist())).replace("nan", "NaN") + "]"


def _write_flux_csv(rows: pd.DataFrame, handle) -> None:
    """``star_id, label, time, flux``, then any other (numeric) columns of ``rows``."""
    extra = [c for c in rows.columns if c not in ("star_id", "label", "time", "flux")]
    handle.write(",".join(["star_id", "label", "time", "flux", *extra]) + "\n")
    cache: dict[int, tuple[object, str]] = {}
    values = rows[extra].to_numpy(dtype=float) if extra else np.empty((len(rows), 0))
    for k, (star_id, label, time, flux) in enumerate(
        rows[["star_id", "label", "time", "flux"]].itertuples(index=False)
    ):
        if id(time) not in cache:  # simulated rows share one time array: format it once
            cache = {id(time): (time, _format_list(",".join(["%.5f"] * len(time)), time))}
        template = ",".join(["%.7g"] * len(flux))
        tail = "".join("," + ("" if not np.isfinite(v) else f"{v:.9g}") for v in values[k])
        handle.write(
            f'{star_id},{int(label)},"{cache[id(time)][1]}","{_format_list(template, flux)}"'
            f"{tail}\n"
        )


def _write_kaggle(rows: pd.DataFrame, handle) -> None:
    n_points = len(rows["flux"].iloc[0])
    handle.write("LABEL," + ",".join(f"FLUX.{k}" for k in range(1, n_points + 1)) + "\n")
    template = ",".join(["%.7g"] * n_points)
    for label, time, flux in rows[["label", "time", "flux"]].itertuples(index=False):
        if len(flux) != n_points:
            raise ConfigError(
                f"the kaggle format needs light curves of equal length; got {len(flux)} and "
                f"{n_points} points (use --format flux-csv)"
            )
        ok = np.isfinite(flux)
        filled = np.interp(time, time[ok], flux[ok]) if not ok.all() else flux
        handle.write(f"{2 if label == 1 else 1}," + template % tuple(filled.tolist()) + "\n")
