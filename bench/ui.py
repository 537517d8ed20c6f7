"""`exohunt ui`: how many processes it runs, their memory, and how long until it answers.

Starts `exohunt ui` on a fresh SQLite store three times and prints, for each start, the seconds
until ``/health`` answers, the processes (exohunt's and every one below it) and their summed
resident memory. Goal: at most 3 processes, 600 MB and 10 s.

    python bench/ui.py [--starts 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import descendants, free_port  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    print(f"{'start':>5} {'answers after s':>16} {'processes':>10} {'memory MB':>10}")
    for start in range(1, args.starts + 1):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
            began = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "exohunt.cli", "ui", "--port", str(port),
                 "--tracking-uri", uri],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                        break
                except OSError:
                    time.sleep(0.1)
            answered = time.perf_counter() - began
            time.sleep(2)  # let it settle
            pids = [process.pid, *descendants(process.pid)]
            memory = sum(rss_mb(p) for p in pids)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            print(f"{start:>5} {answered:>16.1f} {len(pids):>10} {memory:>10.0f}")


if __name__ == "__main__":
    main()
