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
from exohunt.train import MODEL_FILE


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

    try:
        model = joblib.load(model_file)
    except Exception as exc:  # a corrupt or foreign pickle: tell the user which file
        raise ModelError(f"{model_file} could not be loaded as a model: {exc}") from exc
    if not hasattr(model, "predict_proba") or not hasattr(model, "threshold"):
        raise ModelError(f"{model_file} holds a {type(model).__name__}, not an exohunt model")
    meta_file = model_file.parent / "model_metadata.json"
    metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
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


# --------------------------------------------------------------------------- raw rows (serving)
def prepare_raw_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw input rows as the model takes them: aliases renamed to canonical columns, the star
    context of :mod:`exohunt.io.context` added from these rows if absent (each row its own star
    without a star id column), and array cells written as text (``"[1.0, 0.99, ...]"``, as in a
    CSV) parsed into arrays."""
    from exohunt.dataset import ARRAY_COLUMNS
    from exohunt.io.columns import STAR_ID_COLUMNS, canonicalize, id_strings
    from exohunt.io.context import CONTEXT_COLUMNS, add_star_context
    from exohunt.io.flux_csv import parse_cells

    frame = canonicalize(frame.reset_index(drop=True))
    if any(c not in frame.columns for c in CONTEXT_COLUMNS):  # rows not read by exohunt's readers
        star = next((c for c in STAR_ID_COLUMNS if c in frame.columns), None)
        frame = add_star_context(frame, None if star is None else id_strings(frame[star]))
    for column in ARRAY_COLUMNS:
        if column in frame.columns and frame[column].map(lambda v: isinstance(v, str)).any():
            parsed = parse_cells(frame[column], column, "the input rows")
            frame[column] = pd.Series(parsed, index=frame.index, dtype=object)
    return frame


def score_raw(model, frame: pd.DataFrame) -> pd.DataFrame:
    """Score raw rows: ``planet_probability`` and ``predicted_label`` (1 = planet)."""
    proba = np.asarray(model.predict_proba(prepare_raw_frame(frame)))[:, 1]
    return pd.DataFrame(
        {
            "planet_probability": proba,
            "predicted_label": (proba >= float(model.threshold)).astype(np.int64),
        }
    )


def required_columns(model) -> list[str]:
    """The input columns a fitted model reads: catalogue features and array columns."""
    features = model.estimator.estimator[0]
    columns = []
    for _, part in features.transformer_list:
        columns += list(getattr(part, "columns_", []))
        columns += [c for c in getattr(part, "input_columns", ())]
    return list(dict.fromkeys(columns))


def raw_input_example(model, frame: pd.DataFrame) -> pd.DataFrame:
    """A few rows in the form a CSV gives them: the needed columns (with the star id, period and
    epoch the star context is computed from), numbers as float64, star ids as integers where they
    are numbers (``kepid``) and as text otherwise, and arrays as JSON-style text. Used as the
    servable model's input example and signature."""
    from exohunt.dataset import ARRAY_COLUMNS
    from exohunt.io.columns import STAR_ID_COLUMNS, id_strings
    from exohunt.io.context import CONTEXT_COLUMNS

    columns = required_columns(model)
    if any(c in CONTEXT_COLUMNS for c in columns):  # what the star context is computed from
        star = [c for c in STAR_ID_COLUMNS if c in frame.columns][:1]
        columns += [c for c in (*star, "orbital_period", "transit_epoch") if c in frame.columns]
    example = pd.DataFrame(index=range(len(frame)))
    for column in dict.fromkeys(columns):
        values = frame[column].reset_index(drop=True)
        if column in ARRAY_COLUMNS:
            example[column] = values.map(
                lambda a: "[" + ", ".join(f"{v:.7g}" for v in np.asarray(a, dtype=float)) + "]"
            )
        elif column in STAR_ID_COLUMNS:
            ids = id_strings(values)
            numeric = len(ids) > 0 and all(i.isdigit() for i in ids)
            example[column] = ids.astype(np.int64) if numeric else ids
        else:
            example[column] = pd.to_numeric(values, errors="coerce").astype("float64")
    return example
