"""Labels for light curves from a CSV: matched on a star-id column or on a ``file`` column."""

from __future__ import annotations

from pathlib import Path

from exohunt.dataset import normalize_label
from exohunt.errors import DataError
from exohunt.io._files import check_path, read_csv
from exohunt.io.columns import find_column, id_strings, list_columns

#: Columns of a labels CSV that hold the star id, per id kind of the light curve.
ID_COLUMNS = {
    "kepid": ("kepid", "kic", "star_id"),
    "tic_id": ("tic_id", "tid", "star_id"),
    "name": ("star_id",),
}
LABEL_COLUMNS = ("label", "disposition", "koi_disposition")


def file_stem(name: str) -> str:
    """A file name without directory, ``.gz``, ``.fits``/``.fit`` or ``.jsonl``/``.json``."""
    name = Path(name).name
    for suffix in (".gz", ".fits", ".fit", ".jsonl", ".json"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    return name


def find_labels_csv(folder: Path) -> Path | None:
    """The single ``*.csv``/``*.csv.gz`` directly in ``folder``, or None; DataError if several."""
    found = sorted(p for p in folder.iterdir() if p.name.lower().endswith((".csv", ".csv.gz")))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{folder} holds several CSV files ({names}); pick one with --labels")
    return found[0] if found else None


def attach_labels(curves, path, label_column: str) -> tuple[list, list[str]]:
    """The raw label of each curve from the labels CSV at ``path``, and notes on what matched.

    Each curve is matched on its star id (``kepid``/``kic``/``tic_id``/``tid``/``star_id``) or,
    failing that, on the ``file`` column (file name with or without extension). The label column
    is ``label_column`` if present, else the first of ``label``, ``disposition``,
    ``koi_disposition``. Raises DataError if the CSV has no key or label column, gives one star
    two different labels, or matches no light curve.
    """
    path = check_path(path)
    frame = read_csv(path)
    column = find_column(frame.columns, label_column)
    for candidate in LABEL_COLUMNS:
        column = column or find_column(frame.columns, candidate)
    if column is None:
        raise DataError(
            f"no label column in {path}; columns are: {list_columns(frame.columns)} "
            f"(name it with --label-column, or call it 'label')"
        )
    keys = [c for ids in ID_COLUMNS.values() for c in ids if c in frame.columns]
    if "file" in frame.columns:
        keys.append("file")
    if not keys:
        raise DataError(
            f"{path} has no kepid, kic, tic_id, tid, star_id or file column to match light curves "
            f"on; columns are: {list_columns(frame.columns)}"
        )
    lookup = {key: _lookup(frame, key, column, path) for key in dict.fromkeys(keys)}

    raw, unmatched = [], []
    for curve in curves:
        label = None
        for key in ID_COLUMNS[curve.id_column]:
            if key in lookup and curve.star in lookup[key]:
                label = lookup[key][curve.star]
                break
        if label is None and "file" in lookup:
            label = next((lookup["file"][s] for s in map(file_stem, curve.files)
                          if s in lookup["file"]), None)  # fmt: skip
        raw.append(label)
        if label is None:
            unmatched.append(curve.star or ",".join(curve.files))
    if len(unmatched) == len(curves):
        raise DataError(
            f"no light curve matched a row of {path} on {', '.join(lookup)} "
            "(check that the ids or file names agree)"
        )
    notes = [f"labels from column '{column}' of {path.name}"]
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (", ..." if len(unmatched) > 5 else "")
        notes.append(f"{len(unmatched)} light curve(s) have no row in {path.name} and are "
                     f"unlabelled: {shown}")  # fmt: skip
    return raw, notes


def _lookup(frame, key: str, label_column: str, path) -> dict:
    """Key value -> raw label; DataError if one key has two different labels."""
    if key == "file":
        values = [file_stem(str(v)) for v in frame[key]]
    else:
        values = id_strings(frame[key])
    out = {}
    for value, label in zip(values, frame[label_column], strict=True):
        if value == "" or normalize_label(label) == "":
            continue
        if value in out and normalize_label(out[value]) != normalize_label(label):
            raise DataError(
                f"{key} {value} has two labels in {path} ({out[value]!r} and {label!r}); "
                "keep one row per star"
            )
        out.setdefault(value, label)
    return out
