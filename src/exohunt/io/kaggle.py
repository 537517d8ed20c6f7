"""The Kaggle "Exoplanet Hunting in Deep Space" format: ``LABEL`` plus ``FLUX.1 .. FLUX.N``.

Each row is one K2 light curve (PDCSAP flux, evenly spaced cadences, no time column).
``LABEL`` 2 means planet host, 1 not. The format carries no star ids, so every row is its own star
(group ``"row-<i>"``, 0-based), and grouped splits cannot keep a star's rows together.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.dataset import Dataset, LabelMapping
from exohunt.errors import DataError
from exohunt.io._files import read_csv
from exohunt.io.columns import DEFAULT_LABEL_COLUMN, choose_label, list_columns

logger = logging.getLogger(__name__)

KAGGLE_MAPPING = LabelMapping(positive=("2",), negative=("1",))
_FLUX_COLUMN = re.compile(r"^FLUX\.(\d+)$")


def is_kaggle(columns) -> bool:
    return "FLUX.1" in columns


def read_kaggle(path: Path, label_column: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Read a Kaggle-format CSV; flux is one float64 array per row, time is None.

    Raises DataError if there is no ``FLUX.<n>`` column or a flux value is not a number.
    """
    frame = read_csv(path)
    numbered = sorted(
        (int(m.group(1)), c) for c in frame.columns if (m := _FLUX_COLUMN.match(str(c)))
    )
    if not numbered:
        raise DataError(
            f"{path} has no FLUX.1 .. FLUX.N columns; columns are: {list_columns(frame.columns)} "
            "(check --format)"
        )
    flux_columns = [c for _, c in numbered]
    for column in flux_columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            values = frame[column]
            bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"cannot parse the '{column}' cell of data row {row + 1} in {path} "
                f"({values.iloc[row]!r}); every FLUX.<n> cell must be a number"
            )
    flux = frame[flux_columns].to_numpy(dtype=np.float64)
    table = frame.drop(columns=flux_columns)
    column, mapping = choose_label(table.columns, label_column, path, "LABEL", KAGGLE_MAPPING)
    notes = ["Kaggle rows carry no star id: each row is treated as its own star"]
    if column not in table.columns:
        column, mapping = None, None
        notes.append(f"no LABEL column in {path.name}: rows are unlabelled")
    table = table[[column]] if column else table.iloc[:, :0]
    logger.info(
        "read %d Kaggle light curves of %d cadences from %s", len(table), flux.shape[1], path
    )
    return Dataset(
        table=table.reset_index(drop=True),
        groups=np.array([f"row-{i}" for i in range(len(table))]),
        format="kaggle",
        source=str(path),
        raw_labels=None if column is None else table[column].reset_index(drop=True),
        mapping=mapping,
        label_column=column,
        flux=list(flux),
        notes=tuple(notes),
    )
