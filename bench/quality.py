"""Quality benchmark: star-grouped K-fold cross-validation of every model on real data.

For each dataset and model, each fold is trained by exohunt's one training path
(:func:`exohunt.train.fit_model`: features -> imputation -> scaling -> model, with a validation
split of the training stars for early stopping and the decision threshold) and scored on the
fold's held-out stars. Prints ROC AUC, average precision and MCC (at the validation threshold),
mean ± std over the folds, as a markdown table, with the fitting time of each model.

Datasets:

- ``koi``: Kepler KOI cumulative table, CONFIRMED vs FALSE POSITIVE (candidates left out).
- ``triage``: TESS AstroNet-Triage views, PC and EB ("transit-like") vs J, as Yu et al. (2019)
  triage; their model reached average precision 0.970.
- ``vetting``: the same views, PC vs everything else; Yu et al. (2019) vetting reached 0.693.

The views are GPL-3.0 (see shared/data/README.md, section 6): they are read from ../shared/data
and never copied into the repository.

An ensemble averages the fold probabilities of two or more models; its threshold maximises F1 on
the averaged probabilities of the same validation rows, so the held-out stars are never used for
it.

    python bench/quality.py            # 5 folds, full epochs (about 20 min on 2 cores)
    python bench/quality.py --quick    # 2 folds, 5 epochs: a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIEWS_FILE = "tess_astronet_triage_views.npz"
MODELS = ("random_forest", "xgboost", "nn", "cnn")
#: Ensembles reported next to the single models: (name, members, how the scores are averaged).
#: "probability": the mean probability; "log-odds": the mean log(p / (1 - p)), which weighs a
#: confident member more (the class-weighted networks and XGBoost are calibrated differently).
ENSEMBLES = (
    ("xgboost+nn", ("xgboost", "nn"), "probability"),
    ("cnn+xgboost", ("cnn", "xgboost"), "probability"),
    ("cnn+xgboost, log-odds", ("cnn", "xgboost"), "log-odds"),
)
#: Columns that would leak the answer or identify the star if they became features.
NEVER_FEATURES = {"tic_id", "toi_id", "row_id", "source_shard", "disposition", "label", "kepid"}
#: ``Sectors`` in the TESS Triage metadata records which TCE search (and labelling batch) a row
#: came from, not a property of the star: batch "5" holds no junk (J) at all and is 52% PC, against
#: 2% elsewhere. A model that reads it learns how the sample was assembled, so it is left out.
VIEWS_EXCLUDE = ("Sectors",)
METRICS = (("roc_auc", "ROC AUC"), ("average_precision", "average precision"), ("mcc", "MCC"))


@dataclass(frozen=True)
class Task:
    """What one benchmark dataset reads, and the published figure or target it is held to."""

    name: str
    title: str
    file: str | None  # in shared/data; None: the bundled KOI table
    positive_labels: tuple[str, ...] | None = None
    negative_labels: tuple[str, ...] | None = None
    target_average_precision: float = 0.0
    reference: str = ""
    exclude: tuple[str, ...] = ()  # further columns never to use as features (see VIEWS_EXCLUDE)
    ensemble_may_meet_target: bool = False  # else only a single model counts


TASKS = {
    task.name: task
    for task in (
        Task(
            "koi",
            "Kepler KOI, CONFIRMED vs FALSE POSITIVE",
            None,
            target_average_precision=0.98,
        ),
        Task(
            "triage",
            "TESS Triage views, PC+EB vs J",
            VIEWS_FILE,
            ("PC", "EB"),
            ("J",),
            target_average_precision=0.98,
            reference="Yu et al. 2019 triage: 0.970",
            exclude=VIEWS_EXCLUDE,
        ),
        Task(
            "vetting",
            "TESS Triage views, PC vs rest",
            VIEWS_FILE,
            ("PC",),
            None,
            target_average_precision=0.75,
            reference="Yu et al. 2019 vetting: 0.693",
            exclude=VIEWS_EXCLUDE,
            ensemble_may_meet_target=True,
        ),
    )
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds and 5 epochs: a smoke run")
    parser.add_argument("--folds", type=int, help="number of CV folds (default 5; --quick: 2)")
    parser.add_argument("--epochs", type=int, help="network epochs (default 50; --quick: 5)")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--jobs", type=int, default=2, help="folds fitted at once, one process and thread each"
    )
    parser.add_argument("--seed", type=int, default=42, help="fold split and model seed")
    parser.add_argument(
        "--keep-sectors",
        action="store_true",
        help="let the TESS 'Sectors' column be a feature (it reveals the labelling batch)",
    )
    parser.add_argument("--json", type=Path, help="also write every fold's figures here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log training progress")
    return parser.parse_args(argv)


def load_rows(task_name: str, exclude: tuple[str, ...]):
    """The labelled rows of one task, ``exclude`` columns never features (cached per process)."""
    if (task_name, exclude) in _ROWS:
        return _ROWS[task_name, exclude]
    from exohunt.io import bundled_koi_path, read_dataset
    from exohunt.train import labelled_rows

    task = TASKS[task_name]
    path = bundled_koi_path() if task.file is None else SHARED_DATA / task.file
    dataset = read_dataset(
        path, positive_labels=task.positive_labels, negative_labels=task.negative_labels
    )
    # the training path keeps a dataset's id columns out of the features
    dataset = replace(dataset, id_columns=dataset.id_columns + exclude)
    _ROWS[task_name, exclude] = labelled_rows(dataset)
    return _ROWS[task_name, exclude]


_ROWS: dict = {}


def limit_threads(threads: int) -> None:
    """One process, ``threads`` threads: torch, and the OpenMP pools of xgboost and numpy."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch
    except ModuleNotFoundError:
        return
    torch.set_num_threads(threads)


def fit_fold(job: tuple) -> dict:
    """Train ``model`` on the fold's training stars by the real path; return its probabilities
    for the fold's held-out rows and for the validation rows it chose its threshold on."""
    from exohunt.config import TrainConfig
    from exohunt.evaluate import cv_folds, split_by_star
    from exohunt.train import fit_model

    task_name, model, fold, folds, epochs, seed, exclude, verbose = job
    limit_threads(1)
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR)
    rows = load_rows(task_name, exclude)
    y = rows.labels.astype(int)
    train_idx, test_idx = cv_folds(y, rows.groups, folds, seed)[fold]
    train_rows = rows.take(train_idx)
    config = TrainConfig(model=model, random_state=seed, epochs=epochs, n_jobs=1).validate()

    started = time.perf_counter()
    fitted = fit_model(train_rows, config)
    seconds = time.perf_counter() - started
    # fit_model's own validation split (same seed, same rows): where its threshold came from
    _, val_idx = split_by_star(y[train_idx], train_rows.groups, config.val_size, seed)
    pipeline = fitted.pipeline
    return {
        "task": task_name,
        "model": model,
        "fold": fold,
        "seconds": seconds,
        "threshold": fitted.threshold,
        "epochs_run": len(fitted.history.get("train_loss", [])) or None,
        "features": fitted.feature_names,
        "test_y": y[test_idx],
        "test_proba": pipeline.predict_proba(rows.take(test_idx).to_frame())[:, 1],
        "val_y": y[train_idx][val_idx],
        "val_proba": pipeline.predict_proba(train_rows.take(val_idx).to_frame())[:, 1],
    }


def excluded(task_name: str, args: argparse.Namespace) -> tuple[str, ...]:
    exclude = TASKS[task_name].exclude
    return tuple(c for c in exclude if c != "Sectors") if args.keep_sectors else exclude


def check_features(task_name: str, names: list[str], exclude: tuple[str, ...]) -> list[str]:
    """The scalar (non-view) feature names; exits if an id or label column is among them."""
    never = NEVER_FEATURES | {c.lower() for c in exclude}
    leaked = sorted(n for n in names if n.lower() in never)
    if leaked:
        sys.exit(f"{task_name}: id or label columns used as features: {', '.join(leaked)}")
    return [n for n in names if not n.startswith(("global_", "local_"))]


def summarise(results: list[dict]) -> dict:
    """Metrics of each fold and their mean and std, for one model (or ensemble) on one task."""
    from exohunt.evaluate import compute_metrics

    folds = [compute_metrics(r["test_y"], r["test_proba"], r["threshold"]) for r in results]
    out = {
        name: {
            "mean": float(np.mean([f[name] for f in folds])),
            "std": float(np.std([f[name] for f in folds])),
            "folds": [f[name] for f in folds],
        }
        for name, _ in METRICS
    }
    out["seconds"] = float(sum(r["seconds"] for r in results))
    epochs = [r["epochs_run"] for r in results if r.get("epochs_run")]
    out["epochs_run"] = epochs or None
    return out


def ensemble(members: list[list[dict]], average: str) -> list[dict]:
    """Per fold: the mean of the members' scores (see ENSEMBLES), thresholded by F1 on the
    validation rows."""
    from exohunt.evaluate import best_f1_threshold

    def score(proba: np.ndarray) -> np.ndarray:
        if average == "probability":
            return proba
        proba = np.clip(proba, 1e-7, 1 - 1e-7)
        return np.log(proba / (1 - proba))

    out = []
    for parts in zip(*members, strict=True):
        val_proba = np.mean([score(p["val_proba"]) for p in parts], axis=0)
        out.append(
            {
                "test_y": parts[0]["test_y"],
                "test_proba": np.mean([score(p["test_proba"]) for p in parts], axis=0),
                "val_proba": val_proba,
                "threshold": best_f1_threshold(parts[0]["val_y"], val_proba),
                "seconds": sum(p["seconds"] for p in parts),
            }
        )
    return out


def table(summaries: dict) -> str:
    lines = [
        "| dataset | model | "
        + " | ".join(label for _, label in METRICS)
        + " | epochs run | fit time (s) |",
        "|---|---|" + "---:|" * (len(METRICS) + 2),
    ]
    for task_name, by_model in summaries.items():
        best = max(s["average_precision"]["mean"] for s in by_model.values())
        for model, s in by_model.items():
            cells = []
            for name, _ in METRICS:
                cell = f"{s[name]['mean']:.3f} ± {s[name]['std']:.3f}"
                if name == "average_precision" and s[name]["mean"] == best:
                    cell = f"**{cell}**"
                cells.append(cell)
            epochs = f"{np.mean(s['epochs_run']):.0f}" if s["epochs_run"] else "–"
            lines.append(
                f"| {task_name} | {model} | "
                + " | ".join(cells)
                + f" | {epochs} | {s['seconds']:.0f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)

    folds = args.folds or (2 if args.quick else 5)
    epochs = args.epochs or (5 if args.quick else 50)
    started = time.perf_counter()
    jobs = []
    for task_name in args.tasks:
        task = TASKS[task_name]
        if task.file is not None and not (SHARED_DATA / task.file).is_file():
            print(f"skipping {task_name}: {SHARED_DATA / task.file} not found")
            continue
        for model in args.models:
            if model == "cnn" and task.file != VIEWS_FILE:
                continue  # the CNN reads views; the KOI table has none
            jobs += [(task_name, model, fold) for fold in range(folds)]
    # the slowest fits first, so that the two workers finish together
    cost = {"cnn": 0, "nn": 1, "random_forest": 2, "xgboost": 3}
    jobs.sort(key=lambda job: (cost[job[1]], job[0] == "koi"))
    print(
        f"{len(jobs)} fits ({folds}-fold CV, {epochs} epochs max) in {args.jobs} processes "
        f"of 1 thread; {os.cpu_count()} CPUs",
        flush=True,
    )
    # fork: the workers inherit this module; each reads a dataset once and keeps it
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        results = []
        for result in pool.imap_unordered(
            fit_fold,
            [
                (*job, folds, epochs, args.seed, excluded(job[0], args), args.verbose)
                for job in jobs
            ],
        ):
            results.append(result)
            print(
                f"  [{len(results)}/{len(jobs)}] {result['task']} {result['model']} "
                f"fold {result['fold'] + 1}: {result['seconds']:.0f} s",
                flush=True,
            )
    wall = time.perf_counter() - started

    summaries: dict = {}
    for task_name in args.tasks:
        by_model = {}
        task_results = [r for r in results if r["task"] == task_name]
        if not task_results:
            continue
        scalars = check_features(task_name, task_results[0]["features"], excluded(task_name, args))
        print(f"{task_name} scalar features: {', '.join(scalars)}")
        per_model = {}
        for model in MODELS:
            mine = sorted((r for r in task_results if r["model"] == model), key=lambda r: r["fold"])
            if mine:
                per_model[model] = mine
                by_model[model] = summarise(mine)
        for name, members, average in ENSEMBLES:
            if all(m in per_model for m in members):
                by_model[name] = summarise(ensemble([per_model[m] for m in members], average))
        summaries[task_name] = by_model

    command = "python bench/quality.py" + " ".join([""] + (argv or sys.argv[1:]))
    print()
    print(
        f"Star-grouped {folds}-fold CV, mean ± std over folds; MCC at the F1-best threshold of "
        f"each fold's validation split. {date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.jobs} processes; wall time {wall / 60:.1f} min."
    )
    print()
    print(table(summaries))
    print()
    for task_name, by_model in summaries.items():
        task = TASKS[task_name]
        eligible = {
            name: s
            for name, s in by_model.items()
            if name in MODELS or task.ensemble_may_meet_target
        }
        model, s = max(eligible.items(), key=lambda item: item[1]["average_precision"]["mean"])
        ap = s["average_precision"]["mean"]
        verdict = "met" if ap >= task.target_average_precision else "NOT met"
        kind = "model or ensemble" if task.ensemble_may_meet_target else "single model"
        reference = f"; {task.reference}" if task.reference else ""
        print(
            f"- {task_name} ({task.title}): best {kind} average precision {ap:.3f} ({model}); "
            f"target {task.target_average_precision:.2f} {verdict}{reference}"
        )
    print()
    print(f"Reproduce: `{command.strip()}`")
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
