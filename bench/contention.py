"""Training time of each model alone and beside a process that keeps one core busy.

A user's machine is never idle. Thread pools sized for an idle machine (PyTorch's, OpenMP's) can
run many times slower beside one busy core, because their threads wait for each other at every
step. exohunt sizes them from the cores the process may use and from ``--n-jobs``
(:mod:`exohunt.cores`); this prints, for each model, ``exohunt train``'s wall time idle and busy
and their ratio (the goal: at most 2x).

- random_forest, xgboost, nn: the bundled KOI table (default settings);
- cnn: 3,000 TESS Triage views (5 epochs), when ../shared/data is beside the repository.

    python bench/contention.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXOHUNT = [sys.executable, "-m", "exohunt.cli", "-q"]


def spin(seconds: float) -> subprocess.Popen:
    """A process that keeps one core busy for ``seconds``."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def train_seconds(argv: list[str], out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*EXOHUNT, "train", *argv, "--no-mlflow", "--output", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {m: ["--model", m] for m in ("random_forest", "xgboost", "nn")}
        if (SHARED / "tess_astronet_triage_views.npz").is_file():
            archive = np.load(SHARED / "tess_astronet_triage_views.npz")
            keep = np.sort(np.random.default_rng(0).choice(len(archive["tic_id"]), 3000, False))
            views = Path(tmp) / "views.npz"
            np.savez(views, **{k: archive[k][keep] for k in archive.files})
            jobs["cnn"] = [str(views), "--model", "cnn", "--epochs", "5"]
        print(f"{'model':<14} {'idle s':>8} {'busy s':>8} {'busy/idle':>10}")
        for name, argv in jobs.items():
            idle = min(train_seconds(argv, Path(tmp) / name) for _ in range(args.repeats))
            busy = []
            for _ in range(args.repeats):
                spinner = spin(600)
                try:
                    busy.append(train_seconds(argv, Path(tmp) / name))
                finally:
                    spinner.kill()
                    spinner.wait()
            print(f"{name:<14} {idle:>8.1f} {min(busy):>8.1f} {min(busy) / idle:>10.2f}")


if __name__ == "__main__":
    main()
