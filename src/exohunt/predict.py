"""Score new data with a saved model: ``exohunt predict`` and ``exohunt evaluate``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.dataset import Dataset
from exohunt.errors import DataError, ModelError
from exohunt.evaluate import compute_metrics
from exohunt.serving import MODEL_FILE, check_model_file


@dataclass
class LoadedModel:
    """A saved model and the metadata it was saved with."""

    model: object
    metadata: dict
    source: str

    @property
    def threshold(self) -> float:
        return float(self.model.threshold)


def is_mlflow_uri(location: str | Path) -> bool:
    """Whether ``location`` names a logged model (``models:/``, ``runs:/``, any ``scheme://``)
    rather than a folder written by ``exohunt train``."""
    text = str(location)
    return "://" in text or text.startswith(("models:/", "runs:/"))


def load_model(location: str | Path, tracking_uri: str | None = None) -> LoadedModel:
    """Load a model from a ``exohunt train`` output directory or an MLflow model URI.

    Raises
    ------
    ModelError
        If the location does not exist or holds no exohunt model.
    """
    text = str(location)
    if is_mlflow_uri(text):
        from exohunt.tracking import load_logged_model

        model, metadata = load_logged_model(text, tracking_uri)
        return LoadedModel(model, metadata, text)
    path = Path(location)
    if not path.exists():
        raise ModelError(
            f"no model at {path}: the directory does not exist "
            "(give the --output directory of 'exohunt train', or an MLflow models:/ or runs:/ URI)"
        )
    model_file = path / MODEL_FILE if path.is_dir() else path
    if not model_file.is_file():
        raise ModelError(
            f"{path} is not an exohunt model: it has no {MODEL_FILE} "
            "(give the --output directory of 'exohunt train')"
        )
    import joblib

    meta_file = model_file.parent / "model_metadata.json"
    metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    check_model_file(model_file, metadata)  # before unpickling: a model file is code
    try:
        model = joblib.load(model_file)
    except Exception as exc:  # a corrupt or foreign pickle: tell the user which file
        raise ModelError(f"{model_file} could not be loaded as a model: {exc}") from exc
    if not hasattr(model, "predict_proba") or not hasattr(model, "threshold"):
        raise ModelError(f"{model_file} holds a {type(model).__name__}, not an exohunt model")
    return LoadedModel(model, metadata, str(path))


def planet_probability(loaded: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """P(planet) for each row of a model-input frame."""
    return np.asarray(loaded.model.predict_proba(frame))[:, 1]


def predict(loaded: LoadedModel, dataset: Dataset) -> pd.DataFrame:
    """One row per input row: its id columns, ``planet_probability`` and ``predicted_label``
    (1 = planet at the model's saved threshold), plus ``true_label`` when the data is labelled."""
    proba = planet_probability(loaded, dataset.to_frame())
    out = pd.DataFrame({c: dataset.table[c].to_numpy() for c in dataset.id_columns})
    if not dataset.id_columns:
        out["star_id"] = dataset.groups
    out["planet_probability"] = proba
    out["predicted_label"] = (proba >= loaded.threshold).astype(int)
    if dataset.has_labels:
        out["true_label"] = dataset.labels
    return out


def evaluate(loaded: LoadedModel, dataset: Dataset) -> dict:
    """The full metric set of ``exohunt train`` on the labelled rows of ``dataset``."""
    if not dataset.has_labels:
        raise DataError(
            f"{dataset.source} has no labels to evaluate against "
            "(use --label-column, or 'exohunt predict' for unlabelled data)"
        )
    rows = dataset.labelled()
    if len(rows) == 0:
        raise DataError(f"{dataset.source} has no rows labelled planet or not planet")
    proba = planet_probability(loaded, rows.to_frame())
    return compute_metrics(rows.labels.astype(int), proba, loaded.threshold)
