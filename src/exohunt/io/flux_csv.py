"""Generic CSV tables: one light curve per row in a ``flux`` cell, or catalogue columns only.

A ``flux`` cell (and an optional ``time`` cell, BJD-offset days) holds a list of numbers, written
JSON-style (``[1.0, 0.99, NaN]``) or delimited by spaces, commas or semicolons. Other columns are
catalogue columns and get their canonical names (:mod:`exohunt.io.columns`). Labels come from
the label column (default ``label``) and are read with :data:`~exohunt.io.columns.GENERIC_MAPPING`
(0/1, true/false, yes/no, or disposition words); without one the rows are unlabelled.
With a ``time`` column, cadences whose time or flux is not finite are dropped (as the FITS and
JSONL readers do); without one, NaN values are kept so that positions still mean cadences, and an
infinite value is refused. So is a number beyond :data:`~exohunt.io._files.MAX_ABS_VALUE`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.dataset import Dataset
from exohunt.errors import DataError
from exohunt.io._files import check_numbers, csv_columns, read_csv
from exohunt.io.columns import (
    DEFAULT_LABEL_COLUMN,
    canonicalize,
    choose_label,
    find_column,
    row_groups,
)

logger = logging.getLogger(__name__)

_TO_SPACES = str.maketrans({",": " ", ";": " ", "[": " ", "]": " "})
EXPECTED_CELL = 'a list of numbers such as "[1.0, 0.99, NaN]" or "1.0 0.99 NaN"'


def parse_cell(cell) -> np.ndarray:
    """One ``flux``/``time`` cell as a float array; ValueError if it is not a list of numbers."""
    if isinstance(cell, (int, float, np.number)) and not pd.isna(cell):
        return np.array([cell], dtype=float)
    if not isinstance(cell, str) or not cell.strip():
        raise ValueError("empty cell")
    text = cell.translate(_TO_SPACES).replace("null", "nan")
    values = np.array(text.split(), dtype=float)
    if values.size == 0:
        raise ValueError("no numbers in the cell")
    return values


def parse_cells(cells, column: str, source) -> list[np.ndarray]:
    """Parse a column of cells; DataError naming the 1-based data row and column of a bad cell."""
    out = []
    for row, cell in enumerate(cells, start=1):
        try:
            out.append(parse_cell(cell))
        except ValueError as exc:
            shown = str(cell) if len(str(cell)) <= 40 else str(cell)[:37] + "..."
            raise DataError(
                f"cannot parse the '{column}' cell of data row {row} in {source} ({shown!r}); "
                f"expected {EXPECTED_CELL}"
            ) from exc
    return out


def read_flux_csv(path: Path, label_column: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Read a CSV with a ``flux`` column (one light curve per row).

    Raises DataError for a cell that is not a list of numbers, a row whose ``time`` and
    ``flux`` lengths differ, or an infinite or absurdly large value (where there is no ``time``
    column, or left after dropping the cadences that are not finite).
    """
    columns = csv_columns(path)
    flux_col = find_column(columns, "flux")
    if flux_col is None:
        raise DataError(f"{path} has no 'flux' column (use --format catalogue-csv for tables)")
    time_col = find_column(columns, "time")
    frame = read_csv(path, text_columns=[c for c in (flux_col, time_col) if c])
    flux = parse_cells(frame[flux_col], flux_col, path)
    time = None
    if time_col is not None:
        time = parse_cells(frame[time_col], time_col, path)
        for row, (t, f) in enumerate(zip(time, flux, strict=True), start=1):
            if t.size != f.size:
                raise DataError(
                    f"data row {row} of {path} has {t.size} '{time_col}' values but {f.size} "
                    f"'{flux_col}' values (give one time per flux value)"
                )
        time, flux, dropped = finite_cadences(time, flux)
    for row, (t, f) in enumerate(zip(time or [None] * len(flux), flux, strict=True), start=1):
        check_numbers(f, f"the '{flux_col}' cell of data row {row} in {path}")
        if t is not None:
            check_numbers(t, f"the '{time_col}' cell of data row {row} in {path}")
    table = frame.drop(columns=[c for c in (flux_col, time_col) if c])
    data = _generic_dataset(table, path, "flux-csv", label_column, time=time, flux=flux)
    if time_col is not None and dropped:
        data = replace(
            data, notes=(*data.notes, f"dropped {dropped} cadences with NaN time or flux")
        )
    return data


def finite_cadences(times, fluxes) -> tuple[list, list, int]:
    """Each (time, flux) pair without the cadences where either is not finite; and how many."""
    out_time, out_flux, dropped = [], [], 0
    for time, flux in zip(times, fluxes, strict=True):
        keep = np.isfinite(time) & np.isfinite(flux)
        dropped += int(keep.size - keep.sum())
        out_time.append(time[keep])
        out_flux.append(flux[keep])
    return out_time, out_flux, dropped


def read_catalogue_csv(path: Path, label_column: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Read a CSV of catalogue columns (no light curves), one row per object."""
    return _generic_dataset(read_csv(path), path, "catalogue-csv", label_column)


def _generic_dataset(
    table: pd.DataFrame, source, format: str, label_column: str, time=None, flux=None
) -> Dataset:
    table = canonicalize(table.reset_index(drop=True))
    column, mapping = choose_label(table.columns, label_column, source)
    notes = []
    if column is None:
        notes.append(
            f"no label column '{label_column}' in {Path(source).name}: rows are unlabelled "
            "(use --label-column to name it)"
        )
    groups, id_columns = row_groups(table)
    if not id_columns:
        notes.append("no star id column: each row is treated as its own star")
    logger.info("read %d %s rows from %s", len(table), format, source)
    return Dataset(
        table=table,
        groups=groups,
        format=format,
        source=str(source),
        raw_labels=None if column is None else table[column],
        mapping=mapping,
        label_column=column,
        id_columns=id_columns,
        time=time,
        flux=flux,
        notes=tuple(notes),
    )
