"""Tracking overhead: `exohunt train` with MLflow against `--no-mlflow`, on the bundled data.

Each configuration runs as a fresh process (what a user runs), several times, alternating, into
one SQLite store that already exists (the first-ever run also creates the schema: reported apart).
Prints the median wall times and the overhead as a share of the tracked wall time.

Usage: python bench/tracking_overhead.py [--repeats 3] [--models random_forest nn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "-q", *args],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["random_forest", "nn"])
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"}
        first = run(["train", "--output", "first"], cwd, env)
        rows = []
        for model in options.models:
            times = {"tracked": [], "untracked": []}
            for i in range(options.repeats):
                common = ["train", "--model", model, "--output", f"o{i}"]
                times["untracked"].append(run([*common, "--no-mlflow"], cwd, env))
                times["tracked"].append(run(common, cwd, env))
            off, on = statistics.median(times["untracked"]), statistics.median(times["tracked"])
            rows.append((model, off, on, on - off, (on - off) / on))

    print(f"first run on a fresh store (schema creation included): {first:.1f} s")
    print(f"median of {options.repeats} runs each, one process per run, bundled KOI table\n")
    print("| model | --no-mlflow (s) | tracked (s) | overhead (s) | overhead share of wall time |")
    print("|---|---|---|---|---|")
    for model, off, on, extra, share in rows:
        print(f"| {model} | {off:.1f} | {on:.1f} | {extra:.1f} | {share:.0%} |")


if __name__ == "__main__":
    main()
