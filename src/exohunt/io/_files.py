"""File helpers shared by the readers: existence checks, sniffing, and CSV reading."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import DataError

#: Columns read as text so that ids such as TOI "1000.10" keep their digits.
_TEXT_COLUMNS = ("toi", "toi_id", "kepoi_name", "pl_name", "hostname", "star_id", "file", "name")
#: What reading a truncated or corrupt gzip stream raises (BadGzipFile is an OSError).
READ_ERRORS = (OSError, EOFError, zlib.error)
#: The largest magnitude a number in the data may have. Nothing measured comes near it (in any
#: unit); beyond it the squares and sums of scaling overflow float64, so it is a corrupt or
#: sentinel value, refused like infinity.
MAX_ABS_VALUE = 1e100


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (library messages can span several)."""
    return " ".join(str(exc).split())


def printable(name) -> str:
    """``name`` for a one-line message: as it is, or quoted with escapes if it holds control
    characters (a line break in a column name would split the message)."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def check_path(path) -> Path:
    """``path`` as a Path; DataError if it does not exist or is an empty file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"no such file: {path} (check the path, or give an absolute path)")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"file is empty: {path} (0 bytes; re-download or re-export it)")
    return path


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_binary(path: Path):
    """Open ``path`` for reading bytes, decompressing gzip transparently."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def unreadable(path: Path, exc: BaseException) -> DataError:
    """The DataError for a file whose bytes cannot be read or decompressed."""
    return DataError(
        f"cannot read {path}: {one_line(exc)} (the file or its gzip stream is truncated or "
        "corrupt: download or export it again)"
    )


def not_utf8(path: Path, exc: UnicodeDecodeError) -> DataError:
    """The DataError for text that is not UTF-8."""
    return DataError(f"{path} is not UTF-8 text: {one_line(exc)} (re-save it with UTF-8 encoding)")


def head_bytes(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of the (decompressed) file; DataError if it holds nothing."""
    try:
        with open_binary(path) as handle:
            head = handle.read(size)
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
    if not head.strip():
        raise DataError(f"file is empty: {path} (no data inside; re-download or re-export it)")
    return head


def sniff(path: Path) -> str:
    """What ``path`` holds: "folder", "fits", "npz", "jsonl" or "csv" (from its content)."""
    if path.is_dir():
        return "folder"
    head = head_bytes(path)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(_as_seekable(path)):
        return "npz"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    return "csv"


def _as_seekable(path: Path):
    if not is_gzip(path):
        return path
    try:
        with gzip.open(path, "rb") as handle:
            return io.BytesIO(handle.read())
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc


def load_npz(path: Path) -> dict:
    """All arrays of an ``.npz`` archive (optionally gzipped), loaded without pickle.

    Raises DataError for a damaged archive and for arrays of Python objects, which only pickle
    can load (and pickle runs code from the file).
    """
    try:
        with np.load(_as_seekable(path), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path} holds arrays of Python objects, which exohunt does not load (loading "
                "them runs pickle); save numbers and fixed-width text only (numpy.savez of "
                "numeric or str arrays)"
            ) from exc
        raise _bad_npz(path, exc) from exc
    except (*READ_ERRORS, zipfile.BadZipFile, MemoryError) as exc:
        raise _bad_npz(path, exc) from exc


def _bad_npz(path: Path, exc: BaseException) -> DataError:
    reason = one_line(exc) or type(exc).__name__
    return DataError(
        f"cannot read {path} as a NumPy .npz archive: {reason} (re-create it with numpy.savez)"
    )


def _comment_lines(path: Path) -> int:
    """Number of leading lines that start with ``#`` (the NASA archive's header)."""
    count = 0
    try:
        with open_binary(path) as handle:
            for line in handle:
                if not line.startswith(b"#"):
                    break
                count += 1
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
    return count


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file (after any leading ``#`` lines)."""
    return _header(path, _comment_lines(path))


def _header(path: Path, skip: int) -> list[str]:
    """The column names on the first line that is not blank after ``skip`` lines. Read with the
    csv module: pandas takes seconds to build an empty frame of a very wide header."""
    try:
        with (
            open_binary(path) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            for number, line in enumerate(text):
                if number >= skip and line.strip():
                    return next(csv.reader([line]))
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc
    except csv.Error as exc:
        raise DataError(
            f"cannot parse the header of {path} as CSV: {one_line(exc)} (is it a "
            "comma-separated table?)"
        ) from exc
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
    raise DataError(f"file is empty: {path} (no header and no rows)")


def read_csv(path: Path, nrows: int | None = None, text_columns=(), **kwargs) -> pd.DataFrame:
    """Read a CSV (gzipped or not) whose leading ``#`` lines, if any, are skipped.

    Only leading lines are treated as comments, so a ``#`` inside a cell survives. Id columns and
    ``text_columns`` are read as text. Raises DataError if the file cannot be read or parsed (a
    truncated gzip stream, text that is not UTF-8), holds an infinite or absurdly large number
    (see :func:`check_table`), or (unless ``nrows=0``) has no data rows.
    """
    skip = _comment_lines(path)
    compression = "gzip" if is_gzip(path) else None
    text = set(_TEXT_COLUMNS) | set(text_columns)
    dtype = {c: str for c in _header(path, skip) if c in text}
    try:
        frame = pd.read_csv(
            path,
            skiprows=skip,
            nrows=nrows,
            compression=compression,
            dtype=dtype or None,
            low_memory=False,
            **kwargs,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file is empty: {path} (no header and no rows)") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"cannot parse {path} as CSV: {one_line(exc)} (is it a comma-separated table?)"
        ) from exc
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
    if nrows != 0 and frame.empty:
        raise DataError(f"file has no data rows: {path} (only a header; is it the right file?)")
    if nrows != 0:
        check_table(frame, path)
    return frame


def bad_numbers(values) -> np.ndarray:
    """Where ``values`` (floats) are infinite or larger in size than :data:`MAX_ABS_VALUE`.

    NaN is not flagged: it is a missing value."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.abs(values) > MAX_ABS_VALUE


def check_numbers(values, what: str) -> None:
    """DataError if ``values`` hold an infinite or absurdly large number; ``what`` names them
    (e.g. "the flux of data row 3 in PATH")."""
    bad = bad_numbers(values)
    if bad.any():
        first = np.asarray(values, dtype=float).ravel()[np.flatnonzero(bad.ravel())[0]]
        raise DataError(
            f"{what} holds {int(bad.sum())} infinite or absurdly large value(s) (first: "
            f"{first:g}; the limit is {MAX_ABS_VALUE:g}); fix the values, or write NaN where a "
            "value is missing"
        )


def check_table(frame: pd.DataFrame, source) -> None:
    """DataError naming the column and data row (1-based) of the first infinite or absurdly
    large number in ``frame``: a model cannot be fitted or applied with one. Text columns are
    checked as the features read them (``"inf"`` would become infinity)."""
    for i, column in enumerate(frame.columns):
        values = frame.iloc[:, i]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            numbers = np.array([_as_number(v) for v in values], dtype=float)
        bad = bad_numbers(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            shown = str(frame.iloc[row, i])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise DataError(
                f"column {str(column)!r} of {source} holds {int(bad.sum())} infinite or absurdly "
                f"large value(s) (first: {shown!r} in data row {row + 1}; the limit is "
                f"{MAX_ABS_VALUE:g}); fix them, or leave a cell empty for a missing value"
            )


def _as_number(value) -> float:
    """A text or object cell as features would read it: a number, or NaN for text."""
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        return float("inf")
    except (TypeError, ValueError):
        return float("nan")


def npz_keys(path: Path) -> list[str]:
    """The array names in an ``.npz`` archive, without loading the arrays."""
    try:
        with zipfile.ZipFile(_as_seekable(path)) as archive:
            return [name.removesuffix(".npy") for name in archive.namelist()]
    except (*READ_ERRORS, zipfile.BadZipFile) as exc:
        raise _bad_npz(path, exc) from exc
