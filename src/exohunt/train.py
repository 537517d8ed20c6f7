"""One training path for every model.

:func:`train` reads the data, splits it by star, fits one Pipeline (features, imputation,
scaling, model) on training rows only, carves a validation split from the training stars for early
stopping and the decision threshold, scores the test split once, and saves the model with its
metrics and metadata. :func:`fit_model` is the single fitting function all models go through.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from exohunt._version import __version__
from exohunt.config import DataConfig, TrainConfig
from exohunt.dataset import Dataset
from exohunt.errors import DataError
from exohunt.evaluate import (
    best_f1_threshold,
    compute_metrics,
    cv_folds,
    save_plots,
    split_by_star,
    summarise_folds,
)
from exohunt.serving import HASH_KEY, MODEL_FILE, file_sha256
from exohunt.tracking import NullTracker, Tracker, UnrecordedError

log = logging.getLogger(__name__)

MIN_LABELLED_ROWS = 10

#: progress(stage, done, total): called by long loops; the CLI draws it.
Progress = Callable[[str, int, int], None]


@dataclass
class FittedModel:
    """The outcome of :func:`fit_model`: the servable model and what was learned on the way."""

    model: object  # FixedThresholdClassifier around the fitted Pipeline
    threshold: float
    feature_names: list[str]
    history: dict = field(default_factory=dict)
    val_metrics: dict = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    reference: dict = field(default_factory=dict)  # each class's feature histograms (reports)
    background: list | None = None  # training rows a SHAP explainer weighs against (the MLP)

    @property
    def pipeline(self):
        return self.model.estimator.estimator

    @property
    def estimator(self):
        return self.pipeline[-1]


@dataclass
class TrainResult:
    fitted: FittedModel
    metrics: dict
    metadata: dict
    output_dir: Path
    run_name: str
    cv: dict | None = None
    run_id: str | None = None  # the MLflow run, when tracked
    test_proba: np.ndarray | None = None
    test_labels: np.ndarray | None = None


def load_data(config: DataConfig) -> Dataset:
    """Read the configured dataset, or the bundled Kepler KOI table when none is given."""
    from exohunt.io import bundled_koi_path, read_dataset

    path = config.dataset or bundled_koi_path()
    return read_dataset(
        path,
        format=config.format,
        label_column=config.label_column,
        positive_labels=config.positive_labels,
        negative_labels=config.negative_labels,
        join=config.join,
        labels=config.labels,
    )


def labelled_rows(dataset: Dataset, label_column: str = "label") -> Dataset:
    """The rows usable for training; raises DataError when they cannot train a classifier."""
    if not dataset.has_labels and dataset.format in ("fits", "lightcurve-folder"):
        raise DataError(
            f"{dataset.source} holds light curves without labels; training needs them "
            "(give a labels CSV with a star id column and a label column: --labels FILE)"
        )
    if not dataset.has_labels:
        columns = ", ".join(map(str, dataset.table.columns[:30]))
        raise DataError(
            f"{dataset.source} has no labels: label column '{label_column}' not found; "
            f"columns are: {columns} (use --label-column, or --format)"
        )
    rows = dataset.labelled()
    counts = rows.counts()
    if len(rows) < MIN_LABELLED_ROWS:
        raise DataError(
            f"{dataset.source} has {len(rows)} labelled rows; training needs at least "
            f"{MIN_LABELLED_ROWS} (add data, or map more values with --positive-labels/"
            "--negative-labels)"
        )
    if counts["planet"] == 0 or counts["not_planet"] == 0:
        only = "planet" if counts["planet"] else "not planet"
        raise DataError(
            f"every labelled row of {dataset.source} is '{only}'; a classifier needs both "
            "classes (check --label-column, --positive-labels and --negative-labels)"
        )
    return rows


def build_pipeline(frame, dataset: Dataset, config: TrainConfig):
    """An unfitted Pipeline: features -> median imputation -> scaling -> model."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from exohunt.features import make_features
    from exohunt.models import get_model, make_estimator
    from exohunt.non_features import NON_FEATURE_COLUMNS_BY_FORMAT

    exclude = tuple(dataset.id_columns) + ((dataset.label_column,) if dataset.label_column else ())
    exclude += NON_FEATURE_COLUMNS_BY_FORMAT.get(dataset.format, ())
    estimator = make_estimator(
        config.model,
        random_state=config.random_state,
        n_jobs=config.n_jobs,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
    )
    if config.model_params:
        estimator.set_params(**config.model_params)
    return Pipeline(
        [
            ("features", make_features(frame, exclude=exclude, flux_features=config.flux_features)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            (
                "scale",
                StandardScaler() if get_model(config.model).scale_features else "passthrough",
            ),
            ("model", estimator),
        ]
    )


def fit_model(
    dataset: Dataset,
    config: TrainConfig,
    progress: Progress | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> FittedModel:
    """Fit the configured model on ``dataset`` (training rows only).

    A validation split of ``config.val_size`` of the stars is held out: it drives early stopping
    and picks the threshold that maximises F1. The returned model applies that threshold.
    ``on_epoch(step, logs)`` is called after each epoch or boosting round of models that use the
    validation split, with that step's losses (``{"train_loss": ..., "val_loss": ...}``); an
    exception it raises (``optuna.TrialPruned``) stops the fit and propagates.
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    from exohunt.models import get_model

    y = dataset.labels.astype(int)
    fit_idx, val_idx = split_by_star(y, dataset.groups, config.val_size, config.random_state)
    fit_part, val_part = dataset.take(fit_idx), dataset.take(val_idx)
    fit_frame, val_frame = fit_part.to_frame(), val_part.to_frame()
    y_fit, y_val = y[fit_idx], y[val_idx]

    pipeline = build_pipeline(fit_frame, dataset, config)
    spec = get_model(config.model)
    log.info("computing features for %d training rows", len(fit_frame))
    if progress is not None:
        for _, step in pipeline.named_steps["features"].transformer_list:
            if hasattr(step, "set_progress"):
                step.set_progress(progress)
    features = pipeline[:-1]
    X_fit = features.fit_transform(fit_frame, y_fit)
    fit_kwargs = {}
    if spec.uses_validation:
        fit_kwargs["eval_set"] = (features.transform(val_frame), y_val)
        total = getattr(pipeline[-1], "epochs", None) or pipeline[-1].get_params().get(
            "n_estimators", 0
        )

        def each_step(step: int, logs: dict) -> None:
            if on_epoch is not None:
                on_epoch(step, logs)
            if progress is not None:
                progress(f"fitting {spec.name}", step + 1, total)

        if progress is not None or on_epoch is not None:
            fit_kwargs["progress"] = each_step
    log.info("fitting %s on %d rows, %d features", spec.name, *X_fit.shape)
    pipeline[-1].fit(X_fit, y_fit, **fit_kwargs)

    reference, background = _reference(pipeline, X_fit, y_fit, spec.name, config.random_state)
    val_proba = pipeline.predict_proba(val_frame)[:, 1]
    threshold = best_f1_threshold(y_val, val_proba)
    model = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=threshold)
    model.fit(fit_frame.iloc[:2], y_fit[:2])  # frozen: only records classes_
    return FittedModel(
        model=model,
        threshold=threshold,
        feature_names=[str(n) for n in features.get_feature_names_out()],
        history=dict(getattr(pipeline[-1], "history_", {}) or {}),
        val_metrics=compute_metrics(y_val, val_proba, threshold),
        n_train=len(fit_idx),
        n_val=len(val_idx),
        reference=reference,
        background=background,
    )


def _reference(pipeline, X_fit, y_fit, model_name: str, random_state: int):
    """Each class's histogram of each feature in the training rows (unscaled), and for the MLP
    up to 64 of those rows as the background its SHAP explanations weigh against."""
    from exohunt.report.reference import class_distributions

    scale = pipeline.named_steps["scale"]
    X = np.asarray(X_fit, dtype=float)
    if scale != "passthrough":
        X = scale.inverse_transform(X)
    names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    background = None
    if model_name == "nn":
        rng = np.random.default_rng(random_state)
        rows = rng.choice(len(X), size=min(64, len(X)), replace=False)
        background = np.round(X[rows], 6).tolist()
    return class_distributions(X, y_fit, names), background


def model_params(fitted: FittedModel, model_name: str) -> dict:
    """The hyperparameters worth logging for the fitted estimator."""
    estimator = fitted.estimator
    params = {
        k: v
        for k, v in estimator.get_params(deep=False).items()
        if v is None or isinstance(v, (int, float, str, bool, tuple, list))
    }
    for attr in ("scale_pos_weight_", "best_iteration_"):
        if hasattr(estimator, attr):
            params[attr.rstrip("_")] = getattr(estimator, attr)
    if model_name in ("nn", "cnn"):
        params.update(optimizer="Adam", loss_function="CrossEntropyLoss")
    return params


def feature_importances(fitted: FittedModel) -> np.ndarray | None:
    values = getattr(fitted.estimator, "feature_importances_", None)
    return None if values is None else np.asarray(values, dtype=float)


def saved_model_modules(model_name: str) -> tuple[str, ...]:
    """The exohunt modules that unpickling a saved ``model_name`` model imports: its estimator's
    and the feature steps'. The tracker imports them ahead, while the model trains."""
    from exohunt.models import make_estimator

    return (type(make_estimator(model_name)).__module__, "exohunt.features")


def default_run_name(model_name: str, now: datetime | None = None) -> str:
    return f"{model_name}_{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}"


def train(
    config: TrainConfig,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    run_name: str | None = None,
) -> TrainResult:
    """Train, evaluate and save one model; see the module docstring.

    Raises
    ------
    ExohuntError
        For bad settings or data (the message says what to change).
    """
    config.validate()
    tracker = tracker or NullTracker()
    dataset = dataset if dataset is not None else load_data(config.data)
    rows = labelled_rows(dataset, config.data.label_column)
    run_name = run_name or default_run_name(config.model)
    output_dir = Path(config.output or Path("models") / run_name).resolve()
    # Written beside the output and moved into place once the run is recorded, so that an
    # interrupted command leaves an earlier model in output_dir whole.
    stage = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)

    try:
        with tracker.run(run_name):
            started = time.perf_counter()
            tracker.set_tags({"exohunt_version": __version__, "data_format": dataset.format})
            tracker.prepare_model_logging(config.model, saved_model_modules(config.model))
            y = rows.labels.astype(int)
            train_idx, test_idx = split_by_star(
                y, rows.groups, config.test_size, config.random_state
            )
            train_rows, test_rows = rows.take(train_idx), rows.take(test_idx)
            tracker.log_dataset(train_rows, train_rows.to_frame(), context="training")

            cv = None
            if config.cv:
                cv = cross_validate(rows, config, progress)
                tracker.log_metrics(_flatten_cv(cv))

            fitted = fit_model(train_rows, config, progress)
            test_proba = fitted.model.predict_proba(test_rows.to_frame())[:, 1]
            metrics = compute_metrics(y[test_idx], test_proba, fitted.threshold)

            metadata = {
                "model_type": config.model,
                "input_csv": str(dataset.source),
                "output_path": str(output_dir),
                "test_size": config.test_size,
                "random_state": config.random_state,
                "n_features": len(fitted.feature_names),
                "n_train_samples": fitted.n_train,
                "n_val_samples": fitted.n_val,
                "n_test_samples": len(test_idx),
                "flux_features_extracted": bool(config.flux_features and dataset.has_lightcurves),
                "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "feature_names": fitted.feature_names,
                "label_mapping": dataset.mapping.to_dict(),
                "label_column": dataset.label_column,
                "data_format": dataset.format,
                "row_counts": dataset.counts(),
                "threshold": fitted.threshold,
                "model_params": model_params(fitted, config.model),
                "config": config.to_dict(),
                "exohunt_version": __version__,
                "run_name": run_name,
                "reference": fitted.reference,
            }
            if fitted.background is not None:
                metadata["explain_background"] = fitted.background
            all_metrics = {
                "test": metrics,
                "validation": fitted.val_metrics,
                "threshold": fitted.threshold,
            }
            if cv is not None:
                all_metrics["cv"] = cv
            save_model(fitted, all_metrics, metadata, stage)
            tracker.log_params(_common_params(metadata) | metadata["model_params"])
            tracker.set_tags({HASH_KEY: metadata[HASH_KEY][MODEL_FILE]})
            tracker.log_history(fitted.history)
            tracker.log_metrics(_scalars(metrics))
            tracker.log_metrics(_scalars(fitted.val_metrics), prefix="val_")
            # queued first: the tracker writes the model while the plots are drawn
            model_uris = tracker.log_model(
                fitted, test_rows.to_frame(), config.model, metadata, stage / MODEL_FILE
            )
            plots = save_plots(
                y[test_idx],
                test_proba,
                fitted.threshold,
                stage / "plots",
                feature_names=fitted.feature_names,
                importances=feature_importances(fitted),
                title=config.model,
            )
            tracker.log_artifacts(plots + [stage / "metrics.json", stage / "model_metadata.json"])
            if config.review_pages:
                review = review_pages(
                    fitted, metadata, test_rows, y[test_idx], test_proba, stage / "review",
                    config.review_pages, tracker.run_id(),
                )  # fmt: skip
                tracker.log_artifacts([review], "review")
            tracker.log_metrics({"duration_seconds": time.perf_counter() - started})
            run_id = tracker.run_id()
    except UnrecordedError as exc:
        # the model is whole, only its record on the store is not: keep both
        move_into_place(stage, output_dir)
        raise exc.saved(output_dir, {f"{stage}/": f"{output_dir}/"}) from None
    move_into_place(stage, output_dir)

    return TrainResult(
        fitted=fitted,
        metrics=all_metrics,
        # written by now: the run's block waits for everything it logged
        metadata=metadata | {"model_uris": model_uris.result()},
        output_dir=output_dir,
        run_name=run_name,
        cv=cv,
        run_id=run_id,
        test_proba=test_proba,
        test_labels=y[test_idx],
    )


def review_pages(
    fitted, metadata, test_rows, y_test, test_proba, folder: Path, per_group: int, run_id=None
) -> Path:
    """Pages for the test rows a reviewer looks at first (:func:`exohunt.report.review_rows`)
    in ``folder``, with their index; returns the folder."""
    from exohunt.predict import LoadedModel
    from exohunt.report import report_rows, review_rows

    loaded = LoadedModel(fitted.model, metadata | {"run_id": run_id or ""}, metadata["run_name"])
    groups = review_rows(y_test, test_proba, fitted.threshold, per_group)
    background = metadata.get("explain_background")
    report_rows(
        loaded, test_rows, folder, groups=groups,
        title=f"{metadata['run_name']}: test rows to review",
        subtitle="the most confident planets and non-planets, and the worst errors",
        run_id=run_id, artifact_path="review", n_jobs=1,
        background=None if background is None else np.asarray(background, dtype=float),
    )  # fmt: skip
    return folder


def cross_validate(rows: Dataset, config: TrainConfig, progress: Progress | None = None) -> dict:
    """K-fold CV (stratified, grouped by star) through :func:`fit_model`: mean, std, folds."""
    y = rows.labels.astype(int)
    fold_metrics = []
    folds = cv_folds(y, rows.groups, config.cv, config.random_state)
    for k, (train_idx, test_idx) in enumerate(folds):
        log.info("cross-validation fold %d/%d", k + 1, len(folds))
        fitted = fit_model(rows.take(train_idx), config)
        proba = fitted.model.predict_proba(rows.take(test_idx).to_frame())[:, 1]
        fold_metrics.append(compute_metrics(y[test_idx], proba, fitted.threshold))
        if progress is not None:
            progress("cross-validation folds", k + 1, len(folds))
    return summarise_folds(fold_metrics)


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n_samples"}


def _flatten_cv(cv: dict) -> dict:
    out = {}
    for name, summary in cv.items():
        out[f"cv_{name}_mean"] = summary["mean"]
        out[f"cv_{name}_std"] = summary["std"]
    return out


def _common_params(metadata: dict) -> dict:
    keys = (
        "model_type",
        "test_size",
        "random_state",
        "n_features",
        "n_train_samples",
        "n_val_samples",
        "n_test_samples",
        "flux_features_extracted",
        "output_path",
        "threshold",
    )
    return {k: metadata[k] for k in keys}


def move_into_place(stage: Path, output_dir: Path) -> None:
    """Replace ``output_dir`` with the finished ``stage`` folder (the old one is removed only
    once the new one is in place)."""
    old = output_dir.with_name(output_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if output_dir.exists():
        output_dir.rename(old)
    stage.rename(output_dir)
    shutil.rmtree(old, ignore_errors=True)


def save_model(fitted: FittedModel, metrics: dict, metadata: dict, output_dir: Path) -> None:
    """Write ``model.joblib``, ``metrics.json`` and ``model_metadata.json`` into ``output_dir``;
    ``metadata`` gains the model file's SHA-256."""
    import joblib

    output_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(fitted.model, output_dir / MODEL_FILE)
    # checked before every unpickling (exohunt.serving.check_model_file)
    metadata[HASH_KEY] = {MODEL_FILE: file_sha256(output_dir / MODEL_FILE)}
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (output_dir / "model_metadata.json").write_text(
        json.dumps(metadata, indent=2, default=str) + "\n"
    )
