"""Tracking overhead: `exohunt train` with MLflow against `--no-mlflow`, on the bundled data.

Each configuration runs as a fresh process (what a user runs), several times, alternating, into
one SQLite store that already exists (the first-ever run also creates the schema: reported apart).

* **warm**: the usual case from the second command on. Each tracked command finds the warm MLflow
  worker left by the one before (exohunt.tracking.worker). The script waits until that spare is
  ready before it starts the next timed command, so that no timed command shares the CPU with a
  spare's start-up.
* **cold**: `EXOHUNT_TRACKING_SPARE=0`: every command starts its own worker, which imports MLflow
  and opens the store while the model trains (the first command of a session pays this).

Prints the median wall times and the overhead as a share of the tracked wall time.

``--experiments`` measures `exohunt experiments` (the three models in one process, on one split,
the champion registered) instead of one `exohunt train` per model.

Usage: python bench/tracking_overhead.py [--repeats 3] [--models random_forest xgboost nn]
                                        [--workers warm cold]
       python bench/tracking_overhead.py --experiments [--repeats 3]
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


def spare_socket(uri: str, env: dict) -> Path:
    """Where the commands' warm spare listens (its key depends on the environment)."""
    from exohunt.tracking.worker import spare_path

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return spare_path(uri)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no warm spare appeared at {path} within {timeout:.0f} s")
        time.sleep(0.1)
    time.sleep(0.5)  # its last imports settle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["random_forest", "xgboost", "nn"])
    parser.add_argument("--experiments", action="store_true", help="time `exohunt experiments`")
    parser.add_argument("--workers", nargs="+", choices=["warm", "cold"], default=["warm", "cold"])
    options = parser.parse_args()
    jobs = {model: ["train", "--model", model] for model in options.models}  # name -> command
    if options.experiments:
        jobs = {"experiments (rf, xgboost, nn)": ["experiments", "--models", *options.models]}

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        uri = f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
        env = os.environ | {"MLFLOW_TRACKING_URI": uri, "EXOHUNT_TRACKING_SPARE": "1"}
        cold_env = env | {"EXOHUNT_TRACKING_SPARE": "0"}
        first = run(["train", "--output", "first"], cwd, env)
        spare = spare_socket(uri, env)
        rows = []
        for model, command in jobs.items():
            times = {"untracked": [], "warm": [], "cold": []}
            for i in range(options.repeats):
                common = [*command, "--output", f"o{i}"]
                wait_for(spare)
                times["untracked"].append(run([*common, "--no-mlflow"], cwd, env))
                if "warm" in options.workers:
                    times["warm"].append(run(common, cwd, env))
                    wait_for(spare)
                if "cold" in options.workers:
                    times["cold"].append(run(common, cwd, cold_env))
            off = statistics.median(times["untracked"])
            for kind in options.workers:
                on = statistics.median(times[kind])
                spread = (min(times["untracked"]), max(times["untracked"]), *_range(times[kind]))
                rows.append((model, kind, off, on, on - off, (on - off) / on, spread))

    print(f"first run on a fresh store (schema creation included): {first:.1f} s")
    print(f"median of {options.repeats} runs each, one process per run, bundled KOI table\n")
    print(
        "| command | worker | --no-mlflow (s) | tracked (s) | overhead (s) | share of wall time "
        "| range: --no-mlflow, tracked (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, kind, off, on, extra, share, spread in rows:
        print(
            f"| {model} | {kind} | {off:.2f} | {on:.2f} | {extra:+.2f} | {share:+.0%} "
            f"| {spread[0]:.1f}–{spread[1]:.1f}, {spread[2]:.1f}–{spread[3]:.1f} |"
        )


def _range(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


if __name__ == "__main__":
    main()
