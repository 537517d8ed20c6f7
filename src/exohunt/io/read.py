"""One entry point, :func:`read_dataset`: detect the format of a path and call its reader."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from importlib import resources
from pathlib import Path

from exohunt.dataset import Dataset, normalize_label
from exohunt.errors import ConfigError, DataError
from exohunt.io._files import check_path, csv_columns, npz_keys, read_csv, sniff
from exohunt.io.archive import ARCHIVE_FORMATS, detect_archive, read_archive
from exohunt.io.columns import (
    DEFAULT_LABEL_COLUMN,
    canonicalize,
    find_column,
    id_strings,
    is_known_column,
    list_columns,
)
from exohunt.io.context import with_star_context
from exohunt.io.flux_csv import read_catalogue_csv, read_flux_csv
from exohunt.io.kaggle import is_kaggle, read_kaggle
from exohunt.io.lightcurves import read_folder, read_lightcurves
from exohunt.io.views import is_views, read_views

logger = logging.getLogger(__name__)

FORMATS = (
    *("koi", "tce", "toi", "k2", "astronet-tces", "flux-csv", "catalogue-csv", "kaggle"),
    *("fits", "jsonl", "lightcurve-folder", "views"),
)
LIGHTCURVE_FORMATS = ("fits", "jsonl", "lightcurve-folder")
#: Columns a ``join`` table may share with the main table to match rows on.
JOIN_KEYS = (
    *("kepid", "tce_plnt_num", "kepoi_name", "toi", "tid", "tic_id", "toi_id", "row_id"),
    *("pl_name", "hostname", "star_id"),
)
#: What :func:`exohunt.io._files.sniff` finds in a file of each format.
_KIND = {"fits": "fits", "jsonl": "jsonl", "views": "npz", "lightcurve-folder": "folder"}
_KIND_NAMES = {
    "csv": "a CSV file",
    "fits": "a FITS file",
    "jsonl": "a JSON Lines file",
    "npz": "a NumPy .npz archive",
    "folder": "a folder",
}


def bundled_koi_path() -> Path:
    """The Kepler KOI cumulative table shipped with exohunt (development rows, gzipped CSV)."""
    return Path(str(resources.files("exohunt") / "data" / "kepler_koi_cumulative.csv.gz"))


def read_dataset(
    path,
    format: str = "auto",
    *,
    label_column: str = DEFAULT_LABEL_COLUMN,
    positive_labels: Iterable[str] | str | None = None,
    negative_labels: Iterable[str] | str | None = None,
    join=None,
    labels=None,
) -> Dataset:
    """Read a catalogue table, light curves or view archive as a :class:`Dataset`.

    Parameters
    ----------
    path : path of a file (CSV, gzipped or not; FITS; JSONL; ``.npz``) or a folder of light curves.
    format : "auto" (detect from the content) or one of :data:`FORMATS`.
    label_column : label column of generic CSVs (and of a labels CSV); for archive tables a name
        other than the default replaces the table's own label column.
    positive_labels, negative_labels : raw label values (or one comma-separated string) that mean
        planet / not planet; giving one side makes every other value the other class.
    join : path of a second table joined on the key columns both share (e.g. ``kepid`` and
        ``tce_plnt_num``); columns present in both are taken from the main table.
    labels : labels CSV for light-curve files and folders.

    Raises
    ------
    ConfigError for an unknown format or options that do not apply; DataError for a missing,
    empty or unreadable file, an unrecognised table, or a join without a shared key.
    """
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"unknown format '{format}'; choose one of: auto, {', '.join(FORMATS)}")
    path = check_path(path)
    detected = detect_format(path, label_column) if format == "auto" else format
    if format != "auto":
        _check_kind(path, format, label_column)
    if labels is not None and detected not in LIGHTCURVE_FORMATS:
        raise ConfigError(
            f"--labels only applies to light-curve files (fits, jsonl, lightcurve-folder); "
            f"{path} is read as {detected} (drop --labels)"
        )
    logger.debug("reading %s as %s", path, detected)
    dataset = _read(path, detected, label_column, labels)
    if join is not None:
        dataset = join_table(dataset, join)
    dataset = with_star_context(dataset)  # catalogue tables: each signal among its star's others
    if positive_labels or negative_labels:
        dataset = _override_labels(dataset, _split(positive_labels), _split(negative_labels))
    return dataset


def detect_format(path: Path, label_column: str = DEFAULT_LABEL_COLUMN) -> str:
    """The format of ``path``, from its content rather than its name.

    In order: a folder is ``lightcurve-folder``; a file starting with the FITS card ``SIMPLE`` is
    ``fits``; a zip archive is ``views`` (if it has ``global_view``/``local_view``); text starting
    with ``{`` is ``jsonl``. Anything else is read as a CSV (gzipped or not, leading ``#`` lines
    skipped) and its columns decide: ``koi_disposition`` -> koi, ``av_training_set`` -> tce,
    ``tfopwg_disp`` -> toi, ``pl_name`` + ``hostname`` + ``disposition`` -> k2, ``Disposition``
    + ``tic_id`` -> astronet-tces, ``FLUX.1`` -> kaggle, ``flux`` -> flux-csv, and a known
    catalogue column or the label column -> catalogue-csv. Raises DataError otherwise.
    """
    kind = sniff(path)
    if kind == "folder":
        return "lightcurve-folder"
    if kind in ("fits", "jsonl"):
        return kind
    if kind == "npz":
        keys = npz_keys(path)
        if is_views(keys):
            return "views"
        raise DataError(
            f"{path} is a NumPy archive without global_view/local_view arrays; arrays are: "
            f"{list_columns(keys)} (exohunt reads AstroNet view archives)"
        )
    columns = csv_columns(path)
    archive = detect_archive(columns)
    if archive:
        return archive
    if is_kaggle(columns):
        return "kaggle"
    if find_column(columns, "flux"):
        return "flux-csv"
    if find_column(columns, label_column) or any(is_known_column(c) for c in columns):
        return "catalogue-csv"
    raise DataError(
        f"cannot tell the format of {path}: no known catalogue column, no 'flux' column and no "
        f"label column '{label_column}'; columns are: {list_columns(columns)} "
        "(choose a reader with --format or name the label column with --label-column)"
    )


def _check_kind(path: Path, format: str, label_column: str) -> None:
    """DataError if a forced ``format`` cannot read what ``path`` holds, suggesting one that can."""
    kind = sniff(path)
    if kind == _KIND.get(format, "csv"):
        return
    try:
        suggestion = f"use --format {detect_format(path, label_column)}"
    except DataError:
        suggestion = "choose another --format"
    raise DataError(
        f"{path} is {_KIND_NAMES[kind]}, which the '{format}' reader cannot read "
        f"({suggestion}, or drop --format to detect it)"
    )


def _read(path: Path, format: str, label_column: str, labels) -> Dataset:
    if format in ARCHIVE_FORMATS:
        return read_archive(path, format, label_column)
    if format in ("fits", "jsonl"):
        labels = None if labels is None else check_path(labels)
        return read_lightcurves([path], path, format, labels, label_column)
    if format == "lightcurve-folder":
        return read_folder(path, labels, label_column)
    readers = {
        "flux-csv": read_flux_csv,
        "catalogue-csv": read_catalogue_csv,
        "kaggle": read_kaggle,
        "views": read_views,
    }
    return readers[format](path, label_column)


def join_table(dataset: Dataset, path) -> Dataset:
    """Add the columns of the table at ``path`` to ``dataset``, matching rows on shared keys.

    Every row of ``dataset`` is kept (a left join). Raises DataError if the tables share no key
    column, the join table has several rows for one key, or no row matches.
    """
    path = check_path(path)
    other = canonicalize(read_csv(path))
    table = dataset.table
    keys = [c for c in JOIN_KEYS if c in table.columns and c in other.columns]
    if not keys:
        raise DataError(
            f"cannot join {path}: it shares no key column with {dataset.source} (a join needs "
            f"one of {', '.join(JOIN_KEYS)}); its columns are: {list_columns(other.columns)}"
        )
    added = [c for c in other.columns if c not in table.columns]
    right = other[keys + added]
    if right.duplicated(keys).any():
        raise DataError(
            f"cannot join {path}: {int(right.duplicated(keys).sum())} rows repeat a "
            f"({', '.join(keys)}) value; a join table needs one row per key"
        )
    left = table
    for key in keys:
        if table[key].dtype != right[key].dtype:
            left = left.assign(**{key: id_strings(left[key])})
            right = right.assign(**{key: id_strings(right[key])})
    merged = left.merge(right, on=keys, how="left", indicator="_joined", validate="many_to_one")
    matched = int((merged.pop("_joined") == "both").sum())
    if matched == 0:
        raise DataError(f"no row of {dataset.source} matched {path} on {', '.join(keys)}")
    for key in keys:  # restore the original key values and types
        merged[key] = table[key].to_numpy()
    note = (
        f"joined {matched} of {len(table)} rows with {path.name} on {', '.join(keys)} "
        f"(added {len(added)} columns: {list_columns(added, limit=10)})"
    )
    logger.info(note)
    return replace(dataset, table=merged, notes=(*dataset.notes, note))


def _split(values) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = values.split(",")
    values = tuple(str(v).strip() for v in values if str(v).strip())
    return values or None


def _override_labels(dataset: Dataset, positive, negative) -> Dataset:
    if dataset.mapping is None:
        raise DataError(
            f"{dataset.source} has no labels, so --positive-labels/--negative-labels cannot "
            "apply (name its label column with --label-column)"
        )
    seen = {normalize_label(v) for v in dataset.raw_labels.unique()}
    for option, values in (("--positive-labels", positive), ("--negative-labels", negative)):
        absent = [v for v in values or () if normalize_label(v) not in seen]
        if absent:
            present = sorted(str(v) for v in dataset.raw_labels.dropna().unique())
            raise ConfigError(
                f"{option} value(s) {', '.join(absent)} do not occur in column "
                f"'{dataset.label_column}'; its values are: {list_columns(present)}"
            )
    mapping = dataset.mapping.override(positive, negative)
    note = f"labels: planet = {', '.join(mapping.positive) or 'every other value'}; not planet = "
    note += ", ".join(mapping.negative) or "every other value"
    return replace(dataset, mapping=mapping, notes=(*dataset.notes, note))
