"""Peak memory of chunked feature extraction grows with the chunk size, not the number of curves.

Writes N simulated 3,197-point light curves to a Parquet file (in pieces, so writing does not hold
them all either), then runs `exohunt features FILE.parquet --chunk-size C` in a fresh process per
(N, C) and reports its throughput and peak RSS (the largest of the process and its workers).

Usage: python bench/scale_memory.py [--n 2000 8000] [--chunk-size 250 1000] [--scheduler URL]
       [--workdir DIR]
The issue's full case is --n 100000 (about 40 min at 50 curves/s on 2 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_parquet(path: Path, n: int, piece: int = 1000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from exohunt.lightcurve.simulate import simulate

    writer = None
    for start in range(0, n, piece):
        rows, _ = simulate(n=min(piece, n - start), seed=start)
        rows["flux"] = [list(map(float, f)) for f in rows["flux"]]
        rows["time"] = [list(map(float, t)) for t in rows["time"]]
        table = pa.Table.from_pandas(rows, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=500)
    writer.close()


def _complete(path: Path, n: int) -> bool:
    """Whether ``path`` is a readable Parquet file of ``n`` rows (a finished earlier run)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows == n
    except (OSError, ValueError):
        return False


_PEAK = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure(path: Path, chunk: int, scheduler: str | None) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one `exohunt features` process and its workers, measured
    by a fresh parent process so that configurations do not share a peak."""
    command = [
        sys.executable,
        "-m",
        "exohunt.cli",
        "-q",
        "features",
        str(path),
        "--chunk-size",
        str(chunk),
        "--output",
        str(path.with_suffix(".features.parquet")),
    ]
    if scheduler:
        command += ["--scheduler", scheduler]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, *command], check=True, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    return elapsed, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--chunk-size", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--scheduler")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the simulated Parquet files here and reuse them on the next run "
        "(100,000 curves take about 8 min to simulate and 2.9 GB)",
    )
    options = parser.parse_args()
    print("| light curves | chunk size | seconds | curves/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = options.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in options.n:
            path = folder / f"sim_{n}.parquet"
            if not _complete(path, n):
                write_parquet(path, n)
            for chunk in options.chunk_size:
                seconds, peak = measure(path, chunk, options.scheduler)
                print(
                    f"| {n:,} | {chunk:,} | {seconds:.0f} | {n / seconds:.1f} | {peak:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
