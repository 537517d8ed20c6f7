"""NASA Exoplanet Archive tables (KOI, DR24 TCE, TOI, K2) and the AstroNet-Triage TCE table.

Each format is recognised by its label column and read with :func:`exohunt.io._files.read_csv`
(which skips the archive's ``#`` header lines); catalogue columns get their canonical names
(:mod:`exohunt.io.columns`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from exohunt.dataset import Dataset, LabelMapping
from exohunt.errors import DataError
from exohunt.io._files import read_csv
from exohunt.io.columns import canonicalize, choose_label, id_strings, list_columns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveFormat:
    """How to read one archive table: what identifies it, its labels, and its ids."""

    name: str
    signature: tuple[str, ...]  # columns that identify the format
    label_column: str
    mapping: LabelMapping
    group_column: str  # the star
    id_columns: tuple[str, ...]


ARCHIVE_FORMATS = {
    f.name: f
    for f in (
        ArchiveFormat(
            "koi",
            ("koi_disposition",),
            "koi_disposition",
            LabelMapping(("CONFIRMED",), ("FALSE POSITIVE",)),
            "kepid",
            ("kepid", "kepoi_name", "kepler_name"),
        ),
        ArchiveFormat(
            "tce",
            ("av_training_set",),
            "av_training_set",
            LabelMapping(("PC",), ("AFP", "NTP")),
            "kepid",
            ("kepid", "tce_plnt_num"),
        ),
        ArchiveFormat(
            "toi",
            ("tfopwg_disp",),
            "tfopwg_disp",
            LabelMapping(("CP", "KP"), ("FP", "FA")),
            "tid",
            ("toi", "tid"),
        ),
        ArchiveFormat(
            "k2",
            ("pl_name", "hostname", "disposition"),
            "disposition",
            LabelMapping(("CONFIRMED",), ("FALSE POSITIVE", "REFUTED")),
            "hostname",
            ("pl_name", "hostname"),
        ),
        ArchiveFormat(
            "astronet-tces",
            ("Disposition", "tic_id"),
            "Disposition",
            LabelMapping(("PC",), ("EB", "J", "O")),
            "tic_id",
            ("tic_id", "toi_id", "row_id"),
        ),
    )
}


def detect_archive(columns) -> str | None:
    """The archive format whose signature columns are all in ``columns``, or None."""
    for fmt in ARCHIVE_FORMATS.values():
        if all(c in columns for c in fmt.signature):
            return fmt.name
    return None


def read_archive(path: Path, format: str, label_column: str = "label") -> Dataset:
    """Read an archive table as a :class:`Dataset` (one row per KOI / TCE / TOI / planet).

    K2 tables keep only the default parameter set of each planet (``default_flag == 1``). The
    AstroNet ``Duration`` (days) becomes ``transit_duration`` in hours. Raises DataError if a
    column the format needs is missing.
    """
    fmt = ARCHIVE_FORMATS[format]
    frame = read_csv(path)
    return archive_dataset(frame, fmt, path, label_column)


def archive_dataset(
    frame: pd.DataFrame, fmt: ArchiveFormat, source, label_column: str = "label"
) -> Dataset:
    """Build the Dataset of an archive table already in memory (used by the views reader too)."""
    missing = [c for c in (*fmt.signature, fmt.group_column) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source} is not a {fmt.name} table: missing column(s) {', '.join(missing)}; "
            f"columns are: {list_columns(frame.columns)} (check --format)"
        )
    notes = []
    if fmt.name == "k2" and "default_flag" in frame.columns:
        keep = frame["default_flag"] == 1
        notes.append(
            f"dropped {int((~keep).sum())} non-default K2 parameter rows (default_flag != 1)"
        )
        frame = frame.loc[keep].reset_index(drop=True)
        if frame.empty:
            raise DataError(f"{source} has no rows with default_flag == 1 (is it a K2 table?)")
    if fmt.name == "astronet-tces" and "Duration" in frame.columns:
        frame = frame.rename(columns={"Duration": "transit_duration"})
        frame["transit_duration"] = frame["transit_duration"] * 24.0  # days -> hours
        notes.append("AstroNet Duration (days) converted to transit_duration in hours")
    frame = canonicalize(frame)

    column, mapping = choose_label(
        frame.columns, label_column, source, fmt.label_column, fmt.mapping
    )
    groups = id_strings(frame[fmt.group_column])
    blank = groups == ""
    groups[blank] = [f"row-{i}" for i in blank.nonzero()[0]]
    logger.info("read %d %s rows from %s", len(frame), fmt.name, source)
    return Dataset(
        table=frame,
        groups=groups.astype(str),
        format=fmt.name,
        source=str(source),
        raw_labels=frame[column].reset_index(drop=True),
        mapping=mapping,
        label_column=column,
        id_columns=tuple(c for c in fmt.id_columns if c in frame.columns),
        notes=tuple(notes),
    )
