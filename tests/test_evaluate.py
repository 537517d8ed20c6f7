import numpy as np
import pytest

from exohunt.errors import DataError
from exohunt.evaluate import (
    METRICS,
    best_f1_threshold,
    compute_metrics,
    cv_folds,
    save_plots,
    split_by_star,
    summarise_folds,
)


def _stars(n_stars=200, rows_per_star=3, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"star{i}" for i in range(n_stars)], rows_per_star)
    star_label = rng.random(n_stars) < 0.3
    y = np.repeat(star_label, rows_per_star).astype(int)
    return y, groups


def test_split_by_star_keeps_every_star_on_one_side_and_the_balance():
    y, groups = _stars()
    train, test = split_by_star(y, groups, test_size=0.2, random_state=1)
    assert set(groups[train]).isdisjoint(groups[test])
    assert len(train) + len(test) == len(y)
    assert len(set(groups[test])) == 40  # 20% of 200 stars
    assert abs(y[test].mean() - y.mean()) < 0.05


def test_split_by_star_is_reproducible_and_seed_dependent():
    y, groups = _stars()
    a = split_by_star(y, groups, 0.2, 7)[1]
    assert np.array_equal(a, split_by_star(y, groups, 0.2, 7)[1])
    assert not np.array_equal(a, split_by_star(y, groups, 0.2, 8)[1])


def test_split_by_star_refuses_a_class_with_one_star():
    y = np.array([1, 0, 0, 0, 0, 0])
    groups = np.array(["a", "b", "c", "d", "e", "f"])
    with pytest.raises(DataError, match="too few stars"):
        split_by_star(y, groups, 0.2, 0)


def test_cv_folds_group_by_star_and_cover_every_row_once():
    y, groups = _stars()
    folds = cv_folds(y, groups, 5, random_state=0)
    assert len(folds) == 5
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen) == list(range(len(y)))
    for train, test in folds:
        assert set(groups[train]).isdisjoint(groups[test])
        assert 0.15 < y[test].mean() < 0.45


def test_cv_folds_needs_k_stars_per_class():
    y = np.array([1, 1, 0, 0, 0, 0])
    with pytest.raises(DataError, match="--cv 5"):
        cv_folds(y, np.arange(6).astype(str), 5, 0)


def test_best_f1_threshold_finds_the_separating_value():
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    proba = np.array([0.1, 0.2, 0.3, 0.35, 0.36, 0.8, 0.9])
    threshold = best_f1_threshold(y, proba)
    assert 0.35 < threshold <= 0.36
    assert compute_metrics(y, proba, threshold)["f1"] == 1.0


def test_compute_metrics_on_known_predictions():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0])
    proba = np.array([0.1, 0.6, 0.2, 0.7, 0.4, 0.3, 0.9, 0.2])
    m = compute_metrics(y, proba, 0.5)
    assert set(METRICS) <= set(m)
    assert m["confusion_matrix"] == {"tn": 4, "fp": 1, "fn": 1, "tp": 2}
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(14 / 15)


def test_compute_metrics_with_one_class_gives_nan_ranking_metrics():
    m = compute_metrics(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.9]), 0.5)
    assert np.isnan(m["roc_auc"]) and np.isnan(m["average_precision"])


def test_summarise_folds_means_and_stds():
    folds = [dict.fromkeys(METRICS, v) for v in (0.5, 0.7)]
    s = summarise_folds(folds)
    assert s["f1"]["mean"] == pytest.approx(0.6)
    assert s["f1"]["std"] == pytest.approx(0.1)
    assert s["mcc"]["folds"] == [0.5, 0.7]


def test_save_plots_writes_pngs(tmp_path):
    y, _ = _stars(50, 1)
    proba = np.clip(y * 0.6 + np.linspace(0, 0.4, len(y)), 0, 1)
    paths = save_plots(y, proba, 0.5, tmp_path, ["a", "b"], np.array([0.3, 0.7]))
    names = sorted(p.name for p in paths)
    assert names == [
        "confusion_matrix.png",
        "feature_importance.png",
        "pr_curve.png",
        "roc_curve.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
