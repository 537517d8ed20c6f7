"""Speed of ``exohunt scan``, against astropy's BLS and TLS on the same light curves.

Light curves: 3,197 Kepler long cadences (65 d) from exohunt's simulator (stellar noise, spots,
gaps, flares; a planet in half, an eclipsing binary in 15%), with one or two more box transits
added to a third of them, so that a star holds up to 3 signals. The scan searches each star for up
to 3 signals (``--max-planets 3``), through the same path as the command: stars streamed from a
Parquet file in chunks of 50, searched on 2 processes.

Printed:

- curves per second on 2 cores, idle and beside a process that keeps one core busy (the goal is
  at least 20 per second), and the CPU time per curve;
- the scanning process's memory at the end of each chunk, over N and 4N curves streamed from
  Parquet (the search itself runs in worker processes): it follows the chunk, not the number of
  curves;
- on a subset, one search per curve by astropy's ``BoxLeastSquares`` (the same period grid and
  durations as the scan's first search) and by ``transitleastsquares`` (its own grid, 2 threads),
  with exohunt's first search beside them: seconds per curve, and how many planets each finds at
  their true period (within 1%).

    python bench/scan.py [--curves 400] [--astropy 20] [--tls 6] [--memory 500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.lightcurve.search import SearchSettings, search_star
from exohunt.lightcurve.simulate import simulate
from exohunt.lightcurve.views import fold
from exohunt.scanning import scan


def make_curves(n: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulated curves with up to 3 signals: the simulator's one, plus 1 or 2 box transits."""
    rows, truth = simulate(n=n, seed=seed)
    rng = np.random.default_rng(seed)
    extra = []
    for i in range(n):
        time_, flux = np.asarray(rows.at[i, "time"]), np.asarray(rows.at[i, "flux"], dtype=float)
        for _ in range(int(rng.choice([0, 0, 0, 0, 1, 2]))):
            period = rng.uniform(1.0, 20.0)
            duration = 0.08 * period ** (1 / 3)
            depth = rng.uniform(5e-4, 3e-3) * np.nanmedian(flux)
            flux = flux - depth * (
                np.abs(fold(time_, period, rng.uniform(0, period))) < duration / 2
            )
            extra.append(period)
        rows.at[i, "flux"] = flux
    return rows, truth


def _rss_mib() -> float:
    """This process's resident memory now, MiB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _busy(stop):
    while not stop.is_set():
        sum(range(10_000))


def time_scan(path: Path, settings: SearchSettings, busy: bool) -> tuple[float, int]:
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_busy, args=(stop,)) if busy else None
    if spinner:
        spinner.start()
    try:
        started = time.perf_counter()
        result = scan(path, settings=settings, chunk_size=50, n_jobs=2)
        seconds = time.perf_counter() - started
    finally:
        if spinner:
            stop.set()
            spinner.join()
    return seconds, len(result.candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=400)
    parser.add_argument("--astropy", type=int, default=20, help="curves for astropy's BLS")
    parser.add_argument("--tls", type=int, default=6, help="curves for TLS")
    parser.add_argument("--memory", type=int, default=500, help="N for the memory figures")
    parser.add_argument("--peak-rss", nargs=2, help=argparse.SUPPRESS)  # PARQUET CHUNK: internal
    args = parser.parse_args()
    if args.peak_rss:  # in a fresh process: resident memory at the end of each chunk
        marks = []
        scan(
            args.peak_rss[0],
            settings=SearchSettings(max_planets=3),
            chunk_size=int(args.peak_rss[1]),
            n_jobs=2,
            progress=lambda done, total, found: marks.append(_rss_mib()),
        )
        print(marks[0], max(marks), marks[-1])
        return
    settings = SearchSettings(max_planets=3)

    rows, truth = make_curves(args.curves)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curves.parquet"
        frame = rows[["star_id", "time", "flux"]].copy()
        frame["time"] = [np.asarray(t, dtype=float) for t in frame["time"]]
        frame["flux"] = [np.asarray(f, dtype=float) for f in frame["flux"]]
        frame.to_parquet(path)
        scan(path, settings=settings, chunk_size=50, n_jobs=2)  # start the worker processes
        idle, signals = time_scan(path, settings, busy=False)
        busy, _ = time_scan(path, settings, busy=True)
    started = time.process_time()
    for i in range(min(40, len(rows))):
        time_, flux = np.asarray(rows.at[i, "time"]), np.asarray(rows.at[i, "flux"], dtype=float)
        ok = np.isfinite(time_) & np.isfinite(flux)
        search_star(time_[ok], flux[ok], settings)
    cpu_ms = 1e3 * (time.process_time() - started) / min(40, len(rows))

    n = args.curves
    print(f"exohunt scan, {n} curves of 3,197 cadences, up to 3 signals each, 2 processes:")
    print(f"  idle:                 {n / idle:6.1f} curves/s  ({idle:.1f} s, {signals} signals)")
    print(f"  beside one busy core: {n / busy:6.1f} curves/s  ({busy:.1f} s)")
    print(f"  CPU per curve (one process, whole iterative scan): {cpu_ms:.0f} ms")
    memory(args.memory)
    compare(rows, truth, args.astropy, args.tls)


def memory(n: int) -> None:
    """The scanning process's memory over n and 4n curves from Parquet (a fresh process each)."""
    print("memory of the scanning process, Parquet in chunks of 100 (fresh process each):")
    with tempfile.TemporaryDirectory() as tmp:
        for count in (n, 4 * n):
            rows, _ = make_curves(count, seed=2)
            path = Path(tmp) / f"curves{count}.parquet"
            frame = rows[["star_id", "time", "flux"]].copy()
            frame["time"] = [np.asarray(t, dtype=float) for t in frame["time"]]
            frame["flux"] = [np.asarray(f, dtype=float) for f in frame["flux"]]
            frame.to_parquet(path)
            del rows, frame
            out = subprocess.run(
                [sys.executable, __file__, "--peak-rss", str(path), "100"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            first, peak, last = (float(v) for v in out[-3:])
            print(
                f"  {count:>6} curves: {first:5.0f} MiB after the first chunk, "
                f"{peak:5.0f} MiB at most, {last:5.0f} MiB at the end"
            )


def compare(rows: pd.DataFrame, truth: pd.DataFrame, n_astropy: int, n_tls: int) -> None:
    """One search per curve: exohunt's first, astropy's BLS, TLS; on planets' curves."""
    from astropy.timeseries import BoxLeastSquares

    from exohunt.lightcurve.clean import biweight_trend

    planets = [i for i in range(len(rows)) if truth.at[i, "kind"] == "planet"]
    settings = SearchSettings(max_planets=1)
    results = {"exohunt": [], "astropy BLS": [], "TLS": []}
    for k, i in enumerate(planets[: max(n_astropy, n_tls)]):
        time_, flux = np.asarray(rows.at[i, "time"]), np.asarray(rows.at[i, "flux"], dtype=float)
        ok = np.isfinite(flux) & np.isfinite(time_)
        time_, flux = time_[ok], flux[ok] / np.median(flux[ok])
        period = truth.at[i, "period"]
        started = time.perf_counter()
        ours = search_star(time_, flux, settings)
        results["exohunt"].append((time.perf_counter() - started, _hit(ours.signals, period)))
        detrended = flux / biweight_trend(time_, flux, ours.window_days)
        if k < n_astropy:
            started = time.perf_counter()
            bls = BoxLeastSquares(time_, detrended)
            power = bls.power(ours.periods, ours.durations[ours.durations < 0.5], objective="snr")
            best = float(power.period[np.argmax(power.power)])
            results["astropy BLS"].append((time.perf_counter() - started, _near(best, period)))
        if k < n_tls:
            from transitleastsquares import transitleastsquares

            started = time.perf_counter()
            model = transitleastsquares(time_, detrended, verbose=False)
            found = model.power(use_threads=2, show_progress_bar=False)
            results["TLS"].append((time.perf_counter() - started, _near(found.period, period)))
    print("one search per planet's curve (the same curves, first N of each):")
    print(f"  {'search':<12} {'curves':>6} {'s per curve':>12} {'true period found':>18}")
    for name, values in results.items():
        if values:
            seconds = np.mean([v[0] for v in values])
            hits = sum(v[1] for v in values)
            print(f"  {name:<12} {len(values):>6} {seconds:>12.3f} {hits:>11} of {len(values)}")


def _near(found: float, period: float) -> bool:
    return bool(np.isfinite(found) and abs(found / period - 1) < 0.01)


def _hit(signals, period: float) -> bool:
    return any(_near(s.period, period) for s in signals)


if __name__ == "__main__":
    main()
