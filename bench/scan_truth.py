"""Every signal of ``real_lightcurves/truth.csv`` against what ``exohunt scan`` finds (default
settings, no model): the table of docs/scan.md, "Known answers on real data".

A known signal is found as ``bench/realdata.py`` counts it (``is_known``): a reported period
within 0.5% of it, or a single transit on one of its transits. Stars without a known signal list what the search reports on them.

    python bench/scan_truth.py
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from realdata import SHARED, is_known

FOLDER = SHARED / "real_lightcurves"


def describe(row: dict, digits: int = 3) -> str:
    if row["single_transit"]:
        return f"single@{row['transit_time']:.2f}"
    return f"{row['period']:.{digits}f}"


def matches(row: dict, known) -> bool:
    return is_known(row["period"], row["transit_time"], row["single_transit"],
                    known.period_days, known.epoch, known.duration_hours)  # fmt: skip


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
