"""The stars and the noise of :mod:`exohunt.lightcurve.simulate`: brightness, white and red noise, spots,
systematics, gaps, outliers and flares (the model of each is described in that module).

Every function draws from the ``numpy.random.Generator`` it is given, so a seed fixes a star.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LONG_CADENCE_MINUTES = 29.4244
EXPOSURE_SECONDS = 1625.3  # 270 frames of 6.02 s in one Kepler long cadence


def loguniform(rng, low, high, size=None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def draw_stars(rng, n: int) -> pd.DataFrame:
    """Brightness, noise and rotation of ``n`` Sun-like Kepler dwarfs (see the module docstring)."""
    flux_median = loguniform(rng, 3e3, 3e5, n)
    photon = 1 / (flux_median * EXPOSURE_SECONDS)
    read = (rng.uniform(1.5, 3.0, n) / flux_median) ** 2  # read noise and background, e-/s
    white = np.sqrt(photon + read + (rng.uniform(10, 40, n) * 1e-6) ** 2)
    red = loguniform(rng, 10e-6, 50e-6, n)
    rotation = np.clip(10 ** rng.normal(np.log10(12.0), 0.3, n), 1.0, 30.0)
    spots = np.minimum(loguniform(rng, 20.0, 2000.0, n) * np.sqrt(12.0 / rotation), 1e4)
    return pd.DataFrame(
        {
            "noise_ppm": np.hypot(white, red) * 1e6,
            "white_noise_ppm": white * 1e6,
            "red_noise_ppm": red * 1e6,
            "red_noise_hours": loguniform(rng, 0.5, 6.0, n),
            "rotation_period": rotation,
            "spot_ppm": spots,
            "flux_median": flux_median,
        }
    )


def ar1(rng, n_steps: int, phi: np.ndarray) -> np.ndarray:
    """Stationary unit-variance AR(1) series, one per entry of ``phi``: shape (len(phi), n_steps)."""
    shocks = rng.standard_normal((n_steps, phi.size))
    scale = np.sqrt(1 - phi**2)
    out = np.empty_like(shocks)
    out[0] = shocks[0]
    for step in range(1, n_steps):
        out[step] = phi * out[step - 1] + scale * shocks[step]
    return out.T


def stellar_noise(rng, time: np.ndarray, stars: pd.DataFrame):
    """Additive noise, multiplicative variability, observed-cadence mask and per-star counts."""
    n, cadence = len(stars), time[1] - time[0]
    white = stars["white_noise_ppm"].to_numpy()[:, None] * 1e-6
    red = stars["red_noise_ppm"].to_numpy()[:, None] * 1e-6
    phi = np.exp(-cadence * 24 / stars["red_noise_hours"].to_numpy())
    noise = white * rng.standard_normal((n, time.size)) + red * ar1(rng, time.size, phi)
    variability = spots(rng, time, stars) + drift(rng, time, n)
    observed = np.ones((n, time.size), dtype=bool)
    sigma = stars["noise_ppm"].to_numpy() * 1e-6
    counts = []
    for i in range(n):
        variability[i] += gaps(rng, time, observed[i])
        events, n_outliers, n_flares = outliers_and_flares(rng, time, sigma[i])
        noise[i] += events
        counts.append(
            {
                "n_gap_cadences": int((~observed[i]).sum()),
                "n_outliers": n_outliers,
                "n_flares": n_flares,
            }
        )
    return noise, variability, observed, counts


def spots(rng, time: np.ndarray, stars: pd.DataFrame) -> np.ndarray:
    """Quasi-periodic spot modulation: two harmonics of the rotation period whose quadratures
    evolve smoothly over the spot lifetime, scaled to each star's ``spot_ppm`` rms."""
    n, step = len(stars), 0.25
    period = stars["rotation_period"].to_numpy()[:, None]
    lifetime = np.repeat(period[:, 0] * rng.uniform(1, 4, n), 4)
    grid = step * np.arange(int(np.ceil((time[-1] - time[0]) / step)) + 2)
    quadratures = smooth_series(rng, grid, lifetime) @ interpolation_matrix(time, step, grid.size)
    wander = np.asarray(quadratures).reshape(n, 4, time.size)
    angle = 2 * np.pi * (time - time[0]) / period + rng.uniform(0, 2 * np.pi, (n, 1))
    second = rng.uniform(0.1, 0.5, (n, 1))
    cos, sin = np.cos(angle), np.sin(angle)
    spots = wander[:, 0] * cos + wander[:, 1] * sin
    spots += second * (wander[:, 2] * (2 * cos**2 - 1) + wander[:, 3] * (2 * sin * cos))
    rms = stars["spot_ppm"].to_numpy()[:, None] * 1e-6
    return spots * rms / spots.std(axis=1, keepdims=True)


def smooth_series(rng, grid: np.ndarray, length: np.ndarray, terms: int = 8) -> np.ndarray:
    """Smooth random series on ``grid``, one per entry of ``length`` (days): random Fourier
    features of a squared-exponential kernel, so they vary over ``length`` and not faster.
    Unlike an AR(1), they add no power on transit timescales."""
    omega = rng.standard_normal((length.size, terms, 1)) / length[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (length.size, terms, 1))
    return np.sqrt(2 / terms) * np.cos(omega * grid + phase).sum(axis=1)


def interpolation_matrix(time: np.ndarray, step: float, coarse: int):
    """Sparse (coarse, len(time)) matrix that linearly interpolates a grid of spacing ``step``."""
    from scipy import sparse

    position = (time - time[0]) / step
    left, weight = position.astype(int), position % 1
    columns = np.arange(time.size)
    return sparse.csc_array(
        (np.r_[1 - weight, weight], (np.r_[left, left + 1], np.r_[columns, columns])),
        shape=(coarse, time.size),
    )


def drift(rng, time: np.ndarray, n: int) -> np.ndarray:
    """Slow residual systematics: a linear and a quadratic term of ~100 ppm over the baseline."""
    x = 2 * (time - time[0]) / (time[-1] - time[0]) - 1
    linear, quadratic = rng.normal(0, 1e-4, (2, n, 1))
    return linear * x + quadratic * (x**2 - 1 / 3)


def gaps(rng, time: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Mark gap cadences unobserved (in place); return the thermal ramps that follow the gaps."""
    span, ramp = time[-1] - time[0], np.zeros(time.size)
    gaps = []
    if rng.random() < 0.9:  # the monthly data downlink
        gaps.append((time[0] + span * rng.uniform(0.42, 0.55), rng.uniform(0.5, 1.5)))
    if rng.random() < 0.2:  # a safe mode or a lost downlink
        gaps.append((time[0] + span * rng.uniform(0, 0.95), rng.uniform(0.5, 3.0)))
    for start, length in gaps:
        end = start + length
        observed &= ~((time >= start) & (time < end))
        after = time >= end
        amplitude = rng.choice([-1.0, 1.0]) * loguniform(rng, 2e-5, 5e-4)
        ramp[after] += amplitude * np.exp(-(time[after] - end) / rng.uniform(0.2, 1.0))
    dumps = time[0] + rng.uniform(0, 3.0) + np.arange(0, span, 3.0)  # momentum dumps
    observed[np.searchsorted(time, dumps[dumps < time[-1]])] = False
    return ramp


def outliers_and_flares(rng, time: np.ndarray, sigma: float) -> tuple[np.ndarray, int, int]:
    """Single-cadence outliers (70% positive, 3-8 sigma) and, for 15% of stars, 1-4 flares."""
    out = np.zeros(time.size)
    n_outliers = int(rng.poisson(1.5))
    where = rng.integers(0, time.size, n_outliers)
    sign = np.where(rng.random(n_outliers) < 0.7, 1.0, -1.0)
    out[where] += sign * rng.uniform(3, 8, n_outliers) * sigma
    n_flares = min(1 + int(rng.poisson(1.0)), 4) if rng.random() < 0.15 else 0
    for _ in range(n_flares):
        after = time >= rng.uniform(time[0], time[-1])
        decay = (time[after] - time[after][0]) / loguniform(rng, 0.01, 0.1)
        out[after] += loguniform(rng, 3e-4, 1e-2) * np.exp(-decay)
    return out, n_outliers, n_flares
