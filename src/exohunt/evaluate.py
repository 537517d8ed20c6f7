"""Splits by star, metrics that suit imbalanced labels, the decision threshold, and plots."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from exohunt.errors import DataError

log = logging.getLogger(__name__)

#: Metric names, in the order tables show them. ``average_precision`` is the area under the
#: precision-recall curve; ``mcc`` is the Matthews correlation coefficient.
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "mcc")


def _star_labels(y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique stars, each star's label (1 if any of its rows is a planet), and row -> star index."""
    stars, inverse = np.unique(groups.astype(str), return_inverse=True)
    star_y = np.zeros(len(stars), dtype=int)
    np.maximum.at(star_y, inverse, y.astype(int))
    return stars, star_y, inverse


def split_by_star(
    y: np.ndarray, groups: np.ndarray, test_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test), stratified by label and grouped by star.

    No star has rows on both sides. Stratification is over stars, each labelled planet if any of
    its rows is one, so both sides keep the class balance of the stars.

    Raises
    ------
    DataError
        If a class has too few stars to appear on both sides.
    """
    from sklearn.model_selection import train_test_split

    stars, star_y, inverse = _star_labels(np.asarray(y), np.asarray(groups))
    counts = np.bincount(star_y, minlength=2)
    mixed = np.bincount(inverse, weights=1 - np.asarray(y).astype(int), minlength=len(stars))
    if counts[0] < 2 and (mixed[star_y == 1] > 0).sum() >= 2:
        return _split_mixed_stars(np.asarray(y), np.asarray(groups), test_size, random_state)
    if counts.min() < 2:
        raise DataError(
            f"too few stars to split: {counts[1]} with planets and {counts[0]} without "
            "(each class needs at least 2 stars; give more labelled data)"
        )
    n_test = max(2, int(round(test_size * len(stars))))
    n_test = min(n_test, len(stars) - 2)
    train_stars, test_stars = train_test_split(
        np.arange(len(stars)), test_size=n_test, stratify=star_y, random_state=random_state
    )
    is_test = np.isin(inverse, test_stars)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _split_mixed_stars(y, groups, test_size: float, random_state: int):
    """:func:`split_by_star` for stars with rows of both classes (light curves injected into
    the same real stars): one fold of a stratified group K-fold, which keeps each star on one
    side and the class balance of the rows close on both."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = int(min(max(2, round(1 / test_size)), len(np.unique(groups))))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    train, test = next(folds.split(np.zeros(len(y)), y.astype(int), groups=groups.astype(str)))
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        raise DataError(
            f"cannot split {len(np.unique(groups))} stars so that both sides have planets and "
            "non-planets (give more stars)"
        )
    return np.sort(train), np.sort(test)


def cv_folds(
    y: np.ndarray, groups: np.ndarray, n_splits: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold over rows, grouped by star, as a list of (train, test) index arrays."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y).astype(int)
    n_stars = [len(np.unique(np.asarray(groups)[y == c])) for c in (0, 1)]
    if min(n_stars) < n_splits:
        raise DataError(
            f"--cv {n_splits} needs at least {n_splits} stars of each class; the data has "
            f"{n_stars[1]} with planets and {n_stars[0]} without (use a smaller --cv)"
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(folds.split(np.zeros(len(y)), y, groups=np.asarray(groups).astype(str)))


def best_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability threshold that maximises F1 on (validation) rows.

    Ties go to the highest threshold. Returns 0.5 when the rows have a single class.
    """
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true).astype(int)
    if len(np.unique(y_true)) < 2:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict:
    """Every metric in :data:`METRICS` plus the confusion matrix counts.

    A row is predicted a planet when ``proba >= threshold``. ``roc_auc`` and
    ``average_precision`` are NaN when ``y_true`` has one class.
    """
    from sklearn import metrics as m

    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    y_pred = (proba >= threshold).astype(int)
    two_classes = len(np.unique(y_true)) == 2
    tn, fp, fn, tp = m.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "precision": float(m.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(m.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(m.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(m.roc_auc_score(y_true, proba)) if two_classes else float("nan"),
        "average_precision": float(m.average_precision_score(y_true, proba))
        if two_classes
        else float("nan"),
        "mcc": float(m.matthews_corrcoef(y_true, y_pred)),
        "threshold": float(threshold),
        "n_samples": int(len(y_true)),
        "n_planets": int(y_true.sum()),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def summarise_folds(fold_metrics: list[dict]) -> dict:
    """Mean and standard deviation of each metric over CV folds, plus the per-fold values."""
    summary = {}
    for name in METRICS:
        values = np.array([f[name] for f in fold_metrics], dtype=float)
        summary[name] = {
            "mean": float(np.nanmean(values)),
            "std": float(np.nanstd(values)),
            "folds": [float(v) for v in values],
        }
    return summary


def save_plots(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    out_dir: Path,
    feature_names: list[str] | None = None,
    importances: np.ndarray | None = None,
    title: str = "",
) -> list[Path]:
    """Write ROC, PR, confusion-matrix and (when given) feature-importance PNGs; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn import metrics as m

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y_true = np.asarray(y_true).astype(int)
    paths = []

    def save(fig, name):
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)

    if len(np.unique(y_true)) == 2:
        fig, ax = plt.subplots(figsize=(5, 4.5))
        m.RocCurveDisplay.from_predictions(y_true, proba, ax=ax, name=title or "model")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.set_title(f"ROC curve {title}".strip())
        save(fig, "roc_curve.png")

        fig, ax = plt.subplots(figsize=(5, 4.5))
        m.PrecisionRecallDisplay.from_predictions(y_true, proba, ax=ax, name=title or "model")
        ax.axhline(y_true.mean(), ls="--", c="grey", lw=0.8, label="chance")
        ax.set_title(f"Precision-recall curve {title}".strip())
        save(fig, "pr_curve.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    m.ConfusionMatrixDisplay.from_predictions(
        y_true,
        (np.asarray(proba) >= threshold).astype(int),
        labels=[0, 1],
        display_labels=["not planet", "planet"],
        ax=ax,
        colorbar=False,
    )
    ax.set_title(f"Confusion matrix (threshold {threshold:.3f})")
    save(fig, "confusion_matrix.png")

    if importances is not None and feature_names is not None and len(importances):
        order = np.argsort(importances)[::-1][:25][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(order) + 1.2))
        ax.barh([feature_names[i] for i in order], np.asarray(importances)[order])
        ax.set_xlabel("importance")
        ax.set_title(f"Feature importance {title}".strip())
        save(fig, "feature_importance.png")
    return paths
