"""Speed of the BLS transit search and of the transit features, in light curves per second.

Light curves are Kaggle/K2-sized: 3,197 long cadences (65 d), white + red noise and stellar
variability, with a transit in half of them. The search uses exohunt's defaults: 5,000 trial
periods from 0.5 d to a third of the baseline and 7 durations from 1 to 8 h. Measured in one run:

- the fast search (:func:`exohunt.lightcurve.bls.bls_search`) on one core, and on every core
  with joblib (loky processes, after the workers have started);
- astropy's BoxLeastSquares (:func:`exohunt.lightcurve.bls.bls_reference`) on a few curves: it
  is slow;
- the whole :class:`exohunt.features.TransitFeatures` step (clean, normalise, detrend, clip,
  search, vetting statistics) on one core and on every core.

The machine is shared, so wall-clock rates vary from run to run with the load (printed). The CPU
time per curve (summed over worker processes) varies less; ``cores x 1000 / CPU ms`` is the rate
the same code reaches when it has the cores to itself. Takes about a minute on 2 cores.

    python bench/bls_speed.py [--curves N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from exohunt.features import TransitFeatures
from exohunt.lightcurve.bls import bls_reference, bls_search, default_durations, period_grid
from exohunt.lightcurve.clean import KEPLER_LONG_CADENCE_DAYS, detrend, normalize
from exohunt.lightcurve.views import fold

N_CADENCES = 3197


def make_curves(n: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """``n`` light curves in e-/s on one Kepler long-cadence time grid (days)."""
    rng = np.random.default_rng(seed)
    time_ = np.arange(N_CADENCES) * KEPLER_LONG_CADENCE_DAYS
    curves = []
    for i in range(n):
        flux = 1 + rng.normal(0, 5e-4, time_.size)
        flux += np.convolve(rng.normal(0, 3e-4, time_.size), np.ones(8) / 8, mode="same")
        flux += 2e-3 * np.sin(2 * np.pi * time_ / rng.uniform(3, 20))
        if i % 2 == 0:
            period = rng.uniform(0.7, 15)
            phase = fold(time_, period, rng.uniform(0, period))
            flux -= rng.uniform(3e-4, 3e-3) * (np.abs(phase) < rng.uniform(0.05, 0.25) / 2)
        curves.append(1e4 * flux)
    return time_, curves


def _search_cpu(time_, fluxes, periods, durations) -> float:
    """Run the fast search on each curve; return the CPU seconds it took (in this process)."""
    started = time.process_time()
    for flux in fluxes:
        bls_search(time_, flux, periods, durations)
    return time.process_time() - started


def _worker_cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by processes ``pids`` (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _child_pids() -> list[int]:
    """Process ids of this process's children (the joblib/loky workers), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid():
            children.append(int(entry))
    return children


def measure(run, n: int, pids=None) -> tuple[float, float]:
    """``(curves per second, CPU ms per curve)`` of ``run()`` handling ``n`` curves."""
    cpu_before = time.process_time() + (_worker_cpu_seconds(pids) if pids else 0.0)
    started = time.perf_counter()
    extra = run() or 0.0  # CPU seconds that worker tasks report, if any
    wall = time.perf_counter() - started
    cpu_after = time.process_time() + (_worker_cpu_seconds(pids) if pids else 0.0)
    cpu = cpu_after - cpu_before + extra
    return n / wall, 1000 * cpu / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=60, help="light curves per measurement")
    args = parser.parse_args()
    from joblib import Parallel, delayed

    cores = os.cpu_count() or 1
    time_, raw = make_curves(args.curves)
    prepared = [detrend(time_, normalize(f)) for f in raw]
    periods = period_grid(time_)
    durations = default_durations()
    print(
        f"{N_CADENCES} cadences, {periods.size} periods ({periods[0]:g}-{periods[-1]:.1f} d), "
        f"{durations.size} durations; {cores} cores, load average {os.getloadavg()[0]:.1f} "
        "at start"
    )

    serial = prepared[: max(4, args.curves // 3)]
    _search_cpu(time_, serial[:1], periods, durations)  # warm up

    def on_one_core():
        _search_cpu(time_, serial, periods, durations)  # its CPU time is this process's

    fast_1 = measure(on_one_core, len(serial))

    parallel = Parallel(n_jobs=cores, backend="loky")
    batches = [prepared[i::cores] for i in range(cores)]  # one task per core: little overhead
    parallel(delayed(_search_cpu)(time_, b[:1], periods, durations) for b in batches)  # start

    def on_all_cores():
        return sum(parallel(delayed(_search_cpu)(time_, b, periods, durations) for b in batches))

    fast_n = measure(on_all_cores, len(prepared))

    n_astropy = 3

    def with_astropy():
        for flux in prepared[:n_astropy]:
            bls_reference(time_, flux, periods, durations)

    astropy = measure(with_astropy, n_astropy)

    frame = pd.DataFrame({"flux": raw})
    part = frame.iloc[: len(serial)]
    step_1 = TransitFeatures(n_jobs=1).fit(frame)
    features_1 = measure(lambda: step_1.transform(part)[:0].sum(), len(part))
    step_n = TransitFeatures(n_jobs=-1).fit(frame)
    step_n.transform(frame.iloc[: 8 * cores])  # start the workers
    features_n = measure(lambda: step_n.transform(frame)[:0].sum(), len(frame), _child_pids())

    rows = [
        ("fast BLS search", 1, fast_1),
        ("fast BLS search (joblib)", cores, fast_n),
        ("astropy BoxLeastSquares", 1, astropy),
        ("TransitFeatures", 1, features_1),
        ("TransitFeatures", cores, features_n),
    ]
    print(f"\n| {'what':26s} | cores | curves/s | CPU ms/curve | curves/s, idle cores |")
    print(f"|{'-' * 28}|------:|---------:|-------------:|---------------------:|")
    for name, used, (per_second, cpu_ms) in rows:
        idle = used * 1000 / cpu_ms
        print(f"| {name:26s} | {used:5d} | {per_second:8.1f} | {cpu_ms:12.1f} | {idle:20.1f} |")
    print(
        f"\nastropy / fast search, CPU per curve: {astropy[1] / fast_1[1]:.0f}x; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
