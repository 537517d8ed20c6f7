"""Fuzz campaign of every reader: real files damaged many ways, each read by both entry points.

Seeds are small real files from ../shared/data (tests/io/fuzzing.py builds them): the first 40
rows of the KOI, DR24 TCE, TOI, K2 and AstroNet tables (gzipped, with the archive's ``#`` header),
40 AstroNet views (.npz), 3 Kepler Q17 JSON Lines, a flux CSV and a Kaggle CSV built from them, and
Kepler, K2 and TESS FITS light curves. Each case damages one seed (truncation, byte flips, header
edits, FITS cards and column types, hostile CSV cells and JSON values, thousands of extra columns,
Latin-1 bytes, pickled or mistyped .npz arrays, infinite and absurd numbers) with a seeded
``random.Random`` and reads it with :func:`exohunt.io.read_dataset` and
:func:`exohunt.io.stars.iter_stars`.

A case passes when each reader returns valid data or raises exohunt's own error (a one-line
message), lets no warning out, and finishes within the time limit. Printed: per seed, the cases
tried, how many were read and refused, and how many failed (the goal is 0), then each failure
with what reproduces it. Exit 1 if any failed.

    python bench/fuzz.py [--cases 150] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.io.fuzzing import build_seeds, check_readers, damage, damages_for  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: More FITS seeds: K2 and TESS files and a Kepler short-cadence segment.
EXTRA_FITS = (
    "ktwo211117077-c04_llc.fits",
    "pyke_dip_llc_kplr008462852_q8_segment.fits",
    "tess2018206045859-s0001-0000000231663901-0120-s_lc.fits",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=150, help="damaged files per seed")
    parser.add_argument("--seed", type=int, default=0, help="first random seed")
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"skipping: {SHARED_DATA} not found")
        return 0
    import logging

    logging.getLogger("exohunt").setLevel(logging.ERROR)  # readers' notes and warnings
    work = Path(tempfile.mkdtemp(prefix="exohunt-fuzz-"))
    try:
        seeds = build_seeds(SHARED_DATA, work / "seeds")
        for name in EXTRA_FITS:
            seeds[name] = work / "seeds" / name
            shutil.copy(SHARED_DATA / "real_lightcurves" / "fits" / name, seeds[name])
        return campaign(seeds, args.cases, args.seed, work / "cases")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def campaign(seeds: dict[str, Path], cases: int, first_seed: int, folder: Path) -> int:
    print(f"{cases} damaged copies of each of {len(seeds)} real seed files, read by both readers")
    print()
    print("| seed | cases | read | refused | failed | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    failures = []
    total = Counter()
    for name, seed in seeds.items():
        counts = Counter()
        started = time.perf_counter()
        damages = damages_for(name)
        for case in range(cases):
            how = damages[case % len(damages)]
            rng_seed = first_seed + case
            path = damage(seed, how, random.Random(rng_seed), folder)
            try:
                outcomes = check_readers(path, seconds=60)
            except Exception as exc:  # a failure of the readers: counted and shown, not raised
                counts["failed"] += 1
                where = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append(
                    f"{name} {how.__name__} seed {rng_seed}: {type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]} ({Path(where.filename).name}:{where.lineno})"
                )
            else:
                counts["read" if outcomes["read_dataset"] == "read" else "refused"] += 1
            counts["cases"] += 1
        total.update(counts)
        seconds = time.perf_counter() - started
        print(
            f"| {name} | {counts['cases']} | {counts['read']} | {counts['refused']} | "
            f"{counts['failed']} | {seconds:.0f} |",
            flush=True,
        )
    print(
        f"| all | {total['cases']} | {total['read']} | {total['refused']} | {total['failed']} | |"
    )
    print()
    print(f"failed: {total['failed']} of {total['cases']} cases (goal: 0)")
    for line in failures[:30]:
        print(f"  {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
