"""Speed of the vetting report: seconds per candidate page on one core, and 1,000 candidate pages
on two processes, idle and beside a process that keeps one core busy.

The pages are of real signals: every signal a scan finds in ../shared/data/real_lightcurves and in
Kepler-90's quarters (Kepler long and short cadence, K2, TESS), each with made-up reasons (the
explanation's cost is the model's, measured in tests/report/test_explain.py's timings). The 1,000
pages cycle through them. Goals (issue 14): at most 0.5 s a page on one core; 1,000 pages in under
5 minutes on 2 cores.

Usage: python bench/report.py [--pages 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def spin(seconds: float) -> subprocess.Popen:
    """A process that keeps one core busy for ``seconds``."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def real_candidates():
    """``(curves, signal number)`` of every signal found in the shared real light curves."""
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    out = []
    for folder in (SHARED / "real_lightcurves" / "fits", SHARED / "lightcurves"):
        for star in iter_stars(folder):
            if str(star.source).endswith(".jsonl"):
                continue
            scanned = scan_star(star, SearchSettings(), keep_curves=True)
            out += [(scanned.curves, row["signal"], star.mission) for row in scanned.rows]
    return out


def reasons(k: int):
    from exohunt.report.pages import Reasons

    rng = np.random.default_rng(k)
    names = ["transit_depth", "transit_snr", "transit_duration_ratio", "transit_odd_even_sigma",
             "transit_secondary_snr", "transit_shape_search", "orbital_period", "transit_count"]  # fmt: skip
    return Reasons(score=float(rng.uniform()), threshold=0.5, model="xgboost · v1 · run 0123abcd",
                   top=[(n, float(rng.normal()), float(rng.normal())) for n in names],
                   output="log-odds", method="exact TreeSHAP (XGBoost pred_contribs)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args()
    from exohunt.report import _Task, draw_pages
    from exohunt.report.pages import draw_candidate, thumbnail

    started = time.perf_counter()
    found = real_candidates()
    print(f"{len(found)} real signals from {len({c.star_id for c, _, _ in found})} stars "
          f"(searched in {time.perf_counter() - started:.0f} s)")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # one core: the page and its thumbnail, each signal once (the first page warms up)
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        draw_candidate(found[0][0], found[0][1], reasons(0), folder / "warm.png")
        per_mission: dict[str, list[float]] = {}
        for k, (curves, number, mission) in enumerate(found):
            t0 = time.perf_counter()
            page = draw_candidate(curves, number, reasons(k), folder / f"{k}.png")
            thumbnail(page, folder / f"{k}_thumb.png")
            per_mission.setdefault(mission or "?", []).append(time.perf_counter() - t0)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        every = [s for v in per_mission.values() for s in v]
        print(f"one core: {np.mean(every):.2f} s a page on average, {np.max(every):.2f} s at "
              f"most, {len(every)} pages (goal: at most 0.5 s)")  # fmt: skip
        for mission, seconds in sorted(per_mission.items()):
            print(f"  {mission:<8} {np.mean(seconds):.2f} s a page ({len(seconds)} pages, "
                  f"{max(c.time.size for c, _, m in found if (m or '?') == mission):,} "
                  "cadences in the longest curve)")  # fmt: skip

        for label, busy in (("idle", False), ("beside one busy core", True)):
            tasks = [
                _Task("candidate", f"c{k:04d}", (found[k % len(found)][0],
                      found[k % len(found)][1], reasons(k)))
                for k in range(args.pages)
            ]  # fmt: skip
            out = folder / ("busy" if busy else "idle")
            spinner = spin(3600) if busy else None
            shown = []
            try:
                t0 = time.perf_counter()
                draw_pages(tasks, out, n_jobs=2, progress=lambda d, n, seen=shown: seen.append(d))
                seconds = time.perf_counter() - t0
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            drawn = len(list((out / "pages").glob("*.png")))
            print(f"{args.pages:,} pages on 2 processes, {label}: {seconds:.0f} s "
                  f"({seconds / drawn:.2f} s a page; {drawn:,} drawn, progress reported "
                  f"{len(shown):,} times; goal: under 300 s)")  # fmt: skip


if __name__ == "__main__":
    main()
