"""How the injection models' recall on held-out real stars grows with the number of real host
stars they train on, at a fixed number of training windows.

The folds of ``bench/realdata.py`` (same seed, same held-out stars, same test injections); in
each fold the model trains on 2,500 injections into a random subset of ``--stars`` of the fold's
16-17 training stars (17: all of them, the model of ``bench/realdata.py``). Printed per size: recall at a 1% false-alarm
rate at SNR 10-15 and 15-40, the threshold, and average precision over every held-out window.
What it answers: whether more windows or more stars would raise the figures (more windows of the
same stars do not: docs/lightcurves.md).

    python bench/host_count.py [--stars 4 8 16 17] [--model random_forest] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realdata  # noqa: E402  (the folds, training and thresholds of bench/realdata.py)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, nargs="+", default=[4, 8, 16, 17])
    parser.add_argument("--model", default="random_forest")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2500)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the data and models here")
    return parser.parse_args(argv)


def figures(test: pd.DataFrame) -> dict:
    """Recall at 1% of the false alarms (SNR 10-15, 15-40), the threshold, average precision."""
    from sklearn.metrics import average_precision_score

    threshold = realdata.threshold_at(realdata.false_alarms(test))
    planets = test[test["kind"] == "planet"]
    passed = planets["signal_reported"].astype(bool) & (planets["score"] > threshold)
    out = {"threshold": threshold}
    for low, high in ((10, 15), (15, 40)):
        part = (planets["snr"] >= low) & (planets["snr"] < high)
        out[f"{low}-{high}"] = (float(passed[part].mean()), int(part.sum()))
    out["ap"] = float(average_precision_score(test["kind"] == "planet", test["score"]))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if not realdata.SHARED.is_dir():
        print(f"skipped: {realdata.SHARED} is not beside the repository")
        return 0
    from exohunt.lightcurve.inject import inject, load_hosts, write_injection
    from exohunt.scanning import Scorer

    started = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="exohunt-hostcount-"))
    work.mkdir(parents=True, exist_ok=True)
    hosts = load_hosts(realdata.SOURCES)
    folds = realdata.fold_hosts(hosts, args.folds, args.seed)
    scored: dict[int, list[pd.DataFrame]] = {n: [] for n in args.stars}
    used: dict[int, list[int]] = {n: [] for n in args.stars}
    for k, fold in enumerate(folds):
        test_hosts = [hosts[i] for i in fold]
        training = [h for i, h in enumerate(hosts) if i not in set(fold)]
        test_rows, test_truth = inject(test_hosts, n=args.n_test, seed=args.seed + 10 * k + 5)
        reported = test_truth["signal_reported"].astype(bool)
        records = test_rows.drop(columns=["label"]).to_dict("records")
        order = np.random.default_rng(args.seed + 100 + k).permutation(len(training))
        for n in args.stars:
            subset = [training[i] for i in sorted(order[: min(n, len(training))])]
            rows, truth = inject(subset, n=args.n_train, seed=args.seed + 10 * k)
            path, _ = write_injection(rows, truth, work / f"fold{k}_{n}_stars.csv.gz")
            scorer = Scorer(realdata.train_on(path, args.model, work / f"fold{k}_{n}_{args.model}"))
            scores = np.where(reported, scorer.score(records), 0.0)
            scored[n].append(test_truth.assign(score=scores, fold=k))
            used[n].append(len(subset))
        print(f"fold {k}: {len(test_hosts)} held-out stars, training on "
              f"{', '.join(str(used[n][-1]) for n in args.stars)} of {len(training)}", flush=True)  # fmt: skip

    print(f"\n{args.model}, {args.n_train} training injections per fold, held-out real stars:\n")
    print("| training stars per fold | threshold @ 1% false alarms | recall @ 1%, SNR 10-15 "
          "| recall @ 1%, SNR 15-40 | average precision |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for n in args.stars:
        f = figures(pd.concat(scored[n], ignore_index=True))
        (r1, n1), (r2, n2) = f["10-15"], f["15-40"]
        se = np.sqrt(r1 * (1 - r1) / max(n1, 1))
        print(f"| {'/'.join(map(str, used[n]))} | {f['threshold']:.3f} | {r1:.1%} ± {se:.1%} "
              f"(of {n1}) | {r2:.1%} (of {n2}) | {f['ap']:.3f} |")  # fmt: skip
    print(f"\n({time.perf_counter() - started:.0f} s; files in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
