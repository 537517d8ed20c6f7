"""The saved model's file name, and scoring raw rows with it: what :mod:`exohunt.predict` and the
servable MLflow model (:mod:`exohunt.tracking.models`) share.

Raw rows are rows as a CSV or a request body gives them (aliases, arrays as text, no star
context); the model takes the frame of :meth:`exohunt.dataset.Dataset.to_frame`.
:func:`prepare_raw_frame` turns the one into the other. This module depends only on
:mod:`exohunt.dataset` and :mod:`exohunt.io`, so the tracking layer may import it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exohunt.dataset import ARRAY_COLUMNS
from exohunt.io.columns import STAR_ID_COLUMNS, canonicalize, id_strings
from exohunt.io.context import CONTEXT_COLUMNS, add_star_context
from exohunt.io.flux_csv import parse_cells

#: The fitted model's file in an ``exohunt train`` output folder (joblib).
MODEL_FILE = "model.joblib"
#: The key of ``model_metadata.json`` holding the SHA-256 of each model file.
HASH_KEY = "model_sha256"


def file_sha256(path) -> str:
    """The SHA-256 of a file, as hex."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_file(model_file, metadata: dict) -> None:
    """Refuse to unpickle ``model_file`` unless its SHA-256 is the one training recorded in
    ``metadata`` (``model_sha256``). Unpickling runs code: a model file changed after training
    could do anything. Models saved before exohunt recorded hashes are loaded as they are.

    Raises ModelError on a mismatch.
    """
    from pathlib import Path

    from exohunt.errors import ModelError

    expected = (metadata.get(HASH_KEY) or {}).get(Path(model_file).name)
    if expected is None:
        return
    actual = file_sha256(model_file)
    if actual != expected:
        raise ModelError(
            f"{model_file} is not the file training saved: its SHA-256 is {actual[:12]}..., "
            f"model_metadata.json records {expected[:12]}... (a model file is code: restore it "
            "from a source you trust, or train again)"
        )


def prepare_raw_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw input rows as the model takes them: aliases renamed to canonical columns, the star
    context of :mod:`exohunt.io.context` added from these rows if absent (each row its own star
    without a star id column), and array cells written as text (``"[1.0, 0.99, ...]"``, as in a
    CSV) parsed into arrays."""
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
