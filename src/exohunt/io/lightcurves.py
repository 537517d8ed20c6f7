"""Light-curve files: Kepler/TESS FITS, JSON Lines, and folders of them with a labels CSV.

FITS: the pipeline's systematics-corrected flux against ``TIME`` (days in the mission's BJD
offset: BKJD = BJD - 2454833 for Kepler, BTJD = BJD - 2457000 for TESS), keeping cadences with a
zero quality flag and finite time and flux: ``PDCSAP_FLUX`` of Kepler, K2 and TESS SPOC (2-minute
and FFI) files, and of the high-level products at MAST the column :data:`FLUX_COLUMNS` names (MIT
QLP, eleanor, TASOC, PATHOS, TGLC, K2SFF, EVEREST, lightkurve's own files); ``SAP_FLUX`` when there
is nothing else. Each file's flux is divided by its median (relative flux), and the files of one
star are stitched into one row sorted by time.

JSON Lines: one object per line with ``flux``, optional ``time`` [BJD offset], ``name`` (a file
name such as ``kplr000757450-...``, which gives the Kepler/TIC id) and ``label``. One row per
line; cadences whose time or flux is NaN are dropped. Infinite values are dropped with them
where there is a time, and refused where there is not (positions are cadences); a number beyond
:data:`~exohunt.io._files.MAX_ABS_VALUE` is refused in every format.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.dataset import Dataset
from exohunt.errors import DataError
from exohunt.io._files import READ_ERRORS, check_numbers, one_line, open_binary, unreadable
from exohunt.io.columns import DEFAULT_LABEL_COLUMN, GENERIC_MAPPING, star_id_from_name
from exohunt.io.labels import attach_labels, file_stem, find_labels_csv

logger = logging.getLogger(__name__)

LIGHTCURVE_SUFFIXES = (".fits", ".fits.gz", ".fit", ".jsonl", ".jsonl.gz")
_TIME_SYSTEMS = {2454833: "BKJD", 2457000: "BTJD"}
#: FITS primary-header keywords kept as table columns.
_HEADER_COLUMNS = {
    "TEFF": "stellar_temp",  # K
    "RADIUS": "stellar_radius",  # solar radii
    "KEPMAG": "kepmag",
    "TESSMAG": "tessmag",
}


#: Flux columns of light-curve FITS files, best first (matched without regard to case): the
#: systematics-corrected flux of each pipeline, as PDCSAP is for Kepler, K2 and TESS SPOC.
FLUX_COLUMNS = (
    "PDCSAP_FLUX",  # Kepler, K2, TESS SPOC 2-minute and FFI (TESS-SPOC), TESS data alerts
    "FLUX",  # EVEREST, lightkurve's LightCurve.to_fits, generic tables
    "DET_FLUX",  # MIT Quick-Look Pipeline (QLP), sector 56 on
    "KSPSAP_FLUX",  # QLP, sectors 1-55
    "CORR_FLUX",  # eleanor
    "FLUX_CORR",  # TASOC
    "PSF_FLUX_COR",  # PATHOS
    "CAL_PSF_FLUX",  # TGLC
    "FCOR",  # K2SFF
    "SAP_FLUX",  # simple aperture photometry, uncorrected: the last resort
)
#: Time columns (K2SFF names it T) and quality-flag columns (nonzero: a flagged cadence).
TIME_COLUMNS = ("TIME", "T")
QUALITY_COLUMNS = ("QUALITY", "SAP_QUALITY", "DQUALITY", "TESS_FLAGS")


@dataclass
class Curve:
    """One light curve (a FITS file, a JSONL line, or a stitched star) before it becomes a row."""

    star: str  # star id, e.g. "11442793"; "" if unknown
    id_column: str  # "kepid" or "tic_id" (or "name" when unknown)
    time: np.ndarray | None
    flux: np.ndarray
    files: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    label: object = None
    stitch: bool = False
    time_system: str | None = None
    dropped: int = 0  # cadences removed: quality-flagged, or NaN time/flux
    mission: str = ""  # Kepler, K2 or TESS: the MISSION (or TELESCOP) keyword of a FITS file
    flux_column: str = ""  # the FITS column the flux came from


def read_fits_file(path: Path) -> Curve:
    """One Kepler/TESS light-curve FITS file as a quality-filtered, median-normalised Curve.

    The flux is the first of :data:`FLUX_COLUMNS` the file has. Raises DataError for a file
    astropy cannot read (truncated, a broken header), without a time and a flux number column,
    without a usable cadence, or with an infinite or absurdly large kept value. astropy's
    warnings about a damaged file become part of that message, or exohunt warnings when the file
    is read all the same.
    """
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                primary, table = hdul[0].header, hdul[1] if len(hdul) > 1 else None
                names = table.columns.names if isinstance(table, fits.BinTableHDU) else []
                time_col = _column(names, TIME_COLUMNS)
                flux_col = _column(names, FLUX_COLUMNS)
                if time_col is None or flux_col is None:
                    raise DataError(
                        f"{path} is not a light-curve FITS file: no TIME and flux columns in "
                        f"extension 1 (one of {', '.join(FLUX_COLUMNS)}; give a Kepler, K2 or "
                        "TESS light curve, *_llc.fits or *_lc.fits)"
                    )
                time = _fits_numbers(table.data, time_col, path)
                flux = _fits_numbers(table.data, flux_col, path)
                quality_col = _column(names, QUALITY_COLUMNS)
                quality = np.zeros(len(time)) if quality_col is None else table.data[quality_col]
                quality = np.asarray(quality)
                header = table.header
                star, id_column = _fits_star(primary, path)
                meta = {new: _number(primary.get(key))
                        for key, new in _HEADER_COLUMNS.items() if key in primary}  # fmt: skip
                time_system, mission = _time_system(header), _mission(primary)
        except DataError:
            raise
        except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                fits.VerifyError) as exc:  # fmt: skip
            hint = f"; {_warning_text(caught[0])}" if caught else ""
            raise DataError(
                f"cannot read {path} as FITS: {one_line(exc) or type(exc).__name__}{hint} (is "
                "the file complete? download it again)"
            ) from exc
    for warning in caught:
        logger.warning("%s: %s", path.name, _warning_text(warning))
    if quality.shape != time.shape:
        raise DataError(f"the quality column of {path} has shape {quality.shape}, not {time.shape}")
    keep = (quality == 0) & np.isfinite(time) & np.isfinite(flux)
    if not keep.any():
        raise DataError(f"{path} has no usable cadences (all quality-flagged or NaN)")
    time, flux = time[keep], flux[keep]
    check_numbers(time, f"the TIME column of {path}")
    check_numbers(flux, f"the {flux_col} column of {path}")
    median = np.median(flux)
    if np.isfinite(median) and median != 0:
        flux = flux / median
    return Curve(
        star, id_column, time, flux, (path.name,), meta, stitch=True,
        time_system=time_system, dropped=int((~keep).sum()), mission=mission,
        flux_column=flux_col.upper(),
    )  # fmt: skip


def _column(names, wanted) -> str | None:
    """The first of ``wanted`` among ``names`` (without regard to case), as ``names`` spells it."""
    spelled = {str(n).upper(): n for n in names}
    return next((spelled[w] for w in wanted if w in spelled), None)


def _warning_text(warning) -> str:
    """An astropy warning on one short printable line (it may quote a garbled header card)."""
    text = "".join(c if c.isprintable() else "?" for c in one_line(warning.message))
    return text if len(text) <= 200 else text[:197] + "..."


def _fits_numbers(data, column: str, path: Path) -> np.ndarray:
    """A FITS table column as float64; DataError unless it holds one real number per row."""
    values = np.asarray(data[column])
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise DataError(
            f"column {column} of {path} holds {values.dtype} values of shape {values.shape}; "
            "expected one number per cadence (is it a Kepler/TESS light-curve file?)"
        )
    return values.astype(float)


def _mission(header) -> str:
    name = str(header.get("MISSION") or header.get("TELESCOP") or "").strip()
    return {"KEPLER": "Kepler", "K2": "K2", "TESS": "TESS"}.get(name.upper(), name)


def _fits_star(header, path: Path) -> tuple[str, str]:
    for key, column in (("KEPLERID", "kepid"), ("TICID", "tic_id"), ("TIC_ID", "tic_id")):
        value = header.get(key)
        if value in (None, ""):
            continue
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or len(text.lstrip("0")) > 18:
            raise DataError(
                f"{key} = {text[:40]!r} in the primary header of {path} is not a star id (a "
                f"whole number); fix or delete the card"
            )
        return str(int(text)), column
    star = star_id_from_name(path.name)
    if star is not None:
        return star, "tic_id" if path.name.startswith("tess") else "kepid"
    return file_stem(path.name), "name"


def _time_system(header) -> str | None:
    """E.g. ``"BKJD = BJD - 2454833 (TDB, SOLARSYSTEM)"`` from BJDREFI/BJDREFF/TIMESYS/TIMEREF."""
    ref = _number(header.get("BJDREFI")) + _number(header.get("BJDREFF", 0.0))
    if np.isnan(ref):
        return None
    name = _TIME_SYSTEMS.get(ref, "time")
    scale = ", ".join(str(header[k]) for k in ("TIMESYS", "TIMEREF") if header.get(k))
    return f"{name} = BJD - {ref:.10g}" + (f" ({scale})" if scale else "")


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_jsonl_file(path: Path) -> list[Curve]:
    """Each line of a JSON Lines file as a Curve; DataError naming a line that is not usable."""
    curves = []
    try:
        for number, line in _lines(path):
            try:
                record = json.loads(line)
                flux = _json_numbers(record["flux"])
                time = None if record.get("time") is None else _json_numbers(record["time"])
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"line {number} of {path} is not JSON: {one_line(exc)}") from exc
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise DataError(
                    f"line {number} of {path} needs a 'flux' list of numbers (and optionally "
                    f"'time', 'name', 'label'): {one_line(exc) or type(exc).__name__}"
                ) from exc
            if time is not None and time.shape != flux.shape:
                raise DataError(
                    f"line {number} of {path} has {time.size} time values but {flux.size} flux values"
                )
            if time is None:  # positions are cadences: NaN is a gap, infinity is corrupt
                check_numbers(flux, f"the flux of line {number} of {path}")
            name = str(record.get("name", ""))
            star = star_id_from_name(name) or ""
            id_column = "tic_id" if name.startswith("tess") else "kepid"
            meta = {"name": name} if name else {}
            curves.append(Curve(star, id_column, time, flux, (name,) if name else (), meta,
                                label=record.get("label")))  # fmt: skip
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
    if not curves:
        raise DataError(f"file has no data rows: {path} (no JSON lines)")
    for number, curve in enumerate(curves, start=1):
        if curve.time is not None:
            keep = np.isfinite(curve.time) & np.isfinite(curve.flux)
            curve.time, curve.flux = curve.time[keep], curve.flux[keep]
            curve.dropped = int((~keep).sum())
            check_numbers(curve.time, f"the time of light curve {number} in {path}")
            check_numbers(curve.flux, f"the flux of light curve {number} in {path}")
    return curves


def _lines(path: Path):
    """(line number, line) of each line of ``path`` that is not blank."""
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _json_numbers(values) -> np.ndarray:
    """A JSON list of numbers (``null`` for a gap) as a 1-D float array; ValueError otherwise."""
    if not isinstance(values, list):
        raise ValueError(f"expected a list of numbers, got {type(values).__name__}")
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if array.ndim != 1:
        raise ValueError(
            f"expected a flat list of numbers, got nested lists of shape {array.shape}"
        )
    return array


def stitch(curves: list[Curve]) -> list[Curve]:
    """Join the FITS curves of each star into one, sorted by time; other curves pass through."""
    by_star: dict = {}
    for i, curve in enumerate(curves):
        by_star.setdefault((curve.id_column, curve.star) if curve.stitch else i, []).append(curve)
    return [parts[0] if len(parts) == 1 else _join(parts) for parts in by_star.values()]


def _join(parts: list[Curve]) -> Curve:
    time = np.concatenate([c.time for c in parts])
    order = np.argsort(time, kind="stable")
    return replace(
        parts[0],
        time=time[order],
        flux=np.concatenate([c.flux for c in parts])[order],
        files=tuple(f for c in parts for f in c.files),
        dropped=sum(c.dropped for c in parts),
    )


def read_lightcurves(
    paths: list[Path],
    source: Path,
    format: str,
    labels: Path | None = None,
    label_column: str = DEFAULT_LABEL_COLUMN,
) -> Dataset:
    """Read light-curve files into one Dataset (one row per star for FITS, per line for JSONL).

    Labels come from ``labels`` (a CSV matched on a star-id or ``file`` column) or, without it,
    from the ``label`` of JSONL lines; FITS files alone are unlabelled.
    """
    from tqdm.auto import tqdm

    curves = []
    for path in tqdm(paths, desc="reading light curves", unit="file", disable=len(paths) < 50):
        is_fits = path.name.lower().endswith((".fits", ".fits.gz", ".fit"))
        curves.extend([read_fits_file(path)] if is_fits else read_jsonl_file(path))
    curves = stitch(curves)
    notes = [f"stitched {len(c.files)} files of star {c.star}: each divided by its median"
             for c in curves if c.stitch and len(c.files) > 1]  # fmt: skip
    for system in sorted({c.time_system for c in curves if c.time_system}):
        count = sum(c.time_system == system for c in curves)
        notes.append(f"time of {count} FITS light curve(s) is {system}")
    for column in sorted({c.flux_column for c in curves} - {"", "PDCSAP_FLUX"}):
        count = sum(c.flux_column == column for c in curves)
        notes.append(f"flux of {count} FITS light curve(s) from {column}")
    dropped = sum(c.dropped for c in curves)
    if dropped:
        notes.append(f"dropped {dropped} cadences with a nonzero quality flag or NaN time/flux")

    raw = [c.label for c in curves]
    if labels is not None:
        raw, label_notes = attach_labels(curves, labels, label_column)
        notes.extend(label_notes)
    has_labels = any(v is not None for v in raw)

    rows = []
    for curve, label in zip(curves, raw, strict=True):
        row = {}
        if curve.id_column != "name" and curve.star:
            row[curve.id_column] = int(curve.star)
        row.update(curve.meta)
        if curve.stitch:
            row["n_cadences"] = len(curve.flux)
        if has_labels:
            row["label"] = label
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("kepid", "tic_id"):
        if column in table and table[column].notna().all():
            table[column] = table[column].astype("int64")
    times = [c.time for c in curves]
    if any(t is None for t in times) and not all(t is None for t in times):
        raise DataError(f"some light curves in {source} have no time values (give time for all)")
    groups = [
        c.star or (file_stem(c.files[0]) if c.files else f"row-{i}") for i, c in enumerate(curves)
    ]
    logger.info("read %d light curves from %s", len(curves), source)
    return Dataset(
        table=table,
        groups=np.asarray(groups, dtype=str),
        format=format,
        source=str(source),
        raw_labels=table["label"] if has_labels else None,
        mapping=GENERIC_MAPPING if has_labels else None,
        label_column="label" if has_labels else None,
        id_columns=tuple(c for c in ("kepid", "tic_id", "name") if c in table.columns),
        time=None if times[0] is None else times,
        flux=[c.flux for c in curves],
        notes=tuple(notes),
    )


def read_folder(folder: Path, labels=None, label_column: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Every FITS/JSONL light curve under ``folder`` (recursively), labelled from a CSV.

    The labels CSV is ``labels`` or else the single ``*.csv``/``*.csv.gz`` directly in the folder.
    Raises DataError if the folder has no light-curve files or several CSVs and no ``labels``.
    """
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and _is_lightcurve(p))
    if not paths:
        raise DataError(
            f"no light-curve files (*.fits, *.fits.gz, *.jsonl) in {folder} (check the folder)"
        )
    labels = find_labels_csv(folder) if labels is None else Path(labels)
    return read_lightcurves(paths, folder, "lightcurve-folder", labels, label_column)


def _is_lightcurve(path: Path) -> bool:
    return path.name.lower().endswith(LIGHTCURVE_SUFFIXES)
