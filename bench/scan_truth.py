"""Every signal of ``real_lightcurves/truth.csv`` against what ``exohunt scan`` finds (default
settings, no model): the table of docs/scan.md, "Known answers on real data".

A known signal is found when a reported period is within 0.5% of it (or a single transit falls
on one of its transits). Stars without a known signal list what the search reports on them.

    python bench/scan_truth.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDER = SHARED / "real_lightcurves"


def describe(row: dict, digits: int = 3) -> str:
    if row["single_transit"]:
        return f"single@{row['transit_time']:.2f}"
    return f"{row['period']:.{digits}f}"


def matches(row: dict, known) -> bool:
    if not np.isfinite(known.period_days):
        return False
    if row["single_transit"]:
        offset = (row["transit_time"] - known.epoch + known.period_days / 2) % known.period_days
        return abs(offset - known.period_days / 2) < known.duration_hours / 24
    return abs(row["period"] / known.period_days - 1) < 5e-3


def main() -> int:
    if not FOLDER.is_dir():
        print(f"skipped: {FOLDER} is not beside the repository")
        return 0
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    truth = pd.read_csv(FOLDER / "truth.csv")
    truth["star_id"] = truth["star_id"].astype(str)
    found = {}
    for star in iter_stars(FOLDER):
        if not star.problem:
            found[str(star.star_id)] = scan_star(star, SearchSettings()).rows
    print("| signal | star | truth P [d] | transits | found P [d] | signal # | SNR | note |")
    print("|---|---|---|---|---|---|---|---|")
    for r in truth.itertuples():
        rows = found.get(r.star_id, [])
        if not np.isfinite(r.period_days):
            listed = f"{len(rows)} signals: " + ", ".join(map(describe, rows)) if rows else "none"
            print(f"| {r.name} ({r.label}) | {r.star_id} | - | - | {listed} | | | |")
            continue
        hit = next((x for x in rows if matches(x, r)), None)
        head = f"| {r.name} | {r.star_id} | {r.period_days:.4f} | {r.transits_in_data:.0f} |"
        if hit is None:
            print(f"{head} not found | | | {', '.join(describe(x) for x in rows)} |")
            continue
        note = (f"odd-even {hit['odd_even_mismatch']:.1f}σ, "
                f"secondary {hit['secondary_snr']:.1f}σ")  # fmt: skip
        print(f"{head} {describe(hit, 4)} | {hit['signal']} | {hit['snr']:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
