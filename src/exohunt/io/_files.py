"""File helpers shared by the readers: existence checks, sniffing, and CSV reading."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import DataError

#: Columns read as text so that ids such as TOI "1000.10" keep their digits.
_TEXT_COLUMNS = ("toi", "toi_id", "kepoi_name", "pl_name", "hostname", "star_id", "file", "name")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (library messages can span several)."""
    return " ".join(str(exc).split())


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


def head_bytes(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of the (decompressed) file; DataError if it holds nothing."""
    try:
        with open_binary(path) as handle:
            head = handle.read(size)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {one_line(exc)} (is the file complete?)") from exc
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
    with gzip.open(path, "rb") as handle:
        return io.BytesIO(handle.read())


def load_npz(path: Path) -> dict:
    """All arrays of an ``.npz`` archive (optionally gzipped), loaded without pickle."""
    try:
        with np.load(_as_seekable(path), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot read {path} as a NumPy .npz archive: {one_line(exc)} (re-create it with numpy.savez)"
        ) from exc


def _comment_lines(path: Path) -> int:
    """Number of leading lines that start with ``#`` (the NASA archive's header)."""
    count = 0
    with open_binary(path) as handle:
        for line in handle:
            if not line.startswith(b"#"):
                break
            count += 1
    return count


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file (after any leading ``#`` lines)."""
    return list(read_csv(path, nrows=0).columns)


def read_csv(path: Path, nrows: int | None = None, text_columns=(), **kwargs) -> pd.DataFrame:
    """Read a CSV (gzipped or not) whose leading ``#`` lines, if any, are skipped.

    Only leading lines are treated as comments, so a ``#`` inside a cell survives. Id columns and
    ``text_columns`` are read as text. Raises
    DataError if the file cannot be parsed or (unless ``nrows=0``) has no data rows.
    """
    skip = _comment_lines(path)
    compression = "gzip" if is_gzip(path) else None
    try:
        header = pd.read_csv(path, skiprows=skip, nrows=0, compression=compression)
        text = set(_TEXT_COLUMNS) | set(text_columns)
        dtype = {c: str for c in header.columns if c in text}
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
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"cannot parse {path} as CSV: {one_line(exc)} (is it a comma-separated table?)"
        ) from exc
    if nrows != 0 and frame.empty:
        raise DataError(f"file has no data rows: {path} (only a header; is it the right file?)")
    return frame


def npz_keys(path: Path) -> list[str]:
    """The array names in an ``.npz`` archive, without loading the arrays."""
    with zipfile.ZipFile(_as_seekable(path)) as archive:
        return [name.removesuffix(".npy") for name in archive.namelist()]
